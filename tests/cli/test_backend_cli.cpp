// The a1111 backend through the real binary: no endpoint answering is exit 2 before any work;
// a checkpoint named only by backend_name is identified by the hash the server reports.
#include <catch2/catch.hpp>

#include <cstdio>
#include <set>

#include <nlohmann/json.hpp>

#include "support.h"
#include "support/fake_webui.h"
#include "util/hash.h"

using namespace ghx;
using nlohmann::json;

namespace {

struct Result {
  int code;
  std::string out, err;
};

Result run_ghx(const test::TempDir& t, const std::string& args) {
  test::CommandResult r = test::run_command("cd " + t.path() + " && " + GHX_BINARY + " " + args + " 2>err.txt");
  return {r.code, r.out, test::read_text(t / "err.txt")};
}

void to_a1111(const test::TempDir& t, const std::string& endpoint) {
  std::string exp = test::read_text(t / "experiment.toml");
  exp.replace(exp.find("backend = \"synthetic\""), 21, "backend = \"a1111\"\nendpoints = [\"" + endpoint + "\"]");
  test::write_text(t / "experiment.toml", exp);
}

}  // namespace

TEST_CASE("run: no endpoint answers is exit 2 and nothing runs", "[cli][a1111]") {
  test::TempDir t;
  test::write_small_review(t.path());
  std::string dead_url;
  {
    test::FakeA1111 srv({{"alpha.safetensors", std::string(64, 'a')}});
    dead_url = srv.url();
  }  // stopped: its port refuses connections now
  to_a1111(t, dead_url);
  // backend_name-only checkpoints need the server already at plan time
  Result r = run_ghx(t, "run experiment.toml --connect-timeout 2 --json");
  CHECK(r.code == 2);
  CHECK(r.err.find("no generation endpoint answers") != std::string::npos);
  CHECK(r.out.empty());
}

TEST_CASE("backend_name checkpoints get the server's hash as identity", "[cli][a1111]") {
  test::TempDir t;
  test::write_small_review(t.path());
  std::string sha_a(64, '1'), sha_b(64, '2');
  test::FakeA1111 srv({{"alpha.safetensors", sha_a}, {"beta.safetensors", sha_b}});
  to_a1111(t, srv.url());
  Result plan = run_ghx(t, "plan experiment.toml --explain 0 --json");
  Result r = run_ghx(t, "run experiment.toml --json");
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(json::parse(r.out)["executed"].get<int>() > 0);
  json results = json::parse(test::read_text(t / "reports/small-v1/results.json"));
  std::set<std::string> ids;
  for (const auto& c : results["checkpoints"]) ids.insert(c["identity"].get<std::string>());
  CHECK(ids == std::set<std::string>{"sha256:" + sha_a, "sha256:" + sha_b});

  // --endpoint overrides the review's endpoints
  test::FakeA1111 other({{"alpha.safetensors", sha_a}, {"beta.safetensors", sha_b}});
  std::string exp = test::read_text(t / "experiment.toml");
  exp.replace(exp.find("seed = 7"), 8, "seed = 70");
  test::write_text(t / "experiment.toml", exp);
  Result r2 = run_ghx(t, "run experiment.toml --json --endpoint " + other.url());
  INFO(r2.err);
  CHECK(r2.code == 0);
  CHECK(other.txt2img_requests().size() > 0);

  // one value per use: --endpoint repeats, and the experiment after it stays the experiment
  std::string dead_url;
  {
    test::FakeA1111 gone({{"alpha.safetensors", sha_a}});
    dead_url = gone.url();
  }
  exp.replace(exp.find("seed = 70"), 9, "seed = 71");
  test::write_text(t / "experiment.toml", exp);
  const size_t before = other.txt2img_requests().size();
  Result r3 = run_ghx(t, "run --endpoint " + dead_url + " --endpoint " + other.url() + " experiment.toml --json --connect-timeout 2");
  INFO(r3.err);
  CHECK(r3.code == 0);
  CHECK(other.txt2img_requests().size() > before);  // the live one of the two did the work
}

TEST_CASE("a checkpoint the server does not have is an error at its line", "[cli][a1111]") {
  test::TempDir t;
  test::write_small_review(t.path());
  test::FakeA1111 srv({{"alpha.safetensors", std::string(64, 'a')}});
  to_a1111(t, srv.url());
  Result r = run_ghx(t, "plan experiment.toml");
  INFO(r.err);
  CHECK(r.code == 2);
  CHECK(r.err.find("experiment.toml:18:1: error: checkpoint 'beta': " + srv.url() + " has no model named 'beta.safetensors'") !=
        std::string::npos);
}

TEST_CASE("a checkpoint the server has not hashed yet: its full SHA-256 after loading it", "[cli][a1111]") {
  test::TempDir t;
  test::write_small_review(t.path());
  std::string sha_a(64, '3'), sha_b(64, '4');
  test::FakeA1111 srv({{"alpha.safetensors", sha_a}, {"beta.safetensors", sha_b}});
  REQUIRE(srv.set_unhashed("beta.safetensors"));  // listed with hash and sha256 null
  to_a1111(t, srv.url());
  Result plan = run_ghx(t, "plan experiment.toml --json");
  INFO(plan.err);
  REQUIRE(plan.code == 0);
  // ghx asked the server to load beta (A1111 hashes a file when it loads it), and no AutoV2 identity
  bool loaded_beta = false;
  for (const auto& o : srv.options_posts()) loaded_beta |= o.value("sd_model_checkpoint", "").find("beta") == 0;
  CHECK(loaded_beta);
  Result r = run_ghx(t, "run experiment.toml --json");
  INFO(r.err);
  REQUIRE(r.code == 0);
  json results = json::parse(test::read_text(t / "reports/small-v1/results.json"));
  std::set<std::string> ids;
  for (const auto& c : results["checkpoints"]) ids.insert(c["identity"].get<std::string>());
  CHECK(ids == std::set<std::string>{"sha256:" + sha_a, "sha256:" + sha_b});
  // the same checkpoint gets the same keys whether or not the server had hashed it before
  test::FakeA1111 hashed({{"alpha.safetensors", sha_a}, {"beta.safetensors", sha_b}});
  Result again = run_ghx(t, "run experiment.toml --json --endpoint " + hashed.url());
  INFO(again.err);
  CHECK(again.code == 0);
  CHECK(json::parse(again.out)["executed"].get<int>() == 0);
}
