// `portcullis explain`: what the gateway would do with one request, from the configuration
// alone, through the code the gateway runs (load_snapshot, the SNI table and the listener's
// unknown_sni fallback, route_request, EgressPolicy::decide, parse_destination).
//
//   ingress: portcullis explain -c FILE --sni NAME --host NAME --path PATH [--listener NAME]
//   egress:  portcullis explain -c FILE --identity SPIFFE_ID --destination HOST[:PORT]
//            (--source is an alias of --identity)
//
// Output: "key: value" lines, the first "decision: forward|reply|refuse|allow|deny". Exit 0
// when explained (whatever the decision), 1 when the configuration does not load, 2 on usage.
// Thread: the CLI's main thread.
#pragma once

#include <iosfwd>

namespace portcullis::gateway::runtime {

// argv[0] is "explain".
int explain_main(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace portcullis::gateway::runtime
