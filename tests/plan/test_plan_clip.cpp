// The CLIP-based metrics in the plan: one image embedding per (image, CLIP model) shared by
// aesthetic and clip_score, one text embedding per prompt, preprocessing constants in the keys.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "dsl/loader.h"
#include "models/clip.h"
#include "models/heads.h"
#include "models/tokenizer.h"
#include "plan/plan.h"
#include "support.h"
#include "support/plan_support.h"

using namespace ghx;

namespace {

std::string write_quality_review(test::TempDir& t, const std::string& clip_extra = "") {
  test::write_small_review(t.path());
  int merges = models::write_tiny_bpe_vocab(t / "models/bpe_vocab.txt.gz");
  models::write_tiny_clip(t / "models", 512 + merges + 2);
  models::write_tiny_aesthetic(t / "models", models::clip_config(t / "models/clip_config.json").projection_dim);
  test::write_text(t / "quality.toml", R"([suite]
name = "q"
[[prompt]]
id = "a"
text = "a photo of a cat"
[[prompt]]
id = "b"
text = "an oil painting of a ship"
negative = "blurry"
[[prompt]]
id = "c"
text = "skipped prompt"
skip = true
)");
  std::string exp = test::read_text(t / "experiment.toml");
  exp.replace(exp.find("[models]\n"), 9,
              "[models]\nclip = { file = \"models/clip.safetensors\", arch = \"models/clip_config.json\"" + clip_extra +
                  " }\ntokenizer = \"models/bpe_vocab.txt.gz\"\naesthetic = { file = \"models/aesthetic.safetensors\" }\n");
  exp += "\n[[section]]\nid = \"quality\"\nprompts = \"quality.toml\"\nmetrics = [\"aesthetic\", \"clip_score\"]\n";
  test::write_text(t / "experiment.toml", exp);
  return t / "experiment.toml";
}

plan::Plan plan_of(const std::string& exp) { return test::load_and_plan(exp).plan; }

std::map<std::string, int> count(const plan::Plan& p, plan::StepKind k, const char* param) {
  std::map<std::string, int> m;
  for (const auto& s : p.steps)
    if (s.kind == k) ++m[s.find_param(param) ? *s.find_param(param) : ""];
  return m;
}

}  // namespace

TEST_CASE("aesthetic and clip_score share one image embedding per image", "[plan][clip]") {
  test::TempDir t;
  plan::Plan p = plan_of(write_quality_review(t));
  // quality: 2 prompts (one skipped) x 2 checkpoints x 2 images = 8 images
  auto feats = count(p, plan::StepKind::image_features, "model");
  CHECK(feats["clip"] == 8);
  CHECK(feats["vgg19"] == 12);  // the style section's images
  CHECK(count(p, plan::StepKind::text_features, "model")["clip"] == 2);
  auto metrics = count(p, plan::StepKind::metric, "metric");
  CHECK(metrics["aesthetic"] == 8);
  CHECK(metrics["clip_score"] == 8);
  CHECK(metrics["style_loss"] == 12);
  CHECK(count(p, plan::StepKind::aggregate, "metric").size() == 3);
  for (const auto& s : p.steps) {
    if (s.kind == plan::StepKind::generate) CHECK(s.param("prompt") != "skipped prompt");
    if (s.kind == plan::StepKind::generate && s.param("prompt") == "an oil painting of a ship")
      CHECK(s.param("negative_prompt") == "blurry");
    if (s.kind == plan::StepKind::image_features && s.param("model") == "clip") {
      CHECK(s.param("image_size") == "32");
      CHECK(s.param("mean") == "0.48145467,0.4578275,0.40821072");
      CHECK(s.param("activation") == "quick_gelu");
      CHECK(s.param("arch").rfind("config.sha256:", 0) == 0);
    }
  }
}

TEST_CASE("the activation and the layout are in the CLIP keys", "[plan][clip]") {
  test::TempDir a, b;
  plan::Plan pa = plan_of(write_quality_review(a));
  plan::Plan pb = plan_of(write_quality_review(b, ", activation = \"gelu\""));
  std::set<std::string> ka, kb;
  for (const auto& s : pa.steps) ka.insert(s.key.hex());
  for (const auto& s : pb.steps) kb.insert(s.key.hex());
  size_t changed = 0;
  for (const auto& k : kb) changed += ka.count(k) ? 0 : 1;
  // 8 image embeddings, 2 text embeddings, 16 metrics, 2 aggregates, the report
  CHECK(changed == 8 + 2 + 16 + 2 + 1);
}

TEST_CASE("CLIP metrics need their models", "[dsl][clip]") {
  test::TempDir t;
  std::string exp = write_quality_review(t);
  std::string text = test::read_text(exp);
  text.replace(text.find("tokenizer = "), 12, "# tokenizer = ");
  test::write_text(exp, text);
  dsl::Diagnostics d;
  CHECK_FALSE(dsl::load_review(exp, d));
  CHECK(d.format_all().find("metric 'clip_score' needs [models] tokenizer") != std::string::npos);
}

TEST_CASE("preference models and heads read their own CLIP entry", "[plan][clip]") {
  test::TempDir t;
  std::string exp = write_quality_review(t);
  std::string text = test::read_text(exp);
  // hpsv2: the tiny CLIP again but with gelu (another model as far as keys go); rating: a head
  // over the main CLIP.
  text.replace(text.find("tokenizer = "), 0,
               "hpsv2 = { file = \"models/clip.safetensors\", arch = \"models/clip_config.json\", activation = \"gelu\" }\n"
               "rating = { file = \"models/aesthetic.safetensors\", clip = \"clip\" }\n");
  text.replace(text.find("metrics = [\"aesthetic\", \"clip_score\"]"), 37,
               "metrics = [\"aesthetic\", \"clip_score\", \"hpsv2\", \"rating\"]");
  test::write_text(exp, text);
  plan::Plan p = plan_of(exp);
  std::map<std::string, int> acts;
  for (const auto& s : p.steps)
    if (s.kind == plan::StepKind::image_features && s.param("model") == "clip") ++acts[s.param("activation")];
  CHECK(acts["quick_gelu"] == 8);  // shared by aesthetic, clip_score and rating
  CHECK(acts["gelu"] == 8);        // hpsv2's own
  CHECK(count(p, plan::StepKind::text_features, "activation") == std::map<std::string, int>{{"gelu", 2}, {"quick_gelu", 2}});
  auto metrics = count(p, plan::StepKind::metric, "metric");
  CHECK(metrics["hpsv2"] == 8);
  CHECK(metrics["rating"] == 8);
}

TEST_CASE("a head must name a CLIP entry", "[dsl][clip]") {
  test::TempDir t;
  std::string exp = write_quality_review(t);
  std::string text = test::read_text(exp);
  text.replace(text.find("tokenizer = "), 0, "artifacts = { file = \"models/aesthetic.safetensors\", clip = \"clip_laion\" }\n");
  test::write_text(exp, text);
  dsl::Diagnostics d;
  CHECK_FALSE(dsl::load_review(exp, d));
  CHECK(d.format_all().find("artifacts.clip names 'clip_laion', which is not a CLIP entry of [models]") != std::string::npos);
}
