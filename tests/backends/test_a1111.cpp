// The a1111 backend end to end against the fake server (tests/support/fake_webui.h): exactly the
// planned images, seeds and infotext; retries; the wrong-model trap; dead endpoints.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "cache/cache.h"
#include "dsl/loader.h"
#include "backends/a1111.h"
#include "backends/infotext.h"
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
Ran run(Review& r, backends::BackendOptions opts = {}) { return test::run_review(r.exp, r.dir / "cache", opts); }
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
    auto text = backends::Infotext::parse(util::png_text_chunks(png, "stored").at("parameters"));
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
    auto text = backends::Infotext::parse(util::png_text_chunks(png, "stored").at("parameters"));
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
  backends::BackendOptions o;
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

TEST_CASE("a1111: LoRA use is checked against the image's Lora hashes", "[a1111][lora]") {
  test::TempDir t;
  const std::string want = test::write_lora_file(t / "detail.safetensors", "detail lora weights");
  CHECK(backends::a1111_lora_hash(t / "detail.safetensors").lora == want);
  test::write_text(t / "detail.pt", "pickled weights");
  CHECK(backends::a1111_lora_hash(t / "detail.pt").lora == util::sha256_hex("pickled weights").substr(0, 12));  // whole file

  plan::Step s;
  s.kind = plan::StepKind::generate;
  s.params = {{"prompt", "a <lora:detail:0.6>, <lora:a,b:1> <LoRA:ignored:1>"}};
  s.context = {{"lora.file", std::string("detail") + plan::k_field_sep + (t / "detail.safetensors")}};
  int hashed = 0;
  auto file_hash = [&](const std::string& f) {
    ++hashed;
    return backends::a1111_lora_hash(f).lora;
  };
  std::vector<std::map<std::string, std::string>> checked;
  const std::string ok = "a <lora:detail:0.6>, <lora:a,b:1>\nSteps: 20, Seed: 1, Lora hashes: \"detail: " + want +
                         ", ab: 0123456789ab\", Version: v1";
  CHECK(backends::a1111_check_loras(s, ok, file_hash, &checked) == "");
  REQUIRE(checked.size() == 2);
  CHECK(checked[0].at("name") == "detail");
  CHECK(checked[0].at("verified") == "LoRA hash of the review's file");
  CHECK(checked[1].at("name") == "ab");  // A1111 drops ':' and ',' from the name it writes
  CHECK(checked[1].at("verified") == "applied (the review names no file)");
  CHECK(hashed == 1);
  // a LoRA the server did not apply (A1111 skips one it cannot find), and a tag A1111 does not
  // read, which is not required
  CHECK_THAT(backends::a1111_check_loras(s, "a\nSteps: 20, Seed: 1, Lora hashes: \"detail: " + want + "\", Size: 8x8", file_hash),
             Catch::Contains("LoRA 'ab' was not applied"));
  CHECK_THAT(backends::a1111_check_loras(s, "a\nSteps: 20, Seed: 1", file_hash), Catch::Contains("LoRA 'detail' was not applied"));
  // another version of the file on the server
  CHECK_THAT(backends::a1111_check_loras(s, "a\nSteps: 20, Seed: 1, Lora hashes: \"detail: 0123456789ab, ab: 0123456789ab\", Size: 8x8", file_hash),
             Catch::Contains("LoRA 'detail': the server used a file with LoRA hash 0123456789ab") && Catch::Contains(want));
  CHECK(backends::a1111_check_loras(s, "a\nSteps: 20, Seed: 1, LoRA hashes: \"detail: " + want + ", ab: 0123456789ab\", Size: 8x8",
                                file_hash) == "");  // SD.Next's spelling
  // a LoRA the prompt does not load (A1111's "Add network to prompt" setting)
  CHECK_THAT(backends::a1111_check_loras(s, "a\nSteps: 20, Seed: 1, Lora hashes: \"detail: " + want +
                                            ", ab: 0123456789ab, extra: 00000000aaaa\", Size: 8x8", file_hash),
             Catch::Contains("the server applied LoRA 'extra' [00000000aaaa], which the prompt does not load"));
  // one from the negative prompt is not extra (newer webuis apply those too)
  s.params.emplace_back("negative_prompt", "lowres <lora:extra:-1>");
  CHECK(backends::a1111_check_loras(s, "a\nSteps: 20, Seed: 1, Lora hashes: \"detail: " + want +
                                       ", ab: 0123456789ab, extra: 00000000aaaa\", Size: 8x8",
                                file_hash) == "");
  s.params.pop_back();
  s.params.set(0, "no tags at all");
  CHECK(backends::a1111_check_loras(s, "", file_hash) == "");
  CHECK(backends::a1111_check_loras(s, "a\nSteps: 20, Seed: 1, Size: 8x8", file_hash) == "");
  CHECK_THAT(backends::a1111_check_loras(s, "a\nSteps: 20, Seed: 1, Lora hashes: \"extra: 00000000aaaa\"", file_hash),
             Catch::Contains("LoRA 'extra'"));
}

TEST_CASE("a1111: a LoRA section stores only images made with the review's LoRA files", "[a1111][lora]") {
  Review r;
  write_review(r, {});  // endpoints set below
  const std::string detail = test::write_lora_file(r.dir / "detail.safetensors", "detail lora weights");
  test::write_lora_file(r.dir / "old.safetensors", "the version the review wants");
  const std::string pad(52, '0');
  test::FakeA1111 srv({{"a.safetensors", r.sha_a}, {"b.safetensors", r.sha_b}},
                      {{"detail", detail + pad}, {"old", "0123456789ab" + pad}});
  r.exp = test::write_backend_review(r.dir.path(), "backend = \"a1111\"\nendpoints = [\"" + srv.url() + "\"]", 2);
  test::write_text(r.dir / "loras.toml", R"([suite]
name = "loras"
[[lora]]
id = "detail"
file = "detail.safetensors"
[[lora.showcase]]
image = "targets/anime/1.png"
prompt = "city <lora:detail:0.6>"
[[lora]]
id = "old"
file = "old.safetensors"
[[lora.showcase]]
image = "targets/anime/2.png"
prompt = "forest <lora:old:0.7>"
[[lora]]
id = "ghost"
[[lora.showcase]]
image = "targets/anime/2.png"
prompt = "sea <lora:ghost>"
)");
  test::write_text(r.exp, test::read_text(r.exp) + "\n[[section]]\nid = \"lora\"\nloras = \"loras.toml\"\nmetrics = [\"style_loss\"]\n");
  Ran ran = run(r);
  CHECK(ran.sum.failed == 16);  // old and ghost: 2 checkpoints x 4 images each
  size_t wrong_version = 0, not_applied = 0;
  for (const auto& f : ran.sum.failures) {
    wrong_version += f.error.find("LoRA 'old': the server used a file with LoRA hash 0123456789ab") != std::string::npos;
    not_applied += f.error.find("LoRA 'ghost' was not applied") != std::string::npos;
  }
  CHECK(wrong_version == 8);
  CHECK(not_applied == 8);
  auto cache = cache::Cache::open(r.dir / "cache");
  size_t stored = 0;
  for (const auto& s : ran.plan.steps) {
    if (s.kind != plan::StepKind::generate) continue;
    const bool has = cache->get(s.key).has_value();
    CHECK(has == (s.param("prompt").find("<lora:old") == std::string::npos &&
                  s.param("prompt").find("<lora:ghost") == std::string::npos));
    if (!has || s.param("prompt").find("<lora:detail") == std::string::npos) continue;
    ++stored;
    json meta = json::parse(cache->record(s.key)->meta);
    REQUIRE(meta["loras"].size() == 1);
    CHECK(meta["loras"][0]["hash"] == detail);
    CHECK(meta["loras"][0]["verified"] == "LoRA hash of the review's file");
  }
  CHECK(stored == 8);
}
