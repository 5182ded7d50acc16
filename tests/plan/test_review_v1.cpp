// experiments/review_v1.toml and its suites (GhostReview's protocol) plan exactly the steps
// docs/review_v1.md states, with tiny stand-ins for every file the review names.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "dsl/loader.h"
#include "plan/plan.h"
#include "support.h"
#include "support/plan_support.h"
#include "util/png_text.h"

using namespace ghx;
namespace fs = std::filesystem;

namespace {

// The files review_v1 names, relative to the repository root (experiments/review_v1.toml and
// suites/*.toml; docs/review_v1.md lists them for users).
const std::vector<std::string> k_checkpoint_files = {
    "ghostmix_v20Bakedvae.safetensors", "dreamshaper_8.safetensors",  "realisticVisionV51_v51VAE.safetensors",
    "majicmixRealistic_v7.safetensors", "revAnimated_v122.safetensors", "meinamix_meinaV11.safetensors",
    "CounterfeitV30_v30.safetensors",   "absolutereality_v181.safetensors"};
const std::vector<std::string> k_scoring_files = {"clip-vit-large-patch14.safetensors", "bpe_simple_vocab_16e6.txt.gz",
                                                  "sac+logos+ava1-l14-linearMSE.pth", "vgg19-dcbb9e9d.pth"};
const std::vector<std::string> k_styles = {"anime",    "manga",   "photographic", "isometric", "low_poly",
                                           "line_art", "3d_model", "pixel_art",   "watercolor"};
const std::vector<std::string> k_loras = {"moxin",      "add_detail", "gacha_splash",  "ghibli",
                                          "pixel_sprites", "anime_lineart", "papercut", "watercolor",
                                          "edgerunners", "ukiyoe",     "claymation",    "stained_glass",
                                          "lowpoly",    "blindbox",   "analog_film",   "charcoal"};
// Reference images per style in the stand-in layout (docs/review_v1.md counts with this).
constexpr int k_targets_per_style = 4;

/// A valid PNG whose bytes no other stand-in shares (target steps are keyed by content).
std::string distinct_png(const std::string& label) {
  static const std::string base = test::slurp(test::repo_targets("anime") + "/1.png");
  return util::png_set_text(base, "ghx-standin", label, "stand-in");
}

/// Copies the review and its suites into `root` (same layout) and writes a stand-in for every
/// file they name. Returns the experiment path.
std::string write_review_v1(const std::string& root) {
  const std::string src = GHX_SOURCE_DIR;
  fs::create_directories(root + "/experiments");
  fs::create_directories(root + "/suites");
  fs::copy_file(src + "/experiments/review_v1.toml", root + "/experiments/review_v1.toml");
  for (const char* s : {"quality_30.toml", "styles_9.toml", "loras_16.toml"})
    fs::copy_file(src + "/suites/" + s, root + "/suites/" + s);
  for (const auto& f : k_checkpoint_files) test::spit(root + "/models/checkpoints/" + f, "stand-in checkpoint " + f);
  for (const auto& f : k_scoring_files) test::spit(root + "/models/scoring/" + f, "stand-in scoring model " + f);
  for (const auto& s : k_styles)
    for (int i = 1; i <= k_targets_per_style; ++i)
      test::spit(root + "/suites/targets_v1/" + s + "/" + std::to_string(i) + ".png",
                 distinct_png("style " + s + " " + std::to_string(i)));
  for (const auto& l : k_loras)
    for (int i = 1; i <= 2; ++i)
      test::spit(root + "/suites/targets_v1/loras/" + l + "/" + std::to_string(i) + ".png",
                 distinct_png("lora " + l + " " + std::to_string(i)));
  return root + "/experiments/review_v1.toml";
}

using Loaded = test::Planned;
using test::load_and_plan;

const dsl::Section& section(const dsl::Review& r, const std::string& id) {
  for (const auto& s : r.sections)
    if (s.id == id) return s;
  FAIL("no section " << id);
  return r.sections.front();
}

std::string pair(const std::string& a, const std::string& b) { return a + plan::k_field_sep + b; }

}  // namespace

TEST_CASE("review_v1: the protocol as loaded", "[plan][review_v1]") {
  test::TempDir t;
  Loaded l = load_and_plan(write_review_v1(t.path()));
  const dsl::Review& r = l.review;
  CHECK(l.diagnostics.empty());  // no warning: every fixup rule changes something

  CHECK(r.name == "review_v1");
  CHECK(r.seed == 1);
  CHECK(r.generation.backend == "a1111");
  CHECK(r.generation.endpoints == std::vector<std::string>{"http://127.0.0.1:7860"});
  CHECK(r.generation.sampler == "DPM++ 2M Karras");
  CHECK(r.generation.steps == 30);
  CHECK(r.generation.cfg_scale == 6.0);
  CHECK(r.generation.vae == "vae-ft-mse-840000-ema-pruned.safetensors");
  CHECK_FALSE(r.generation.hires);  // only the quality section has the hires fix
  CHECK(r.statistics.bootstrap == 2000);
  CHECK(r.statistics.ci == 0.95);
  CHECK(r.statistics.seed == 0);

  std::vector<std::string> names;
  for (const auto& c : r.checkpoints) names.push_back(c.name);
  CHECK(names == std::vector<std::string>{"ghostmix_v2", "dreamshaper_8", "realistic_vision_v51",
                                          "majicmix_realistic_v7", "revanimated_v122", "meinamix_v11",
                                          "counterfeit_v30", "absolutereality_v181"});
  for (size_t i = 0; i < r.checkpoints.size(); ++i)
    CHECK(fs::path(r.checkpoints[i].file).filename() == k_checkpoint_files[i]);

  REQUIRE(r.sections.size() == 3);
  const dsl::Section& q = section(r, "quality");
  const dsl::Section& s = section(r, "style");
  const dsl::Section& lo = section(r, "lora");
  CHECK(q.metrics == std::vector<std::string>{"aesthetic", "clip_score"});
  CHECK(s.metrics == std::vector<std::string>{"style_loss"});
  CHECK(lo.metrics == std::vector<std::string>{"style_loss"});
  CHECK(q.generation.images_per_prompt() == 32);
  CHECK(s.generation.images_per_prompt() == 32);
  CHECK(lo.generation.images_per_prompt() == 20);
  CHECK(std::make_pair(q.generation.width, q.generation.height) == std::make_pair<int64_t, int64_t>(512, 768));
  CHECK(std::make_pair(s.generation.width, s.generation.height) == std::make_pair<int64_t, int64_t>(512, 512));
  CHECK(std::make_pair(lo.generation.width, lo.generation.height) == std::make_pair<int64_t, int64_t>(512, 768));
  REQUIRE(lo.style_size);
  CHECK(*lo.style_size == std::make_pair<int64_t, int64_t>(512, 768));
  REQUIRE(q.generation.hires);
  CHECK(q.generation.hires->scale == 2.0);
  CHECK(q.generation.hires->upscaler == "4x-UltraSharp");
  CHECK(q.generation.hires->denoising_strength == 0.5);
  CHECK_FALSE(s.generation.hires);
  CHECK_FALSE(lo.generation.hires);

  REQUIRE(q.prompts);
  CHECK(q.prompts->prompts.size() == 30);
  for (const auto& p : q.prompts->prompts) CHECK_FALSE(p.skip);
  REQUIRE(s.styles);
  std::vector<std::string> styles;
  for (const auto& st : s.styles->styles) {
    styles.push_back(st.id);
    CHECK(st.prompts.size() == 4);
    CHECK(st.target_files.size() == static_cast<size_t>(k_targets_per_style));
  }
  CHECK(styles == k_styles);
  REQUIRE(lo.loras);
  std::vector<std::string> loras;
  for (const auto& lr : lo.loras->loras) {
    loras.push_back(lr.id);
    CHECK(lr.showcase.size() == 2);
  }
  CHECK(loras == k_loras);
  CHECK(lo.loras->lora_default_weight == 0.8);
}

TEST_CASE("review_v1: step counts per kind are those of docs/review_v1.md", "[plan][review_v1]") {
  test::TempDir t;
  Loaded l = load_and_plan(write_review_v1(t.path()));
  std::map<std::string, int64_t> count;
  for (const auto& st : l.plan.steps) ++count[plan::kind_name(st.kind)];

  // The formulas of docs/review_v1.md, from the loaded review.
  const int64_t C = static_cast<int64_t>(l.review.checkpoints.size());
  const dsl::Section& q = section(l.review, "quality");
  const dsl::Section& s = section(l.review, "style");
  const dsl::Section& lo = section(l.review, "lora");
  int64_t style_prompts = 0, style_targets = 0, showcases = 0;
  for (const auto& st : s.styles->styles) style_prompts += static_cast<int64_t>(st.prompts.size()), style_targets += static_cast<int64_t>(st.target_files.size());
  for (const auto& lr : lo.loras->loras) showcases += static_cast<int64_t>(lr.showcase.size());
  const int64_t gq = 30 * C * q.generation.images_per_prompt();
  const int64_t gs = style_prompts * C * s.generation.images_per_prompt();
  const int64_t gl = showcases * C * lo.generation.images_per_prompt();
  std::map<std::string, int64_t> formula = {{"generate", gq + gs + gl},
                                            {"image_features", gq + gs + gl},
                                            {"metric", 2 * gq + gs + gl},
                                            {"target_features", style_targets + showcases},
                                            {"text_features", 30},
                                            {"aggregate", 2 + 1 + 1},
                                            {"report", 1}};
  CHECK(count == formula);

  // The numbers written in docs/review_v1.md ("Step counts").
  std::map<std::string, int64_t> doc = {{"generate", 22016},      {"image_features", 22016}, {"metric", 29696},
                                        {"target_features", 68}, {"text_features", 30},     {"aggregate", 4},
                                        {"report", 1}};
  CHECK(count == doc);
  CHECK(static_cast<int64_t>(l.plan.steps.size()) == 73831);

  // Per section, as the doc's protocol table states.
  std::map<std::string, int64_t> gen_by_section;
  for (const auto& st : l.plan.steps)
    if (st.kind == plan::StepKind::generate) ++gen_by_section[*st.find_context("section")];
  CHECK(gen_by_section == std::map<std::string, int64_t>{{"quality", 7680}, {"style", 9216}, {"lora", 5120}});
}

TEST_CASE("review_v1: fixed LoRA prompts and the NoTM pairs of the lora aggregate", "[plan][review_v1]") {
  test::TempDir t;
  Loaded l = load_and_plan(write_review_v1(t.path()));
  const plan::Plan& p = l.plan;

  const plan::Step* agg = nullptr;
  for (const auto& st : p.steps)
    if (st.kind == plan::StepKind::aggregate && st.param("section") == "lora") agg = &st;
  REQUIRE(agg);
  CHECK(agg->param("metric") == "lora_loss");
  CHECK(agg->param("notm") == "exclude_made_with");
  std::vector<std::string> ex;
  for (const auto* e : agg->params_named("notm_exclude")) ex.push_back(*e);
  // suites/loras_16.toml's made_with lists, restricted to the checkpoints under test, in
  // checkpoint order then suite order (anything_v5, chilloutmix, sd_v15, cetusmix_v4 are not
  // under test; ukiyoe and charcoal name nothing).
  CHECK(ex == std::vector<std::string>{
                  pair("ghostmix_v2", "watercolor"),
                  pair("dreamshaper_8", "pixel_sprites"),
                  pair("dreamshaper_8", "papercut"),
                  pair("dreamshaper_8", "claymation"),
                  pair("realistic_vision_v51", "analog_film"),
                  pair("majicmix_realistic_v7", "moxin"),
                  pair("revanimated_v122", "gacha_splash"),
                  pair("revanimated_v122", "papercut"),
                  pair("revanimated_v122", "lowpoly"),
                  pair("revanimated_v122", "blindbox"),
                  pair("meinamix_v11", "gacha_splash"),
                  pair("meinamix_v11", "edgerunners"),
                  pair("counterfeit_v30", "ghibli"),
                  pair("absolutereality_v181", "analog_film"),
              });

  // The rules at work (docs/language.md "Rewriting rules"), one showcase per rule at least.
  std::map<std::string, const plan::PromptRecord*> by_id;
  size_t notm_records = 0;
  std::set<std::string> finals;
  for (const auto& pr : p.prompts) {
    if (pr.section != "lora") continue;
    if (!pr.checkpoint.empty()) {
      ++notm_records;
      continue;
    }
    by_id[pr.id] = &pr;
    finals.insert(pr.final_text);
  }
  CHECK(by_id.size() == 32);
  CHECK(finals.size() == 32);          // every showcase prompt is its own generate step
  CHECK(notm_records == 14 * 2);       // each excluded (checkpoint, LoRA) pair x its 2 showcases
  auto final_of = [&](const std::string& id) { return by_id.count(id) ? by_id.at(id)->final_text : std::string(); };
  auto rules_of = [&](const std::string& id) { return by_id.count(id) ? by_id.at(id)->rules : std::vector<std::string>{}; };
  CHECK(final_of("gacha_splash#0") ==
        "1girl, splash art, (<lora:gachaSplash_v4:0.7>:1.1), dynamic pose, flowing dress, petals, <lora:add_detail:0.8>");
  CHECK(rules_of("gacha_splash#0") == std::vector<std::string>{"swap_version", "add_missing_tags"});
  CHECK(final_of("gacha_splash#1") == "1boy, knight, splash art, full body, <lora:gachaSplash_v4:0.6>, <lora:add_detail:0.3>");
  CHECK(final_of("blindbox#1") ==
        "(blindbox:1.2), chibi astronaut, cute, pastel background, (<lora:blindbox_v2:1>:1.1), <lora:claymation_v1:0.3>");
  CHECK(final_of("moxin#0") ==
        "shuimobysim, a lone boat on a misty river, distant mountains, <lora:Moxin_10:0.8>, <lora:add_detail:0.5>");
  CHECK(rules_of("moxin#0") == std::vector<std::string>{"default_weight", "add_missing_tags"});
  CHECK(final_of("moxin#1") ==
        "shuimobysim, traditional chinese ink painting, pine trees on a cliff, waterfall, <lora:Moxin_10:0.8>");
  CHECK(final_of("analog_film#1") ==
        "analog style, 1970s diner at night, neon, film grain, vignette, <lora:analogFilm_v3:0.8>, <lora:add_detail:0.3>");
  CHECK(final_of("pixel_sprites#1") == "pixel, (pixel art:1.3), a cozy tavern interior, retro, <lora:pixelSprites_v2:0.8:0.6>");
  CHECK(rules_of("pixel_sprites#1").empty());

  // Every tag the webui will read is spelled as A1111 matches it: `<lora:` in lower case, no
  // spaces (a tag no rule rewrites is kept as written).
  for (const auto& f : finals) {
    INFO(f);
    CHECK(f.find("<LoRA") == std::string::npos);
    CHECK(f.find(" :") == std::string::npos);
    CHECK(f.find(": ") == std::string::npos);
  }

  // The generate steps of the lora section carry the fixed prompts, nothing else.
  std::set<std::string> gen_prompts;
  for (const auto& st : p.steps)
    if (st.kind == plan::StepKind::generate && *st.find_context("section") == "lora") gen_prompts.insert(st.param("prompt"));
  CHECK(gen_prompts == finals);
}
