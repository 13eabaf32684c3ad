// `portcullis audit verify [--key FILE] [--continued] FILE...`: checks the audit hash chain
// across the files, in the order given (oldest rotated file first). Exit 0 when it holds, 1 with
// the first broken line on stderr, 2 on a usage or read error.
#pragma once

#include <iosfwd>

namespace portcullis::gateway::observe {

// argv[0] is "audit".
int audit_main(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace portcullis::gateway::observe
