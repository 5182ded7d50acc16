// LoRA sections in the plan: fixed prompts reach the generate keys, showcase images are the
// targets, NoTM pairs reach the aggregate, LoRA files enter the keys of the prompts that load them.
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

const char* k_lora_suite = R"([suite]
name = "loras"
[[lora]]
id = "moxin"
tag = "Moxin_10"
file = "moxin.safetensors"
made_with = ["alpha", "beta"]
[[lora.showcase]]
image = "show/m1.png"
prompt = "ink boat <lora:Moxin_10>"
uses = [{ lora = "ink", weight = 0.5 }]
[[lora.showcase]]
image = "show/m2.png"
prompt = "ink pines"
skip = true
[[lora]]
id = "ink"
tag = "inkwash"
made_with = ["gamma"]
[[lora.showcase]]
image = "show/i1.png"
prompt = "(<lora:inkwash_v1:0.6>:1.2), river"
[[fixup]]
kind = "swap_version"
from = "inkwash_v1"
to = "inkwash"
[[fixup]]
kind = "default_weight"
weight = 0.8
[[fixup]]
kind = "add_missing_tags"
[[fixup]]
kind = "exclude_made_with"
)";

std::string write_lora_review(const std::string& dir) {
  test::write_small_review(dir);
  fs::create_directories(dir + "/show");
  // Distinct images (targets are keyed by content), none of them a style target.
  fs::copy_file(test::repo_targets("pixel_art") + "/1.png", dir + "/show/m1.png");
  fs::copy_file(test::repo_targets("pixel_art") + "/2.png", dir + "/show/m2.png");
  fs::copy_file(test::repo_targets("watercolor") + "/1.png", dir + "/show/i1.png");
  test::spit(dir + "/moxin.safetensors", "moxin lora bytes");
  test::spit(dir + "/loras.toml", k_lora_suite);
  std::string exp = test::small_experiment() + R"(
[[section]]
id = "lora"
loras = "loras.toml"
metrics = ["style_loss"]
)";
  test::spit(dir + "/experiment.toml", exp);
  return dir + "/experiment.toml";
}

plan::Plan plan_of(const std::string& exp, std::string* warnings = nullptr) {
  test::Planned p = test::load_and_plan(exp);
  if (warnings) *warnings = p.diagnostics;
  return std::move(p.plan);
}

std::vector<const plan::Step*> of_kind(const plan::Plan& p, plan::StepKind k) {
  std::vector<const plan::Step*> out;
  for (const auto& s : p.steps)
    if (s.kind == k) out.push_back(&s);
  return out;
}

}  // namespace

TEST_CASE("LoRA section: counts, final prompts, showcase targets and NoTM pairs", "[plan][lora]") {
  test::TempDir t;
  std::string warnings;
  plan::Plan p = plan_of(write_lora_review(t.path()), &warnings);
  CHECK(warnings.empty());  // every rule changed something

  // style section: 3 prompts x 2 checkpoints x 2 images; LoRA section: 2 showcase prompts (one
  // skipped) x 2 x 2. Targets: 4 style images + 2 showcase images, at one size.
  std::map<std::string, int> count;
  for (const auto& s : p.steps) ++count[plan::kind_name(s.kind)];
  std::map<std::string, int> want = {{"generate", 20}, {"image_features", 20}, {"metric", 20},
                                     {"target_features", 6}, {"aggregate", 2}, {"report", 1}};
  CHECK(count == want);

  std::set<std::string> prompts;
  for (const auto* g : of_kind(p, plan::StepKind::generate))
    if (*g->find_context("section") == "lora") prompts.insert(g->param("prompt"));
  CHECK(prompts == std::set<std::string>{"ink boat <lora:Moxin_10:0.8>, <lora:inkwash:0.5>",
                                         "(<lora:inkwash:0.6>:1.2), river"});

  const plan::Step* agg = nullptr;
  for (const auto* a : of_kind(p, plan::StepKind::aggregate))
    if (a->param("section") == "lora") agg = a;
  REQUIRE(agg);
  CHECK(agg->param("metric") == "lora_loss");
  std::vector<std::string> ex;
  for (const auto* e : agg->params_named("notm_exclude")) ex.push_back(*e);
  // moxin made with alpha and beta (both under test); ink with gamma (not under test).
  CHECK(ex == std::vector<std::string>{std::string("alpha") + plan::k_field_sep + "moxin",
                                       std::string("beta") + plan::k_field_sep + "moxin"});
  // Each LoRA prompt's metric compares with that prompt's own showcase image only.
  for (const auto* m : of_kind(p, plan::StepKind::metric)) {
    const plan::Step& gen = p.steps[p.steps[m->inputs[0]].inputs[0]];
    if (*gen.find_context("section") != "lora") continue;
    REQUIRE(m->inputs.size() == 2);
    const std::string& target = *p.steps[m->inputs[1]].find_context("path");
    std::string want_target = *gen.find_context("prompt_id") == "moxin#0" ? "m1.png" : "i1.png";
    CHECK(fs::path(target).filename() == want_target);
  }

  // plan --json "prompts": one per showcase prompt, plus one per NoTM-excluded checkpoint.
  int notm_records = 0;
  for (const auto& pr : p.prompts) {
    if (pr.section != "lora") continue;
    if (pr.checkpoint.empty()) {
      if (pr.id == "ink#0") {
        CHECK(pr.original == "(<lora:inkwash_v1:0.6>:1.2), river");
        CHECK(pr.rules == std::vector<std::string>{"swap_version"});  // its own tag is there: no append
      }
    } else {
      ++notm_records;
      CHECK(pr.id == "moxin#0");
      CHECK(pr.rules.back() == "exclude_made_with");
    }
  }
  CHECK(notm_records == 2);
}

TEST_CASE("LoRA file content enters the keys of the prompts that load it, and only those", "[plan][lora]") {
  test::TempDir t;
  std::string exp = write_lora_review(t.path());
  auto gen_keys = [&](const std::string& prompt_id) {
    plan::Plan p = plan_of(exp);
    std::set<std::string> k;
    for (const auto* g : of_kind(p, plan::StepKind::generate))
      if (*g->find_context("prompt_id") == prompt_id) k.insert(g->key.hex());
    return k;
  };
  auto moxin = gen_keys("moxin#0"), ink = gen_keys("ink#0"), style = gen_keys("anime#0");
  test::spit(t.path() + "/moxin.safetensors", "moxin lora bytes, retrained");
  // moxin#0 loads Moxin_10 (its tag was filled in by default_weight): it changes; ink#0 loads
  // only inkwash (no file given) and the style prompts load nothing: they stay.
  CHECK(gen_keys("moxin#0") != moxin);
  CHECK(gen_keys("ink#0") == ink);
  CHECK(gen_keys("anime#0") == style);
}

TEST_CASE("editing a fixup rule changes exactly the prompts it rewrites", "[plan][lora]") {
  test::TempDir t;
  std::string exp = write_lora_review(t.path());
  auto gens = [&]() {
    plan::Plan p = plan_of(exp);
    std::map<std::string, std::set<std::string>> k;
    for (const auto* g : of_kind(p, plan::StepKind::generate)) k[*g->find_context("prompt_id")].insert(g->key.hex());
    return k;
  };
  auto before = gens();
  std::string suite = test::slurp(t.path() + "/loras.toml");
  suite.replace(suite.find("weight = 0.8"), 12, "weight = 0.7");  // default_weight's weight
  test::spit(t.path() + "/loras.toml", suite);
  auto after = gens();
  // Only moxin#0 got a tag with the default weight; ink#0 and the style prompts did not move.
  CHECK(after["moxin#0"] != before["moxin#0"]);
  CHECK(after["ink#0"] == before["ink#0"]);
  CHECK(after["anime#0"] == before["anime#0"]);
  CHECK(after["manga#0"] == before["manga#0"]);
}

TEST_CASE("LoRA section on comfyui: tagged prompts' keys say how LoRAs are applied, a tag it cannot apply is an error",
          "[plan][lora][comfyui]") {
  test::TempDir t;
  const std::string exp = write_lora_review(t.path());
  test::write_text(t / "workflow.json",
                   test::read_text(std::string(GHX_SOURCE_DIR) + "/experiments/workflows/comfyui_txt2img.json"));
  std::string text = test::read_text(exp);
  text.replace(text.find("backend = \"synthetic\""), 21,
               "backend = \"comfyui\"\nworkflow = \"workflow.json\"\nendpoints = [\"http://127.0.0.1:9\"]");
  test::write_text(exp, text);
  plan::Plan p = plan_of(exp);
  size_t tagged = 0, plain = 0;
  for (const auto* g : of_kind(p, plan::StepKind::generate)) {
    const bool has_tag = g->param("prompt").find("<lora:") != std::string::npos;
    CHECK((g->find_param("lora.apply") != nullptr) == has_tag);
    if (has_tag) CHECK(g->param("lora.apply") == "comfyui LoraLoader chain v1");
    (has_tag ? tagged : plain) += 1;
  }
  CHECK(tagged == 8);
  CHECK(plain == 12);

  // A1111's named-parameter form has no LoraLoader equivalent: the plan says so, once per prompt.
  std::string suite = test::read_text(t / "loras.toml");
  suite.replace(suite.find("ink boat <lora:Moxin_10>"), 24, "ink boat <lora:Moxin_10:te=0.5>");
  test::write_text(t / "loras.toml", suite);
  dsl::Diagnostics d;
  auto r = dsl::load_review(exp, d);
  REQUIRE(r);
  plan::FileHasher h(nullptr);
  CHECK_FALSE(plan::build_plan(*r, h, d));
  const std::string errs = d.format_all();
  CHECK_THAT(errs, Catch::Contains("prompt 'moxin#0': the comfyui backend applies <lora:NAME>") &&
                       Catch::Contains("not '<lora:Moxin_10:te=0.5>'"));
  CHECK(errs.find("moxin#0") == errs.rfind("moxin#0"));
}
