// Watcher::start with tenants on demand: the first fingerprint is taken on a thread after start
// returns (after /readyz), and compared against what the loader saw. A file changed between the
// loader's read and that fingerprint, or while it runs, must still reload; nothing changed must
// reload nothing; a file's content is never read, its stat identity stands for it. On a real
// libuv loop and real files.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <uv.h>

#include "gateway/runtime/watcher.h"

namespace rt = portcullis::gateway::runtime;
namespace cfgns = portcullis::gateway::config;
using namespace std::chrono_literals;

namespace {

void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

cfgns::FileIdentity identity(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return cfgns::FileIdentity::of(st);
}

// Two tenants (a, b) on demand (max_tenant_contexts = 1): their files as the loader saw them.
struct Fixture {
  std::string dir;
  std::shared_ptr<cfgns::Config> cfg = std::make_shared<cfgns::Config>();
  std::vector<rt::Watcher::Seed> seeds;
  uv_loop_t loop{};
  std::vector<std::vector<std::string>> reloads;

  Fixture() {
    char tmpl[] = "/tmp/watcher_test.XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    REQUIRE(::mkdir((dir + "/tenants.d").c_str(), 0700) == 0);
    REQUIRE(::mkdir((dir + "/certs").c_str(), 0700) == 0);
    write(dir + "/gateway.toml", "[gateway]\n");
    cfg->file = dir + "/gateway.toml";
    cfg->gateway.tenants_dir = dir + "/tenants.d";
    cfg->limits.max_tenant_contexts = 1;
    for (const char* n : {"a", "b"}) {
      cfgns::TenantConfig t;
      t.name = n;
      t.file = dir + "/tenants.d/" + n + ".toml";
      t.cert = dir + "/certs/" + n + ".pem";
      t.key = dir + "/certs/" + n + ".key";
      write(t.file, std::string("name = \"") + n + "\"\n");
      write(t.cert, "cert\n");
      write(t.key, "key\n");
      t.file_id = identity(t.file);
      cfg->tenants.push_back(std::move(t));
    }
    for (const auto& t : std::as_const(cfg->tenants)) {  // pointers into the kept config
      seeds.push_back({&t.file, t.file_id});
      seeds.push_back({&t.cert, identity(t.cert)});
      seeds.push_back({&t.key, identity(t.key)});
    }
    uv_loop_init(&loop);
  }
  ~Fixture() {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    std::system(("rm -rf '" + dir + "'").c_str());
  }
  // Turns the loop for `d`.
  void run_for(std::chrono::milliseconds d) {
    const auto end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end) {
      uv_run(&loop, UV_RUN_NOWAIT);
      std::this_thread::sleep_for(2ms);
    }
  }
  bool reloaded(const std::string& path) const {
    return std::any_of(reloads.begin(), reloads.end(), [&](const std::vector<std::string>& r) {
      return std::find(r.begin(), r.end(), path) != r.end();
    });
  }
};

// Closes the watcher whichever way the test case ends (a failed REQUIRE throws): its open
// handles would keep the fixture's loop running forever.
// The close callbacks run before the watcher (which owns two of the handles) goes.
struct Closing {
  rt::Watcher& w;
  uv_loop_t* loop;
  ~Closing() {
    w.close();
    uv_run(loop, UV_RUN_DEFAULT);
  }
};

}  // namespace

TEST_CASE("watcher start: nothing changed since the loader read the files reloads nothing") {
  Fixture f;
  rt::Watcher w(&f.loop, [&](std::vector<std::string> c) { f.reloads.push_back(std::move(c)); });
  Closing closing{w, &f.loop};
  w.start(f.cfg->file, *f.cfg, f.seeds, f.cfg);
  f.run_for(1000ms);
  CHECK(f.reloads.empty());
}

TEST_CASE("watcher start: a file changed after the loader read it, before the first fingerprint") {
  Fixture f;
  // The loader saw the old bytes; these land before the watcher's thread looks (no event is
  // seen either: the directories are not watched yet).
  const std::string a = std::as_const(f.cfg->tenants)[0].file;
  const std::string bcert = std::as_const(f.cfg->tenants)[1].cert;
  write(a, "name = \"a\"\nhosts = [\"a.example\"]\n");
  write(bcert, "another certificate\n");
  rt::Watcher w(&f.loop, [&](std::vector<std::string> c) { f.reloads.push_back(std::move(c)); });
  Closing closing{w, &f.loop};
  w.start(f.cfg->file, *f.cfg, f.seeds, f.cfg);
  f.run_for(1500ms);
  REQUIRE(f.reloads.size() == 1);
  CHECK(f.reloaded(a));
  CHECK(f.reloaded(bcert));
  CHECK_FALSE(f.reloaded(std::as_const(f.cfg->tenants)[1].file));
}

TEST_CASE("watcher start: a file changed right after start, while the first fingerprint runs") {
  Fixture f;
  rt::Watcher w(&f.loop, [&](std::vector<std::string> c) { f.reloads.push_back(std::move(c)); });
  Closing closing{w, &f.loop};
  w.start(f.cfg->file, *f.cfg, f.seeds, f.cfg);
  const std::string bkey = std::as_const(f.cfg->tenants)[1].key;
  write(bkey, "a rotated key, longer\n");
  f.run_for(1500ms);
  REQUIRE_FALSE(f.reloads.empty());
  CHECK(f.reloaded(bkey));
  // And the watch goes on: a later change reloads again.
  const std::string b = std::as_const(f.cfg->tenants)[1].file;
  const std::size_t before = f.reloads.size();
  write(b, "name = \"b\"\nhosts = [\"b.example\"]\n");
  f.run_for(1500ms);
  CHECK(f.reloads.size() == before + 1);
  CHECK(f.reloaded(b));
}

TEST_CASE("watcher, tenants on demand: a file's stat identity is its content, never read") {
  // Reading 200,000 renewed certificates and keys on the main loop stalled it for 50 s at
  // 100,000 tenants: with tenants on demand a rewrite is a change even with the same bytes.
  Fixture f;
  rt::Watcher w(&f.loop, [&](std::vector<std::string> c) { f.reloads.push_back(std::move(c)); });
  Closing closing{w, &f.loop};
  w.start(f.cfg->file, *f.cfg, f.seeds, f.cfg);
  f.run_for(1000ms);
  REQUIRE(f.reloads.empty());
  const std::string acert = std::as_const(f.cfg->tenants)[0].cert;
  for (int i = 0; i < 2; ++i) {  // the second rewrite: a reader would find the bytes it knows
    write(acert, "cert\n");
    f.run_for(1000ms);
    REQUIRE(f.reloads.size() == static_cast<std::size_t>(i + 1));
    CHECK(f.reloads.back() == std::vector<std::string>{acert});
  }
}
