// Mirrors src/plan/: step keys (content, not paths), DAG shape and counts, file-hash memo.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <set>

#include "dsl/loader.h"
#include "plan/plan.h"
#include "support.h"
#include "support/plan_support.h"

using namespace ghx;
namespace fs = std::filesystem;

namespace {

class MapMemo : public plan::HashMemo {
 public:
  std::optional<std::string> lookup(const std::string& p, const plan::FileStat& st) override {
    auto it = m.find(p);
    if (it == m.end() || it->second.first.mtime_ns != st.mtime_ns || it->second.first.size != st.size) return std::nullopt;
    return it->second.second;
  }
  void store(const std::string& p, const plan::FileStat& st, const std::string& h) override { m[p] = {st, h}; }
  std::map<std::string, std::pair<plan::FileStat, std::string>> m;
};

plan::Plan plan_of(const std::string& exp, plan::HashMemo* memo = nullptr, size_t* files_read = nullptr) {
  test::Planned p = test::load_and_plan(exp, memo);
  if (files_read) *files_read = p.files_read;
  return std::move(p.plan);
}

std::set<std::string> keys(const plan::Plan& p) {
  std::set<std::string> s;
  for (const auto& st : p.steps) s.insert(st.key.hex());
  return s;
}

std::map<std::string, int> kinds(const plan::Plan& p) {
  std::map<std::string, int> m;
  for (const auto& s : p.steps) ++m[plan::kind_name(s.kind)];
  return m;
}

}  // namespace

TEST_CASE("step counts per kind and topological order", "[plan]") {
  test::TempDir t;
  plan::Plan p = plan_of(test::write_small_review(t.path()));
  // 3 style prompts x 2 checkpoints x 2 images; 4 target images (2 styles x 2)
  std::map<std::string, int> want = {{"generate", 12}, {"image_features", 12}, {"metric", 12},
                                     {"target_features", 4}, {"aggregate", 1}, {"report", 1}};
  CHECK(kinds(p) == want);
  for (size_t i = 0; i < p.steps.size(); ++i)
    for (uint32_t in : p.steps[i].inputs) CHECK(in < i);
  // a metric reads its image's features and every target of its style
  for (const auto& s : p.steps)
    if (s.kind == plan::StepKind::metric) CHECK(s.inputs.size() == 3);
  // image i of a prompt gets seed + i
  std::set<std::string> seeds;
  for (const auto& s : p.steps)
    if (s.kind == plan::StepKind::generate) seeds.insert(s.param("seed"));
  CHECK(seeds == std::set<std::string>{"7", "8"});
}

TEST_CASE("the same review in another folder plans the same keys", "[plan]") {
  test::TempDir a, b;
  std::string ea = test::write_small_review(a.path());
  fs::copy(a.path(), b / "moved", fs::copy_options::recursive);
  CHECK(keys(plan_of(ea)) == keys(plan_of(b / "moved/experiment.toml")));
}

TEST_CASE("editing one prompt changes exactly the steps downstream of it", "[plan]") {
  test::TempDir t;
  std::string exp = test::write_small_review(t.path());
  auto before = keys(plan_of(exp));
  std::string suite = test::read_text(t / "suite.toml");
  suite.replace(suite.find("manga panel, rain"), 17, "manga panel, snow");
  test::write_text(t / "suite.toml", suite);
  auto after = keys(plan_of(exp));
  std::vector<std::string> fresh;
  for (const auto& k : after)
    if (!before.count(k)) fresh.push_back(k);
  // 2 checkpoints x 2 images x (generate, image_features, metric) + aggregate + report
  CHECK(fresh.size() == 14);
  CHECK(after.size() == before.size());
}

TEST_CASE("files enter keys by content, not by path or time", "[plan]") {
  test::TempDir t;
  std::string exp = test::write_small_review(t.path());
  auto k0 = keys(plan_of(exp));
  SECTION("touching a file changes nothing") {
    fs::last_write_time(t / "models/vgg19.safetensors", fs::file_time_type::clock::now() + std::chrono::hours(1));
    CHECK(keys(plan_of(exp)) == k0);
  }
  SECTION("other weights change every feature, metric, aggregate and report key") {
    std::string w = test::read_text(t / "models/vgg19.safetensors");
    w[w.size() - 1] ^= 1;
    test::write_text(t / "models/vgg19.safetensors", w);
    auto k1 = keys(plan_of(exp));
    size_t same = 0;
    for (const auto& k : k1) same += k0.count(k);
    CHECK(same == 12);  // only the generate steps survive
  }
}

TEST_CASE("style layers and the VGG resize filter are in every VGG feature key", "[plan]") {
  test::TempDir t;
  std::string exp = test::write_small_review(t.path());
  const plan::Plan p0 = plan_of(exp);
  for (const auto& s : p0.steps)
    if (s.kind == plan::StepKind::target_features || (s.kind == plan::StepKind::image_features && s.param("model") == "vgg19")) {
      CHECK(s.param("layers") == "ghostreview:0,5,10,19,28");
      CHECK(s.param("preprocess") == "pil_bicubic");
    }
  const auto k0 = keys(p0);
  std::string text = test::read_text(exp);
  text.replace(text.find("[[section]]"), 11, "[metrics]\nstyle_loss = { layers = \"gatys\" }\n\n[[section]]");
  test::write_text(exp, text);
  const plan::Plan p1 = plan_of(exp);
  size_t same = 0, vgg = 0;
  for (const auto& s : p1.steps) {
    same += k0.count(s.key.hex());
    if (s.kind == plan::StepKind::target_features || s.kind == plan::StepKind::image_features) {
      CHECK(s.param("layers") == "gatys:1,6,11,20,29");
      ++vgg;
    }
  }
  CHECK(vgg == 16);
  CHECK(same == 12);  // only the generate steps survive: features, metrics, aggregate, report are new
}

TEST_CASE("file hashes are memoised by path, size, mtime and inode", "[plan]") {
  test::TempDir t;
  std::string exp = test::write_small_review(t.path());
  MapMemo memo;
  size_t read = 0;
  plan_of(exp, &memo, &read);
  CHECK(read == 5);  // vgg19 + 4 targets
  plan_of(exp, &memo, &read);
  CHECK(read == 0);
  test::write_text(t / "targets/anime/1.png", test::read_text(t / "targets/anime/2.png"));
  plan_of(exp, &memo, &read);
  CHECK(read == 1);
}

TEST_CASE("the key encoding is tagged: field boundaries matter", "[plan]") {
  auto a = plan::step_key(plan::StepKind::metric, {{"ab", "c"}}, {});
  auto b = plan::step_key(plan::StepKind::metric, {{"a", "bc"}}, {});
  auto c = plan::step_key(plan::StepKind::aggregate, {{"ab", "c"}}, {});
  auto d = plan::step_key(plan::StepKind::metric, {{"ab", "c"}}, {a});
  CHECK(a != b);
  CHECK(a != c);
  CHECK(a != d);
  CHECK(a == plan::step_key(plan::StepKind::metric, {{"ab", "c"}}, {}));
  // a stable value: changing the encoding must be deliberate (bump k_key_schema)
  CHECK(plan::step_key(plan::StepKind::generate, {{"seed", "1"}}, {}).hex().size() == 32);
}

TEST_CASE("a pinned sha256 that does not match is an error at the checkpoint", "[plan]") {
  test::TempDir t;
  std::string exp = test::write_small_review(t.path());
  test::write_text(t / "ckpt.safetensors", "not really a checkpoint");
  std::string text = test::read_text(exp);
  text.replace(text.find("backend_name = \"alpha.safetensors\""), 34,
               "file = \"ckpt.safetensors\"\nsha256 = \"" + std::string(64, 'a') + "\"");
  test::write_text(exp, text);
  dsl::Diagnostics d;
  auto r = dsl::load_review(exp, d);
  REQUIRE(r);
  plan::FileHasher h(nullptr);
  CHECK_FALSE(plan::build_plan(*r, h, d));
  CHECK(d.format_all().find("experiment.toml:13:1: error: checkpoint 'alpha': file") != std::string::npos);
}

TEST_CASE("contact sheets name only images some metric scores", "[plan]") {
  test::TempDir t;
  test::write_small_review(t.path());
  // A plain prompt suite beside the styles, with style_loss only: no metric scores its prompt,
  // so it must add no generate step (not even for the contact sheet).
  test::write_text(t / "prompts.toml", "[suite]\nname = \"p\"\n[[prompt]]\nid = \"q1\"\ntext = \"a red fox\"\n");
  test::write_text(t / "experiment.toml", test::small_experiment("prompts = \"prompts.toml\"\n"));
  plan::Plan p = plan_of(t / "experiment.toml");
  CHECK(kinds(p)["generate"] == 12);  // the 3 style prompts x 2 checkpoints x 2 images only
  const plan::Step& rep = p.steps[p.report_steps.at(0)];
  auto gallery = rep.params_named("gallery");
  REQUIRE(gallery.size() == 3);
  for (const std::string* g : gallery) {
    std::vector<std::string> f = plan::split_fields(*g);
    REQUIRE(f.size() == 6);  // section, prompt id, text, seed, one image per checkpoint
    CHECK(f[1] != "q1");
    for (size_t i = 4; i < f.size(); ++i) {
      plan::StepKey k;
      REQUIRE(plan::StepKey::from_hex(f[i], &k));
      const plan::Step* gen = p.find(k);
      REQUIRE(gen);
      CHECK(gen->kind == plan::StepKind::generate);
      CHECK(gen->param("seed") == "7");  // the first image
    }
  }
}

TEST_CASE("where results are kept is in no key: [cache] remote leaves every key as it was", "[plan]") {
  test::TempDir t;
  const std::string exp = test::write_small_review(t.path());
  const std::set<std::string> before = keys(plan_of(exp));
  std::string text = test::read_text(exp);
  const size_t at = text.find("[generation]");
  REQUIRE(at != std::string::npos);
  text.insert(at, "[cache]\nremote = \"http://127.0.0.1:9/\"\n\n");
  test::write_text(exp, text);
  test::Planned p = test::load_and_plan(exp);
  CHECK(p.review.cache_remote == "http://127.0.0.1:9/");
  CHECK(keys(p.plan) == before);
}
