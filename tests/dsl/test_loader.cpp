// Mirrors src/dsl/loader.cpp: every kind of bad input gives FILE:LINE:COL diagnostics, all of a
// file's errors at once; good input gives the typed review.
#include <catch2/catch.hpp>

#include "dsl/loader.h"
#include "support.h"

using namespace ghx;

namespace {

struct Loaded {
  std::optional<dsl::Review> review;
  std::string text;  // all diagnostics, formatted
  size_t errors = 0;
};

Loaded load(const std::string& path) {
  dsl::Diagnostics d;
  Loaded l;
  l.review = dsl::load_review(path, d);
  l.text = d.format_all();
  l.errors = d.error_count();
  return l;
}

/// The small review with `from` replaced by `to` in experiment.toml.
Loaded load_edited(test::TempDir& t, const std::string& from, const std::string& to) {
  std::string exp = test::write_small_review(t.path());
  std::string text = test::read_text(exp);
  auto pos = text.find(from);
  REQUIRE(pos != std::string::npos);
  text.replace(pos, from.size(), to);
  test::write_text(exp, text);
  return load(exp);
}

}  // namespace

TEST_CASE("a valid review loads into typed structs", "[dsl]") {
  test::TempDir t;
  Loaded l = load(test::write_small_review(t.path()));
  INFO(l.text);
  REQUIRE(l.review);
  const dsl::Review& r = *l.review;
  CHECK(r.name == "small");
  CHECK(r.seed == 7);
  CHECK(r.checkpoints.size() == 2);
  CHECK(r.checkpoints[1].backend_name == "beta.safetensors");
  REQUIRE(r.sections.size() == 1);
  const dsl::Section& s = r.sections[0];
  CHECK(s.generation.width == 32);
  CHECK(s.generation.images_per_prompt() == 2);
  CHECK(s.generation.steps == 30);  // default
  REQUIRE(s.styles);
  REQUIRE(s.styles->styles.size() == 2);
  CHECK(s.styles->styles[0].target_files.size() == 2);
  CHECK(r.metrics.style_loss == dsl::StyleLossVariant::ghostreview);
}

TEST_CASE("section keys override [generation]", "[dsl]") {
  test::TempDir t;
  Loaded l = load_edited(t, "metrics = [\"style_loss\"]", "metrics = [\"style_loss\"]\nwidth = 48\nn_iter = 3");
  REQUIRE(l.review);
  CHECK(l.review->sections[0].generation.width == 48);
  CHECK(l.review->sections[0].generation.height == 32);
  CHECK(l.review->sections[0].generation.images_per_prompt() == 6);
}

TEST_CASE("syntax error has the parser's position", "[dsl]") {
  test::TempDir t;
  Loaded l = load_edited(t, "seed = 7", "seed = = 7");
  CHECK_FALSE(l.review);
  CHECK(l.text.find(t.path() + "/experiment.toml:4:") == 0);
  CHECK(l.text.find(": error: ") != std::string::npos);
}

TEST_CASE("unknown key is reported with the nearest valid name", "[dsl]") {
  test::TempDir t;
  Loaded l = load_edited(t, "width = 32", "widht = 32");
  CHECK_FALSE(l.review);
  CHECK(l.text == t.path() + "/experiment.toml:8:1: error: unknown key 'widht' in [generation] (did you mean 'width'?)\n");
}

TEST_CASE("wrong type, negative steps and a 64-bit overflow", "[dsl]") {
  test::TempDir t;
  SECTION("wrong type") {
    Loaded l = load_edited(t, "width = 32", "width = \"32\"");
    CHECK(l.text == t.path() + "/experiment.toml:8:9: error: 'width' must be an integer, not a string\n");
  }
  SECTION("negative steps") {
    Loaded l = load_edited(t, "width = 32", "width = 32\nsteps = -3");
    CHECK(l.text == t.path() + "/experiment.toml:9:9: error: 'steps' = -3 is out of range [1, 10000]\n");
  }
  SECTION("overflow") {
    Loaded l = load_edited(t, "seed = 7", "seed = 99999999999999999999");
    CHECK_FALSE(l.review);
    CHECK(l.text.find(t.path() + "/experiment.toml:4:") == 0);
  }
}

TEST_CASE("missing required keys and duplicate checkpoints", "[dsl]") {
  test::TempDir t;
  SECTION("missing name") {
    Loaded l = load_edited(t, "name = \"small\"\n", "");
    CHECK(l.text == t.path() + "/experiment.toml:1:1: error: missing required key 'name' in [experiment]\n");
  }
  SECTION("duplicate checkpoint") {
    Loaded l = load_edited(t, "name = \"beta\"", "name = \"alpha\"");
    CHECK(l.text == t.path() + "/experiment.toml:18:8: error: duplicate checkpoint name 'alpha'\n");
  }
}

TEST_CASE("missing suite, model and target files name the key's position", "[dsl]") {
  test::TempDir t;
  SECTION("suite") {
    Loaded l = load_edited(t, "styles = \"suite.toml\"", "styles = \"nope.toml\"");
    CHECK(l.text.find(t.path() + "/experiment.toml:26:10: error: style suite not found: 'nope.toml'") == 0);
  }
  SECTION("model") {
    Loaded l = load_edited(t, "models/vgg19.safetensors", "models/missing.safetensors");
    CHECK(l.text.find(t.path() + "/experiment.toml:22:18: error: model file not found") == 0);
  }
  SECTION("targets folder") {
    test::write_small_review(t.path());
    std::string suite = test::read_text(t / "suite.toml");
    suite.replace(suite.find("targets/manga/"), 14, "targets/none/");
    test::write_text(t / "suite.toml", suite);
    Loaded l = load(t / "experiment.toml");
    CHECK(l.text.find(t.path() + "/suite.toml:13:11: error: targets folder not found") == 0);
  }
}

TEST_CASE("empty and binary files", "[dsl]") {
  test::TempDir t;
  test::write_text(t / "empty.toml", "  \n\n");
  CHECK(load(t / "empty.toml").text == t.path() + "/empty.toml:1:1: error: empty file\n");
  test::write_text(t / "bin.toml", std::string("[experiment]\nna\0\x01\xff", 18));
  CHECK(load(t / "bin.toml").text == t.path() + "/bin.toml:2:3: error: binary file (NUL byte), not TOML\n");
  Loaded missing = load(t / "absent.toml");
  CHECK(missing.text == t.path() + "/absent.toml: error: cannot read file\n");
}

TEST_CASE("all errors of a file are reported at once", "[dsl]") {
  test::TempDir t;
  Loaded l = load_edited(t, "width = 32\nheight = 32\nbatch_size = 2", "widht = 32\nheight = -1\nbatch_size = 2.5");
  CHECK_FALSE(l.review);
  CHECK(l.errors == 3);
}

TEST_CASE("duplicate ids and fixups without LoRAs in a suite", "[dsl]") {
  test::TempDir t;
  test::write_small_review(t.path());
  std::string suite = test::read_text(t / "suite.toml");
  suite.replace(suite.find("id = \"manga\""), 12, "id = \"anime\"");
  suite += "\n[[fixup]]\nkind = \"default_weight\"\n";
  test::write_text(t / "suite.toml", suite);
  Loaded l = load(t / "experiment.toml");
  CHECK(l.errors == 2);
  CHECK(l.text.find("suite.toml:11:6: error: duplicate id 'anime'") != std::string::npos);
  CHECK(l.text.find("suite.toml:15:1: error: [[fixup]] rules rewrite LoRA showcase prompts, and this suite has no [[lora]]") != std::string::npos);
}

TEST_CASE("unknown metric and variant", "[dsl]") {
  test::TempDir t;
  SECTION("metric") {
    Loaded l = load_edited(t, "metrics = [\"style_loss\"]", "metrics = [\"style_los\"]");
    CHECK(l.text.find("unknown metric 'style_los' (did you mean 'style_loss'?)") != std::string::npos);
  }
  SECTION("variant") {
    Loaded l = load_edited(t, "[[section]]", "[metrics]\nstyle_loss = { variant = \"gram\" }\n\n[[section]]");
    CHECK(l.text.find("style_loss variant must be 'ghostreview' or 'normalized', not 'gram'") != std::string::npos);
  }
  SECTION("style layers") {
    Loaded l = load_edited(t, "[[section]]", "[metrics]\nstyle_loss = { layers = \"relu\" }\n\n[[section]]");
    INFO(l.text);
    CHECK(l.errors == 1);
    CHECK(l.text.find("experiment.toml:25:25: error: ") != std::string::npos);  // at the value
    CHECK(l.text.find("[metrics] style_loss: style layers must be 'ghostreview', 'gatys', 'tutorial', not 'relu'") !=
          std::string::npos);
    for (const char* name : {"ghostreview", "gatys", "tutorial"}) {
      Loaded ok = load_edited(t, "[[section]]", std::string("[metrics]\nstyle_loss = { layers = \"") + name +
                                                    "\", variant = \"normalized\" }\n\n[[section]]");
      INFO(ok.text);
      REQUIRE(ok.review);
      CHECK(ok.review->metrics.style_layers == name);
      CHECK(ok.review->metrics.style_loss == dsl::StyleLossVariant::normalized);
    }
  }
}

TEST_CASE("statistics: bootstrap is 0 or at least 200 with errors at the value", "[dsl]") {
  test::TempDir t;
  for (const char* b : {"1", "199"}) {
    Loaded l = load_edited(t, "[generation]", std::string("[statistics]\nbootstrap = ") + b + "\n\n[generation]");
    INFO(l.text);
    CHECK_FALSE(l.review);
    CHECK(l.text.find("/experiment.toml:7:13: error: 'bootstrap' = " + std::string(b) +
                      " is too few: 0 (no intervals) or at least 200") != std::string::npos);
  }
  for (const char* b : {"0", "200"}) {
    Loaded l = load_edited(t, "[generation]", std::string("[statistics]\nbootstrap = ") + b + "\n\n[generation]");
    INFO(l.text);
    REQUIRE(l.review);
    CHECK(l.review->statistics.bootstrap == std::stoll(b));
  }
  Loaded d = load(test::write_small_review(t.path()));
  REQUIRE(d.review);
  CHECK(d.review->statistics.bootstrap == 2000);
}

TEST_CASE("CLIP arch: every known name in any spelling, one spelling kept, others must be a config file", "[dsl]") {
  test::TempDir t;
  auto with_arch = [&](const std::string& arch) {
    return load_edited(t, "vgg19 = { file = \"models/vgg19.safetensors\" }",
                       "vgg19 = { file = \"models/vgg19.safetensors\" }\nclip = { file = \"models/vgg19.safetensors\", arch = \"" +
                           arch + "\" }");
  };
  for (const auto& [written, kept] : std::vector<std::pair<std::string, std::string>>{
           {"ViT-L/14-laion2b", "ViT-L/14-laion2b"},  // docs/schema.md's name for GhostReview's CLIP
           {"ViT-L-14-laion2b_s32b_b82k", "ViT-L/14-laion2b"},
           {"vit-l-14", "ViT-L/14"},
           {"ViT-H-14", "ViT-H/14"},
           {"ViT-B/32", "ViT-B/32"}}) {
    Loaded l = with_arch(written);
    INFO(written << ": " << l.text);
    REQUIRE(l.errors == 0);
    CHECK(l.review->models.clip("clip")->arch == kept);
  }
  Loaded bad = with_arch("ViT-Q/99");
  CHECK(bad.text.find("arch is not a known name: ViT-B/32, ViT-L/14, ViT-H/14, ViT-L/14-laion2b") != std::string::npos);
}

TEST_CASE("[cache] remote: an http(s) URL, checked at its position", "[dsl]") {
  test::TempDir t;
  SECTION("valid") {
    Loaded l = load_edited(t, "[generation]", "[cache]\nremote = \"http://cache.lab:8080/ghx/\"\n\n[generation]");
    INFO(l.text);
    REQUIRE(l.review);
    CHECK(l.review->cache_remote == "http://cache.lab:8080/ghx/");
  }
  SECTION("not http") {
    Loaded l = load_edited(t, "[generation]", "[cache]\nremote = \"ftp://x/\"\n\n[generation]");
    CHECK_FALSE(l.review);
    CHECK(l.text.find("error: [cache] remote must be an http:// or https:// URL, not 'ftp://x/'") != std::string::npos);
  }
  SECTION("unknown key") {
    Loaded l = load_edited(t, "[generation]", "[cache]\nremot = \"http://x/\"\n\n[generation]");
    CHECK_FALSE(l.review);
    CHECK(l.text.find("unknown key 'remot' in [cache] (did you mean 'remote'?)") != std::string::npos);
  }
}
