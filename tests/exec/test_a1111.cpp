// The a1111 backend end to end against the fake server (tests/support/fake_webui.h): exactly the
// planned images, seeds and infotext; retries; the wrong-model trap; dead endpoints.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "cache/cache.h"
#include "dsl/loader.h"
#include "exec/infotext.h"
#include "exec/runner.h"
#include "plan/plan.h"
#include "support.h"
#include "support/backend_run.h"
#include "support/fake_webui.h"
#include "util/hash.h"
#include "util/png.h"
#include "util/png_text.h"

using namespace ghx;
using nlohmann::json;

namespace {

struct Review {
  test::TempDir dir;
  std::string exp;
  std::string sha_a, sha_b;
};

/// Two checkpoint files (so their SHA-256 is known), 2 prompts x 4 images (batch 2 x n_iter 2).
void write_review(Review& r, const std::vector<std::string>& endpoints) {
  r.exp = test::write_backend_review(r.dir.path(), "backend = \"a1111\"\nendpoints = " + test::toml_strings(endpoints), 2);
  r.sha_a = util::sha256_hex("checkpoint A bytes");
  r.sha_b = util::sha256_hex("checkpoint B bytes");
}

using Ran = test::RanReview;
Ran run(Review& r, exec::BackendOptions opts = {}) { return test::run_review(r.exp, r.dir / "cache", opts); }
auto images(Review& r, const plan::Plan& p) { return test::stored_images(r.dir / "cache", p); }

}  // namespace

TEST_CASE("a1111: exactly the planned images, seeds, models and infotext", "[a1111]") {
  Review r;
  // the fake reports the hashes we give it: make them the files' real SHA-256
  test::FakeA1111 srv({{"a.safetensors", util::sha256_hex("checkpoint A bytes")},
                       {"b.safetensors", util::sha256_hex("checkpoint B bytes")}});
  write_review(r, {srv.url()});
  Ran ran = run(r);
  CHECK(ran.sum.failed == 0);
  // 2 checkpoints x 1 prompt x 4 images, batch_size 2: 4 requests of 2 images
  auto reqs = srv.txt2img_requests();
  REQUIRE(reqs.size() == 4);
  std::multiset<std::pair<std::string, int64_t>> asked;
  for (const auto& q : reqs) {
    CHECK(q["batch_size"] == 2);
    CHECK(q["n_iter"] == 1);
    CHECK(q["steps"] == 30);
    CHECK(q["width"] == 32);
    asked.insert({q["override_settings"]["sd_model_checkpoint"].get<std::string>(), q["seed"].get<int64_t>()});
  }
  CHECK(asked == std::multiset<std::pair<std::string, int64_t>>{
                     {"a.safetensors", 7}, {"a.safetensors", 9}, {"b.safetensors", 7}, {"b.safetensors", 9}});
  auto imgs = images(r, ran.plan);
  REQUIRE(imgs.size() == 8);
  for (const auto& [k, png] : imgs) {
    const std::string& sha = k.first.substr(7);
    int64_t seed = std::stoll(k.second);
    cv::Mat got = util::decode_image(png, "stored");
    cv::Mat want = test::fake_render(sha.substr(0, 10), "anime girl", seed, 32, 32);
    CHECK(cv::norm(got, want, cv::NORM_INF) == 0);  // the very pixels the server made for that seed
    auto text = exec::Infotext::parse(util::png_text_chunks(png, "stored").at("parameters"));
    REQUIRE(text);
    CHECK(text->seed() == seed);
    CHECK(text->model_hash() == sha.substr(0, 10));
  }
  // provenance: the request and the answer are kept beside each image
  auto cache = cache::Cache::open(r.dir / "cache");
  for (const auto& s : ran.plan.steps) {
    if (s.kind != plan::StepKind::generate) continue;
    json meta = json::parse(cache->record(s.key)->meta);
    CHECK(meta["endpoint"] == srv.url());
    CHECK(meta["answer"]["seed"].get<int64_t>() == std::stoll(s.param("seed")));
    CHECK(meta["request"]["prompt"] == "anime girl");
  }
  // a second run asks the server nothing
  Ran again = run(r);
  CHECK(again.sum.executed == 0);
  CHECK(srv.txt2img_requests().size() == 4);
}

TEST_CASE("a1111: 5xx and dropped connections are retried", "[a1111]") {
  Review r;
  test::FakeA1111 srv({{"a.safetensors", util::sha256_hex("checkpoint A bytes")},
                       {"b.safetensors", util::sha256_hex("checkpoint B bytes")}});
  write_review(r, {srv.url()});
  srv.faults().fail_next(2, 500);
  srv.faults().drop_next(1);
  Ran ran = run(r);
  CHECK(ran.sum.failed == 0);
  CHECK(images(r, ran.plan).size() == 8);
  CHECK(srv.txt2img_requests().size() == 4 + 3);
}

TEST_CASE("a1111: a server using another model fails exactly those steps", "[a1111]") {
  Review r;
  // b is unknown to the server: A1111 silently keeps the loaded model (a) for those requests
  test::FakeA1111 srv({{"a.safetensors", util::sha256_hex("checkpoint A bytes")}});
  write_review(r, {srv.url()});
  Ran ran = run(r);
  CHECK(ran.sum.failed == 4);  // b's four images
  for (const auto& f : ran.sum.failures) {
    CHECK(f.error.find("not the requested b.safetensors") != std::string::npos);
    CHECK(f.error.find(util::sha256_hex("checkpoint B bytes").substr(0, 10)) != std::string::npos);
  }
  auto imgs = images(r, ran.plan);
  CHECK(imgs.size() == 4);  // a's images are kept
  for (const auto& [k, png] : imgs) CHECK(k.first == "sha256:" + util::sha256_hex("checkpoint A bytes"));
}

TEST_CASE("a1111: images without infotext get it written", "[a1111]") {
  Review r;
  test::FakeA1111 srv({{"a.safetensors", util::sha256_hex("checkpoint A bytes")},
                       {"b.safetensors", util::sha256_hex("checkpoint B bytes")}});
  srv.faults().set_omit_infotext(true);
  write_review(r, {srv.url()});
  Ran ran = run(r);
  CHECK(ran.sum.failed == 0);
  for (const auto& [k, png] : images(r, ran.plan)) {
    auto text = exec::Infotext::parse(util::png_text_chunks(png, "stored").at("parameters"));
    REQUIRE(text);
    CHECK(text->seed() == std::stoll(k.second));
  }
}

TEST_CASE("a1111: a server that dies mid-run: the other endpoint goes on, nothing is lost", "[a1111]") {
  Review r;
  std::vector<test::FakeCheckpoint> cps = {{"a.safetensors", util::sha256_hex("checkpoint A bytes")},
                                           {"b.safetensors", util::sha256_hex("checkpoint B bytes")}};
  test::FakeA1111 one(cps), two(cps);
  one.faults().die_after(1);
  write_review(r, {one.url(), two.url()});
  Ran ran = run(r);
  CHECK(ran.sum.failed == 0);
  CHECK(images(r, ran.plan).size() == 8);
  CHECK(one.txt2img_requests().size() + two.txt2img_requests().size() >= 4);
  CHECK(two.txt2img_requests().size() >= 2);
}

TEST_CASE("a1111: every endpoint dead: the steps fail with the reason, finished ones stay", "[a1111]") {
  Review r;
  std::vector<test::FakeCheckpoint> cps = {{"a.safetensors", util::sha256_hex("checkpoint A bytes")},
                                           {"b.safetensors", util::sha256_hex("checkpoint B bytes")}};
  test::FakeA1111 srv(cps);
  srv.faults().die_after(2);
  write_review(r, {srv.url()});
  exec::BackendOptions o;
  o.retries = 2;
  Ran ran = run(r, o);
  CHECK(ran.sum.failed > 0);
  CHECK(images(r, ran.plan).size() == 4);  // the two answered requests were kept
  srv.stop();
  test::FakeA1111 back(cps);
  write_review(r, {back.url()});
  Ran rerun = run(r);
  CHECK(rerun.sum.failed == 0);
  CHECK(back.txt2img_requests().size() == 2);  // only what was missing
}
