#include "gateway/admin/dashboard.h"

namespace portcullis::gateway::admin {
namespace {

// Element ids and data-* attributes are what tests/integration/test_dashboard.py reads.
constexpr std::string_view kHtml = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Portcullis</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:24px;align-items:baseline}
header h1{font-size:18px;margin:0}header span{opacity:.8}
main{padding:16px 20px;display:grid;gap:16px}
section{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:10px 14px}
h2{font-size:15px;margin:4px 0 8px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-top:1px solid #eef0f4;vertical-align:top}
th{font-weight:600;color:#555;border-top:none}
.ok{color:#137333}.warn{color:#b06000}.bad{color:#c5221f}
.dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:5px}
.dot.ok{background:#1e8e3e}.dot.bad{background:#d93025}.dot.unknown{background:#9aa0a6}
code{font-size:12px}#error{color:#c5221f}
</style></head>
<body>
<header><h1>Portcullis</h1>
<span>generation <b id="generation">-</b></span>
<span>requests <b id="requests-total">0</b></span>
<span>req/s <b id="requests-rate">0</b></span>
<span>open connections <b id="connections">0</b></span>
<span id="updated"></span><span id="error"></span></header>
<main>
<section id="login" hidden><h2>Admin token</h2>
<form id="login-form"><input id="token" type="password" autocomplete="off" size="48"
 placeholder="the content of [admin] token_file"> <button>Open</button></form></section>
<section><h2>Tenants</h2><table id="tenants"><thead><tr><th>tenant</th><th>hosts</th>
<th>certificate expires</th><th>state</th><th>requests</th><th>req/s</th><th>5xx/s</th></tr></thead><tbody></tbody></table></section>
<section><h2>Routes, clusters and endpoints</h2><table id="routes"><thead><tr><th>tenant</th><th>route</th>
<th>cluster</th><th>upstream identity</th><th>endpoints</th></tr></thead><tbody></tbody></table></section>
<section><h2>Latest audit denials</h2><table id="denials"><thead><tr><th>time</th><th>event</th><th>reason</th>
<th>subject</th></tr></thead><tbody></tbody></table></section>
</main>
<script>
"use strict";
const esc = s => String(s).replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;","'":"&#39;"}[c]));
function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\(.)/g, "$1");
    out.push({name: m[1], labels, value: parseFloat(m[4])});
  }
  return out;
}
const sum = (ms, name, pred) => ms.filter(s => s.name === name && (!pred || pred(s.labels))).reduce((a, s) => a + s.value, 0);
let prev = null;
// [admin] token_file: the token is typed into the form once and kept in this tab's
// sessionStorage (never in the URL, so not in history, logs or Referer), sent as a bearer token.
const tokenKey = "portcullis-admin-token";
let locked = false;
class Unauthorized extends Error {}
async function get(path) {
  const t = sessionStorage.getItem(tokenKey);
  const r = await fetch(path, {cache: "no-store", headers: t ? {Authorization: "Bearer " + t} : {}});
  if (r.status === 401) throw new Unauthorized(path);
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r;
}
document.getElementById("login-form").addEventListener("submit", ev => {
  ev.preventDefault();
  sessionStorage.setItem(tokenKey, document.getElementById("token").value.trim());
  document.getElementById("token").value = "";
  locked = false;
  document.getElementById("login").hidden = true;
  refresh();
});
async function refresh() {
  if (locked) return;
  try {
    const [cfg, text, denials] = await Promise.all([
      get("/config").then(r => r.json()), get("/metrics").then(r => r.text()),
      get("/audit/denials").then(r => r.json())]);
    const ms = parseMetrics(text);
    const now = Date.now();
    const dt = prev ? (now - prev.time) / 1000 : 0;
    const total = sum(ms, "portcullis_requests_total");
    const rate = (cur, old) => dt > 0 && old !== undefined ? Math.max(0, (cur - old) / dt) : 0;
    document.getElementById("generation").textContent = cfg.generation ?? "-";
    document.getElementById("requests-total").textContent = total;
    document.getElementById("requests-rate").textContent = rate(total, prev && prev.total).toFixed(1);
    document.getElementById("connections").textContent = sum(ms, "portcullis_downstream_connections");
    const counts = {};
    let rows = "";
    for (const t of cfg.tenants || []) {
      const req = sum(ms, "portcullis_requests_total", l => l.tenant === t.name);
      const err = sum(ms, "portcullis_requests_total", l => l.tenant === t.name && /^5/.test(l.code || ""));
      counts[t.name] = {req, err};
      const exp = ms.find(s => s.name === "portcullis_certificate_expiry_seconds" && s.labels.certificate === "tenant:" + t.name);
      const days = exp ? exp.value / 86400 : null;
      const state = days === null ? "unknown" : days <= 0 ? "expired" : days < 14 ? "expiring" : "ok";
      const cls = state === "ok" ? "ok" : state === "expiring" ? "warn" : "bad";
      const p = prev && prev.counts[t.name];
      rows += `<tr data-tenant="${esc(t.name)}"><td>${esc(t.name)}</td><td>${esc((t.hosts || []).join(", "))}</td>` +
        `<td class="expiry" data-days="${days === null ? "" : Math.floor(days)}">${days === null ? "-" : Math.floor(days) + " days"}</td>` +
        `<td class="state ${cls}">${state}</td><td class="requests">${req}</td>` +
        `<td class="rate">${rate(req, p && p.req).toFixed(1)}</td><td class="errors">${rate(err, p && p.err).toFixed(1)}</td></tr>`;
    }
    document.querySelector("#tenants tbody").innerHTML = rows;
    rows = "";
    for (const t of cfg.tenants || []) {
      for (const r of t.routes || []) {
        const c = (t.clusters || []).find(c => c.name === r.cluster);
        const eps = c ? c.endpoints.map(e => {
          const h = ms.find(s => s.name === "portcullis_upstream_healthy" && s.labels.tenant === t.name && s.labels.cluster === c.name && s.labels.endpoint === e);
          const st = h === undefined ? "unknown" : h.value > 0 ? "ok" : "bad";
          return `<span class="endpoint" data-endpoint="${esc(e)}" data-health="${st}"><span class="dot ${st}"></span>${esc(e)}</span>`;
        }).join("<br>") : "";
        const route = r.path_prefix !== undefined ? r.path_prefix + "*" : r.path;
        const id = c ? (c.plaintext ? "plaintext" : c.identity || "dns:" + c.server_name) : "";
        rows += `<tr data-tenant="${esc(t.name)}" data-cluster="${esc(r.cluster || "")}"><td>${esc(t.name)}</td><td><code>${esc(route)}</code></td>` +
          `<td>${esc(r.cluster || (r.direct_response ? "direct response" : ""))}</td><td><code>${esc(id)}</code></td><td>${eps}</td></tr>`;
      }
    }
    document.querySelector("#routes tbody").innerHTML = rows;
    rows = "";
    for (const d of denials) {
      const subject = ["tenant", "source", "destination", "identity", "detail"].filter(k => d[k]).map(k => `${k}: ${esc(d[k])}`).join("<br>");
      rows += `<tr class="denial" data-event="${esc(d.event)}"><td>${esc(d.time)}</td><td>${esc(d.event)}</td><td>${esc(d.reason)}</td><td>${subject}</td></tr>`;
    }
    document.querySelector("#denials tbody").innerHTML = rows;
    prev = {time: now, total, counts};
    document.getElementById("updated").textContent = "updated " + new Date(now).toLocaleTimeString();
    document.getElementById("error").textContent = "";
    document.body.dataset.loaded = "1";
  } catch (e) {
    if (e instanceof Unauthorized) {
      locked = true;
      sessionStorage.removeItem(tokenKey);
      document.getElementById("login").hidden = false;
      document.getElementById("error").textContent = "token required";
      return;
    }
    document.getElementById("error").textContent = "refresh failed: " + e;
  }
}
refresh();
setInterval(refresh, 2000);
</script></body></html>
)HTML";

}  // namespace

std::string_view dashboard_html() noexcept { return kHtml; }

}  // namespace portcullis::gateway::admin
