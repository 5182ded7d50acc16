// The import backend end to end: folders of PNG (infotext) and JPEG (Civitai JSON sidecar)
// images made here stand in for the planned generate steps; exactly the planned steps are
// filled, extra images are listed, missing ones fail only their step, nothing is guessed.
#include <catch2/catch.hpp>

#include <filesystem>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "cache/cache.h"
#include "dsl/loader.h"
#include "backends/backends.h"
#include "backends/import.h"
#include "backends/infotext.h"
#include "exec/runner.h"
#include "plan/plan.h"
#include "support.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/png.h"
#include "util/png_text.h"

using namespace ghx;
using nlohmann::json;

namespace {

struct Review {
  test::TempDir dir;
  std::string exp;
  std::string imports;
  std::string sha_a, sha_b;
};

/// 2 checkpoints (files, so identities are sha256) x 1 prompt x 2 seeds (7, 8): 4 generate steps.
void write_review(Review& r) {
  r.exp = test::write_backend_review(
      r.dir.path(), "backend = \"import\"\nimport_dir = \"imports\"\nnegative_prompt = \"lowres, blurry\"", 1);
  r.sha_a = util::sha256_hex("checkpoint A bytes");
  r.sha_b = util::sha256_hex("checkpoint B bytes");
  r.imports = r.dir / "imports";
  std::filesystem::create_directories(r.imports);
}

plan::Plan make_plan(Review& r) {
  dsl::Diagnostics d;
  auto review = dsl::load_review(r.exp, d);
  INFO(d.format_all());
  REQUIRE(review);
  auto cache = cache::Cache::open(r.dir / "cache");
  plan::FileHasher h(cache.get());
  auto p = plan::build_plan(*review, h, d);
  INFO(d.format_all());
  REQUIRE(p);
  return std::move(*p);
}

exec::RunSummary run(Review& r, const plan::Plan& p) {
  auto cache = cache::Cache::open(r.dir / "cache");
  auto execs = exec::ExecutorSet::builtin(backends::make_generators());
  exec::RunOptions ro;
  ro.keep_going = exec::KeepGoing::yes;
  ro.jobs = 2;
  return exec::run_plan(p, *cache, *execs, ro);
}

std::vector<const plan::Step*> generate_steps(const plan::Plan& p) {
  std::vector<const plan::Step*> out;
  for (const auto& s : p.steps)
    if (s.kind == plan::StepKind::generate) out.push_back(&s);
  return out;
}

cv::Mat picture(int shade) { return cv::Mat(32, 32, CV_8UC3, cv::Scalar(shade, 255 - shade, 90)); }

/// The step's A1111 infotext (model hash upper-cased: matching must not care).
backends::Infotext infotext_for(const plan::Step& s, const std::string& seed, const std::string& hash) {
  backends::Infotext t;
  t.prompt = s.param("prompt");
  t.negative_prompt = s.param("negative_prompt");
  t.set("Steps", "30");
  t.set("Sampler", "DPM++ 2M Karras");
  t.set("CFG scale", "6");
  t.set("Seed", seed);
  t.set("Size", s.param("width") + "x" + s.param("height"));
  std::string up = hash;
  for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  t.set("Model hash", up);
  return t;
}

std::string hash_of(const plan::Step& s) { return s.param("checkpoint").substr(7, 10); }

/// A PNG with the step's infotext in its `parameters` chunk.
std::string write_png(const std::string& path, const plan::Step& s, int shade, const std::string& seed = "",
                      const std::string& hash = "") {
  std::string png = util::encode_png(picture(shade));
  std::string text = infotext_for(s, seed.empty() ? s.param("seed") : seed, hash.empty() ? hash_of(s) : hash).format();
  png = util::png_set_text(png, "parameters", text, path);
  test::write_text(path, png);
  return png;
}

/// A JPEG with a Civitai sidecar: the image object (`wrapped`) or the bare `meta` object.
std::string write_jpeg(const std::string& path, const plan::Step& s, int shade, bool wrapped) {
  std::vector<uchar> buf;
  cv::imencode(".jpg", picture(shade), buf);
  std::string bytes(buf.begin(), buf.end());
  test::write_text(path, bytes);
  json meta = {{"prompt", s.param("prompt")},
               {"negativePrompt", s.param("negative_prompt")},
               {"seed", std::stoll(s.param("seed"))},
               {"steps", 30},
               {"sampler", "DPM++ 2M Karras"},
               {"cfgScale", 6},
               {"Size", s.param("width") + "x" + s.param("height")},
               {"Model hash", hash_of(s)},
               {"Model", "whatever"}};
  json side = wrapped ? json{{"id", 1234}, {"url", "https://example/x.jpeg"}, {"width", 32}, {"height", 32}, {"meta", meta}}
                      : meta;
  std::string sidecar = path.substr(0, path.rfind('.')) + ".json";
  test::write_text(sidecar, side.dump(2));
  return bytes;
}

}  // namespace

TEST_CASE("import: exactly the planned steps are filled, an extra image is listed, a second run reads nothing",
          "[import]") {
  Review r;
  write_review(r);
  plan::Plan p = make_plan(r);
  auto gens = generate_steps(p);
  REQUIRE(gens.size() == 4);
  std::map<std::string, std::string> originals;  // step key hex -> original bytes
  // PNGs with infotext, one in a subfolder (the scan is recursive); one JPEG + sidecar (image
  // object); the last a PNG without infotext but with a bare-`meta` sidecar
  originals[gens[0]->key.hex()] = write_png(r.imports + "/a_0.png", *gens[0], 10);
  originals[gens[1]->key.hex()] = write_png(r.imports + "/sub/a_1.png", *gens[1], 40);
  originals[gens[2]->key.hex()] = write_jpeg(r.imports + "/b_0.jpg", *gens[2], 80, true);
  {
    std::string png = util::encode_png(picture(120));
    test::write_text(r.imports + "/b_1.png", png);
    originals[gens[3]->key.hex()] = png;
    json meta = {{"prompt", gens[3]->param("prompt")},
                 {"negativePrompt", gens[3]->param("negative_prompt")},
                 {"seed", gens[3]->param("seed")},  // as a string: accepted
                 {"Model hash", hash_of(*gens[3])}};
    test::write_text(r.imports + "/b_1.json", meta.dump());
  }
  // extra images: another seed; no metadata at all
  write_png(r.imports + "/extra_seed99.png", *gens[0], 200, "99");
  test::write_text(r.imports + "/plain.png", util::encode_png(picture(7)));
  test::write_text(r.imports + "/notes.txt", "not an image");

  backends::ImportIndex idx = backends::scan_import_dir(r.imports);
  REQUIRE(idx.images.size() == 6);
  CHECK(idx.images[0].rel == "a_0.png");
  CHECK(idx.images.back().rel == "sub/a_1.png");

  backends::ImportReport rep = backends::match_import(p);
  CHECK(rep.matched == 4);
  CHECK(rep.missing.empty());
  CHECK(rep.ambiguous.empty());
  REQUIRE(rep.unmatched.size() == 2);
  CHECK(rep.unmatched[0].path == r.imports + "/extra_seed99.png");
  CHECK(rep.unmatched[0].why.find("seed 99") != std::string::npos);
  CHECK(rep.unmatched[1].path == r.imports + "/plain.png");
  CHECK(rep.unmatched[1].why.find("no metadata") != std::string::npos);
  std::string text = backends::import_summary(rep, p, false);
  CHECK(text.find("4 steps matched") != std::string::npos);
  CHECK(text.find("2 images matched no step") != std::string::npos);
  CHECK(json::parse(backends::import_summary(rep, p, true))["matched"] == 4);

  exec::RunSummary sum = run(r, p);
  INFO((sum.failures.empty() ? "" : sum.failures[0].error));
  CHECK(sum.failed == 0);
  auto cache = cache::Cache::open(r.dir / "cache");
  for (const plan::Step* s : gens) {
    auto bytes = cache->get(s->key);
    REQUIRE(bytes);
    REQUIRE(util::is_png(*bytes));
    auto t = backends::Infotext::parse(util::png_text_chunks(*bytes, "stored").at("parameters"));
    REQUIRE(t);
    CHECK(t->prompt == s->param("prompt"));
    CHECK(t->negative_prompt == s->param("negative_prompt"));
    REQUIRE(t->seed());
    CHECK(std::to_string(*t->seed()) == s->param("seed"));
    std::string mh = t->model_hash();
    for (char& c : mh) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    CHECK(mh == hash_of(*s));
    json meta = json::parse(cache->record(s->key)->meta);
    CHECK(meta["backend"] == "import");
    CHECK(meta["sha256"] == util::sha256_hex(originals[s->key.hex()]));
  }
  // a PNG with infotext is stored byte for byte; the JPEG became a PNG of (about) its pixels
  CHECK(*cache->get(gens[0]->key) == originals[gens[0]->key.hex()]);
  json m0 = json::parse(cache->record(gens[0]->key)->meta);
  CHECK(m0["source"] == "infotext");
  CHECK(m0["path"] == r.imports + "/a_0.png");
  json m2 = json::parse(cache->record(gens[2]->key)->meta);
  CHECK(m2["source"] == "sidecar");
  CHECK(m2["converted_to_png"] == true);
  cv::Mat got = util::decode_image(*cache->get(gens[2]->key), "stored");
  CHECK(cv::norm(got, picture(80), cv::NORM_INF) < 16);  // JPEG loss only
  json m3 = json::parse(cache->record(gens[3]->key)->meta);
  CHECK(m3["source"] == "sidecar");
  CHECK(m3["infotext_added"] == true);
  CHECK(cv::norm(util::decode_image(*cache->get(gens[3]->key), "stored"), picture(120), cv::NORM_INF) == 0);

  // a second run reads nothing new: with the folder gone, every step is served by the cache
  std::filesystem::remove_all(r.imports);
  std::filesystem::create_directories(r.imports);
  exec::RunSummary again = run(r, make_plan(r));
  CHECK(again.executed == 0);
  CHECK(again.failed == 0);
  // ... and the report on the empty folder counts the done steps as neither missing nor matched
  auto done = cache->done_keys();
  backends::ImportReport rep2 = backends::match_import(p, [&](uint32_t i) { return done.count(p.steps[i].key) > 0; });
  CHECK(rep2.missing.empty());
  CHECK(rep2.matched == 0);
}

TEST_CASE("import: a missing image is reported and fails that step only", "[import]") {
  Review r;
  write_review(r);
  plan::Plan p = make_plan(r);
  auto gens = generate_steps(p);
  REQUIRE(gens.size() == 4);
  for (size_t i = 0; i < 3; ++i) write_png(r.imports + "/img" + std::to_string(i) + ".png", *gens[i], 30 * int(i));
  backends::ImportReport rep = backends::match_import(p);
  CHECK(rep.matched == 3);
  REQUIRE(rep.missing.size() == 1);
  CHECK(&p.steps[rep.missing[0]] == gens[3]);
  CHECK(rep.unmatched.empty());
  CHECK(backends::import_summary(rep, p, false).find("1 steps have no image") != std::string::npos);

  exec::RunSummary sum = run(r, p);
  CHECK(sum.failed == 1);
  REQUIRE(sum.failures.size() == 1);
  const std::string& err = sum.failures[0].error;
  CHECK(err.find("no image in " + r.imports) != std::string::npos);
  CHECK(err.find("prompt 'anime girl") != std::string::npos);
  CHECK(err.find("seed " + gens[3]->param("seed")) != std::string::npos);
  CHECK(err.find("(model " + hash_of(*gens[3]) + ")") != std::string::npos);
  auto cache = cache::Cache::open(r.dir / "cache");
  for (size_t i = 0; i < 3; ++i) CHECK(cache->get(gens[i]->key));
  CHECK_FALSE(cache->get(gens[3]->key));

  // the image turns up: the next run imports just that one
  write_png(r.imports + "/late.png", *gens[3], 250);
  exec::RunSummary again = run(r, make_plan(r));
  CHECK(again.failed == 0);
  CHECK(cache->get(gens[3]->key));
}

TEST_CASE("import: a wrong model hash is not matched, two images for one step are not guessed", "[import]") {
  Review r;
  write_review(r);
  plan::Plan p = make_plan(r);
  auto gens = generate_steps(p);
  REQUIRE(gens.size() == 4);
  write_png(r.imports + "/right.png", *gens[1], 1);
  write_png(r.imports + "/other_model.png", *gens[0], 2, "", "0123456789");
  backends::ImportIndex idx = backends::scan_import_dir(r.imports);
  REQUIRE(idx.images.size() == 2);
  CHECK(backends::import_mismatch(idx.images[0], *gens[0]).find("model hash 0123456789") != std::string::npos);
  CHECK(backends::import_mismatch(idx.images[1], *gens[1]).empty());
  backends::ImportReport rep = backends::match_import(p);
  CHECK(rep.matched == 1);
  CHECK(rep.missing.size() == 3);
  REQUIRE(rep.unmatched.size() == 1);
  CHECK(rep.unmatched[0].path == r.imports + "/other_model.png");
  CHECK(rep.unmatched[0].why.find("model hash 0123456789, not " + hash_of(*gens[0])) != std::string::npos);

  // a copy of the right image: two candidates for one step
  write_jpeg(r.imports + "/right_again.jpeg", *gens[1], 3, false);
  backends::ImportReport rep2 = backends::match_import(p);
  CHECK(rep2.matched == 0);
  REQUIRE(rep2.ambiguous.size() == 1);
  CHECK(&p.steps[rep2.ambiguous[0]] == gens[1]);
  exec::RunSummary sum = run(r, p);
  CHECK(sum.failed == 4);
  bool saw = false;
  for (const auto& f : sum.failures) saw |= f.error.find("2 images in") != std::string::npos;
  CHECK(saw);
}

TEST_CASE("import: the size must match when the image declares it, a bad sidecar matches nothing", "[import]") {
  Review r;
  write_review(r);
  plan::Plan p = make_plan(r);
  auto gens = generate_steps(p);
  backends::Infotext t = infotext_for(*gens[0], gens[0]->param("seed"), hash_of(*gens[0]));
  t.set("Size", "512x768");
  test::write_text(r.imports + "/big.png",
                   util::png_set_text(util::encode_png(picture(5)), "parameters", t.format(), "big"));
  test::write_text(r.imports + "/broken.png", util::encode_png(picture(6)));
  test::write_text(r.imports + "/broken.json", "{not json");
  backends::ImportReport rep = backends::match_import(p);
  CHECK(rep.matched == 0);
  REQUIRE(rep.unmatched.size() == 2);
  CHECK(rep.unmatched[0].why.find("size 512x768") != std::string::npos);
  CHECK(rep.unmatched[1].why.find("sidecar") != std::string::npos);
  CHECK_THROWS_AS(backends::scan_import_dir(r.dir / "nope"), Error);
}

TEST_CASE("import: an image made with another version of the review's LoRA file is not matched", "[import][lora]") {
  test::TempDir t;
  const std::string want = test::write_lora_file(t / "detail.safetensors", "detail lora weights");
  const std::string sha = util::sha256_hex(test::read_text(t / "detail.safetensors"));
  plan::Step s;
  s.kind = plan::StepKind::generate;
  s.params = {{"checkpoint", "backend_name:m"}, {"prompt", "city <lora:detail:0.6>, <lora:free:1>"}, {"negative_prompt", ""},
              {"seed", "7"}, {"width", "32"}, {"height", "32"}};
  s.context = {{"lora.file", std::string("detail") + plan::k_field_sep + (t / "detail.safetensors")}};

  // read from a PNG's infotext and from a Civitai sidecar's resources
  std::filesystem::create_directories(t / "in");
  backends::Infotext it;
  it.prompt = s.param("prompt");
  it.set("Steps", "20");
  it.set("Seed", "7");
  it.set("Lora hashes", "detail: 0123456789AB, free: 999999999999");
  test::write_text(t / "in/a.png", util::png_set_text(util::encode_png(picture(1)), "parameters", it.format(), "a"));
  std::vector<uchar> buf;
  cv::imencode(".jpg", picture(2), buf);
  test::write_text(t / "in/b.jpeg", std::string(buf.begin(), buf.end()));
  json meta = {{"prompt", s.param("prompt")}, {"seed", 7},
               {"resources", json::array({{{"name", "detail"}, {"type", "lora"}, {"weight", 0.6}, {"hash", sha.substr(0, 10)}}})}};
  test::write_text(t / "in/b.json", meta.dump());
  backends::ImportIndex idx = backends::scan_import_dir(t / "in");
  REQUIRE(idx.images.size() == 2);
  CHECK(idx.images[0].lora_hashes == std::map<std::string, std::string>{{"detail", "0123456789ab"}, {"free", "999999999999"}});
  CHECK(idx.images[1].lora_hashes == std::map<std::string, std::string>{{"detail", sha.substr(0, 10)}});
  // another file than the review's: not this step's image
  CHECK_THAT(backends::import_mismatch(idx.images[0], s), Catch::Contains("LoRA 'detail' hash 0123456789ab, not the review's") &&
                                                         Catch::Contains(want));
  // Civitai's AutoV2 of the same file: matched ('free' names no file: any hash is fine)
  CHECK(backends::import_mismatch(idx.images[1], s) == "");
  backends::ImportImage img = idx.images[0];
  img.lora_hashes["detail"] = want;
  CHECK(backends::import_mismatch(img, s) == "");
  img.lora_hashes.clear();  // metadata silent about LoRAs: nothing to compare
  CHECK(backends::import_mismatch(img, s) == "");
  img.lora_hashes["detail"] = want.substr(0, 6);  // too short to tell
  CHECK_THAT(backends::import_mismatch(img, s), Catch::Contains("LoRA 'detail' hash"));
}

TEST_CASE("import: sidecar seeds that are no int64 are no seeds", "[import]") {
  test::TempDir t;
  std::filesystem::create_directories(t / "in");
  const std::vector<std::pair<std::string, std::optional<int64_t>>> seeds = {
      {"7.0", 7}, {"7.5", std::nullopt}, {"1e300", std::nullopt}, {"-1e300", std::nullopt},
      {"9223372036854775808", std::nullopt}, {"9223372036854775807", INT64_MAX}, {"\"12\"", 12}};
  for (size_t i = 0; i < seeds.size(); ++i) {
    std::vector<uchar> buf;
    cv::imencode(".jpg", picture(int(i)), buf);
    const std::string name = t / ("in/" + std::to_string(i));
    test::write_text(name + ".jpg", std::string(buf.begin(), buf.end()));
    test::write_text(name + ".json", "{\"prompt\": \"p\", \"seed\": " + seeds[i].first + ", \"steps\": " + seeds[i].first + "}");
  }
  backends::ImportIndex idx = backends::scan_import_dir(t / "in");
  REQUIRE(idx.images.size() == seeds.size());
  for (size_t i = 0; i < seeds.size(); ++i) {
    INFO(seeds[i].first);
    CHECK(idx.images[i].error.empty());
    CHECK(idx.images[i].seed == seeds[i].second);
  }
}
