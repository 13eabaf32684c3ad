// Http1Client: the upstream HTTP/1.1 engine (one request at a time per connection), sans-I/O.
//
// Thread:    one worker loop.
// Ownership: owned by the UpstreamConnection; points at (never owns) the Exchange in flight and
//            lets go once the response is complete or in UpstreamSide::on_downstream_abort.
// Created by make_http1_client() (client.h). Behaviour worth knowing:
//  - the request is always cleanly framed: Content-Length when known, else chunked;
//  - 1xx interim responses are skipped; 101 is a protocol error (we never ask to upgrade);
//  - a response that completes before the request body was fully sent ends the exchange but
//    makes the connection non-reusable; so do Connection: close and any parse error.
#pragma once

#include "gateway/http/client.h"
