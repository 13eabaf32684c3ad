#include "gateway/config/limits_table.h"

#include <algorithm>
#include <array>

namespace portcullis::gateway::config {

namespace {

using K = LimitKind;
constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;
constexpr std::uint64_t kU32 = 4294967295ULL;
constexpr std::uint64_t kMaxWindow = 2147483647;  // 2^31-1, HTTP/2's largest window (RFC 9113)
constexpr std::uint64_t kSecond = 1000;

// clang-format off
constexpr std::array kRows{
  LimitRow{"h2_max_concurrent_streams", K::count, 100, 1, kMaxWindow,
           &Limits::h2_max_concurrent_streams, "REFUSED_STREAM past it"},
  LimitRow{"h2_stream_window", K::size, 64 * KiB, 1, kMaxWindow, &Limits::h2_stream_window,
           "per-stream flow control towards clients; the window opens only as the upstream takes "
           "the bytes"},
  LimitRow{"h2_connection_window", K::size, 1 * MiB, 65535, kMaxWindow,
           &Limits::h2_connection_window, "the same for the whole client connection"},
  LimitRow{"max_request_headers", K::size, 64 * KiB, 1024, 64 * MiB,
           &Limits::max_request_headers, "431"},
  LimitRow{"max_header_count", K::count, 100, 1, 100000, &Limits::max_header_count, "431"},
  LimitRow{"header_timeout", K::duration, 10 * kSecond, 1, kNoUpperBound, &Limits::header_timeout,
           "from a request's first byte to its complete head: 408 and close (HTTP/2: from a "
           "stream's HEADERS to the end of its header block, then GOAWAY; the preface, SETTINGS "
           "and PINGs of an idle HTTP/2 connection start no deadline, `idle_timeout` bounds it)"},
  LimitRow{"tls_handshake_timeout", K::duration, 10 * kSecond, 1, kNoUpperBound,
           &Limits::tls_handshake_timeout, "also the PROXY header deadline"},
  LimitRow{"idle_timeout", K::duration, 60 * kSecond, 1, kNoUpperBound, &Limits::idle_timeout,
           "a connection with nothing in flight closes "
           "(`portcullis_downstream_closes_total{reason=\"idle_timeout\"}`)"},
  LimitRow{"max_requests_per_connection", K::count, 1000, 1, kU32,
           &Limits::max_requests_per_connection, "`Connection: close` / GOAWAY"},
  LimitRow{"buffer_per_direction", K::size, 64 * KiB, 1024, 1024 * MiB,
           &Limits::buffer_per_direction,
           "per-connection write backlog (client, upstream and tunnel sockets; the CONNECT head "
           "and ClientHello) before reads on the other side stop"},
  LimitRow{"max_connections_per_listener", K::count, 100000, 1, kU32,
           &Limits::max_connections_per_listener,
           "new connections closed (`listener_connection_limit`); bounded in practice by the "
           "descriptor limit (below)"},
  LimitRow{"max_connections_per_ip", K::count, 0, 0, kU32, &Limits::max_connections_per_ip,
           "per client address after PROXY protocol (`ip_connection_limit`)"},
  LimitRow{"max_connections_per_tenant", K::count, 0, 0, kU32,
           &Limits::max_connections_per_tenant, "after the handshake (`tenant_connection_limit`)"},
  LimitRow{"h2_header_table_size", K::size, 4096, 0, 1 * MiB, &Limits::h2_header_table_size,
           "the HPACK table a client may make us keep (SETTINGS_HEADER_TABLE_SIZE)"},
  LimitRow{"h2_max_continuations", K::count, 8, 0, 1000, &Limits::h2_max_continuations,
           "CONTINUATION frames per header block: GOAWAY ENHANCE_YOUR_CALM (`h2_flood`)"},
  LimitRow{"h2_max_settings", K::count, 32, 8, 1000, &Limits::h2_max_settings,
           "entries in one SETTINGS frame: GOAWAY and close (counted once per connection)"},
  LimitRow{"h2_max_outbound_control_frames", K::count, 1000, 10, 100000,
           &Limits::h2_max_outbound_control_frames,
           "queued PING/SETTINGS ACKs of a client that never reads: close (`h2_flood`)"},
  LimitRow{"h2_max_client_resets", K::count, 1000, 1, kU32, &Limits::h2_max_client_resets,
           "RST_STREAM from the client (Rapid Reset): GOAWAY ENHANCE_YOUR_CALM (`h2_flood`)"},
  LimitRow{"h2_max_server_resets", K::count, 1000, 1, kU32, &Limits::h2_max_server_resets,
           "resets the gateway had to send (MadeYouReset): GOAWAY ENHANCE_YOUR_CALM (`h2_flood`)"},
  LimitRow{"upstream_h2_stream_window", K::size, 64 * KiB, 1, kMaxWindow,
           &Limits::upstream_h2_stream_window,
           "per-stream window the gateway advertises to HTTP/2 upstreams"},
  LimitRow{"upstream_h2_connection_window", K::size, 1 * MiB, 65535, kMaxWindow,
           &Limits::upstream_h2_connection_window,
           "the same for the whole upstream connection"},
  LimitRow{"upstream_h2_max_outbound_control_frames", K::count, 1000, 10, 100000,
           &Limits::upstream_h2_max_outbound_control_frames,
           "queued SETTINGS/PING ACKs to an upstream that never reads: close it"},
  LimitRow{"max_upstream_connections", K::count, 1024, 1, kU32,
           &Limits::max_upstream_connections,
           "open and dialling connections per cluster (or egress entry) and worker; requests "
           "wait for one"},
  LimitRow{"max_pending_requests", K::count, 1024, 0, kU32, &Limits::max_pending_requests,
           "requests waiting for an upstream connection per cluster and worker: 503 past it "
           "(`upstream_overflow`)"},
  LimitRow{"request_body_timeout", K::duration, 60 * kSecond, 1, kNoUpperBound,
           &Limits::request_body_timeout,
           "a request body must be complete this long after the request went upstream: 408 "
           "(`request_body_timeout`)"},
  LimitRow{"memory_budget", K::memory, Limits::kMemoryBudgetAuto, 16 * MiB, 1ULL << 50,
           &Limits::memory_budget,
           "memory in use past which new requests get 503 (`memory_budget`) until it is back "
           "under 90% of the budget; `\"auto\"` = 90% of the cgroup limit or of RAM, `\"off\"`, "
           "or a size (≥ 16 MiB)"},
  LimitRow{"client_requests_per_second", K::count, 0, 0, kU32,
           &Limits::client_requests_per_second,
           "requests per second from one client address (the PROXY-protocol one), per worker: "
           "429 with Retry-After past it (`rate_limited`); 0 = off"},
  LimitRow{"client_request_burst", K::count, 0, 0, kU32, &Limits::client_request_burst,
           "requests one client address may send at once above that rate; 0 = the rate"},
  LimitRow{"tenant_upgraded_connections", K::count, 0, 0, kU32,
           &Limits::tenant_upgraded_connections,
           "open WebSockets per tenant (all workers): 503 past it "
           "(`upgraded_connection_limit`); 0 = no cap"},
  LimitRow{"max_tenant_contexts", K::count, 10000, 0, kU32, &Limits::max_tenant_contexts,
           "tenant TLS contexts kept in memory; with more tenants than this, each is built at its "
           "first handshake and the least recently used are dropped; 0 = no cap (all built at "
           "start)"},
  LimitRow{"max_request_body", K::size, 0, 0, 1ULL << 50, &Limits::max_request_body,
           "bytes in one request body (Content-Length, chunked or HTTP/2 DATA): 413 "
           "(`request_body_too_large`); 0 = no limit"},
};
// clang-format on

}  // namespace

Limits::Limits() noexcept {
  for (const LimitRow& row : kRows) {
    set_limit(*this, row, row.def);
  }
}

std::span<const LimitRow> limit_rows() noexcept { return kRows; }

const LimitRow* find_limit(std::string_view key) noexcept {
  const auto* it = std::find_if(kRows.begin(), kRows.end(),
                                [&](const LimitRow& r) { return r.key == key; });
  return it == kRows.end() ? nullptr : &*it;
}

std::uint64_t get_limit(const Limits& l, const LimitRow& row) noexcept {
  return std::visit(
      [&](auto m) -> std::uint64_t {
        if constexpr (std::is_same_v<decltype(m), Millis Limits::*>) {
          return static_cast<std::uint64_t>((l.*m).count());
        } else {
          return static_cast<std::uint64_t>(l.*m);
        }
      },
      row.member);
}

void set_limit(Limits& l, const LimitRow& row, std::uint64_t v) noexcept {
  std::visit(
      [&](auto m) {
        if constexpr (std::is_same_v<decltype(m), Millis Limits::*>) {
          l.*m = Millis{static_cast<Millis::rep>(v)};
        } else {
          using T = std::remove_reference_t<decltype(l.*m)>;
          l.*m = static_cast<T>(v);  // in range: the row's bounds fit the member's type
        }
      },
      row.member);
}

std::string format_limit(const LimitRow& row, std::uint64_t v) {
  const std::string n = std::to_string(v);
  switch (row.kind) {
    case K::count:
      return v == 0 ? "0 (off)" : n;
    case K::size:
    case K::memory:
      if (row.kind == K::memory && v == Limits::kMemoryBudgetAuto) {
        return "`\"auto\"`";
      }
      if (row.kind == K::memory && v == 0) {
        return "`\"off\"`";
      }
      if (v != 0 && v % MiB == 0) {
        return std::to_string(v / MiB) + " MiB";
      }
      if (v != 0 && v % KiB == 0) {
        return std::to_string(v / KiB) + " KiB";
      }
      return n;
    case K::duration:
      return v % kSecond == 0 ? std::to_string(v / kSecond) + "s" : n + "ms";
  }
  return n;
}

std::string limit_bounds(const LimitRow& row) {
  const std::string unit = row.kind == K::count ? "" : row.kind == K::duration ? "ms" : " bytes";
  if (row.hi == kNoUpperBound) {
    return "at least " + std::to_string(row.lo) + unit;
  }
  return std::to_string(row.lo) + " to " + std::to_string(row.hi) + unit;
}

std::string limits_markdown() {
  std::string s = "| key | default | reaction |\n|---|---|---|\n";
  for (const LimitRow& row : kRows) {
    s += "| `" + std::string(row.key) + "` | " + format_limit(row, row.def) + " | " +
         std::string(row.doc) + " |\n";
  }
  return s;
}

}  // namespace portcullis::gateway::config
