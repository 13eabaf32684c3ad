#include <catch2/catch.hpp>

#include "tls/client_hello.h"

using portcullis::tls::HelloParse;

TEST_CASE("HTTP bytes are not TLS") {
  CHECK(portcullis::tls::parse_client_hello("GET / HTTP/1.1\r\n").result == HelloParse::not_tls);
}
