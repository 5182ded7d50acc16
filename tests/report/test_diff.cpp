// Mirrors src/report/diff.cpp: the comparison of two review documents on hand-made documents.
// Each kind of declaration change is detected and named once; identical documents give nothing.
#include <catch2/catch.hpp>

#include <limits>

#include "report/diff.h"
#include "report/markdown.h"

using namespace ghx;
using nlohmann::json;

namespace {

/// A review document in the shape report::review_document writes (only what diff reads).
json review_doc() {
  json gen = {{"backend", "synthetic"},
              {"sampler", "Euler a"},
              {"steps", 30},
              {"cfg_scale", 6.0},
              {"width", 96},
              {"height", 128},
              {"batch_size", 2},
              {"n_iter", 2},
              {"negative_prompt", "lowres"},
              {"vae", ""},
              {"clip_skip", 1},
              {"hires", nullptr}};
  return {
      {"format", 1},
      {"experiment", {{"name", "exp"}, {"version", "1"}, {"seed", 1}, {"description", "d"}}},
      {"checkpoints",
       {{{"name", "alpha"},
         {"identity", "sha256:aaa"},
         {"backend_name", ""},
         {"file", "../m/alpha.safetensors"},
         {"sha256", "aaa"},
         {"autov2", "aaa"}},
        {{"name", "beta"}, {"identity", "backend_name:beta.safetensors"}, {"backend_name", "beta.safetensors"}}}},
      {"models",
       {{"clip",
         {{"file", "../m/clip.safetensors"},
          {"sha256", "c1"},
          {"autov2", "c1"},
          {"arch", "config.sha256:cfg1"},
          {"layout", "hf"}}},
        {"vgg19", {{"file", "../m/vgg.safetensors"}, {"sha256", "v1"}, {"autov2", "v1"}}}}},
      {"metrics", {{"style_loss", "ghostreview"}, {"clip_score", "raw"}}},
      {"statistics", {{"bootstrap", 1000}, {"ci", 0.95}, {"seed", 0}}},
      {"sections",
       {{{"id", "quality"},
         {"metrics", {"aesthetic"}},
         {"generation", gen},
         {"seeds", {1, 2, 3, 4}},
         {"prompts", "../s/q.toml"}},
        {{"id", "lora"},
         {"metrics", {"style_loss"}},
         {"generation", gen},
         {"seeds", {1, 2, 3, 4}},
         {"loras", "../s/l.toml"},
         {"fixups", {{{"kind", "default_weight"}, {"weight", 0.8}}}},
         {"made_with", {{"moxin", {"beta"}}}}}}},
      {"prompts",
       {{{"section", "quality"}, {"id", "q01"}, {"original", "a cat"}, {"final", "a cat"}, {"rules", json::array()}},
        {{"section", "quality"}, {"id", "q02"}, {"original", "a dog"}, {"final", "a dog"}, {"rules", json::array()}},
        {{"section", "lora"},
         {"id", "moxin#0"},
         {"original", "ink <lora:m>"},
         {"final", "ink <lora:m:0.8>"},
         {"rules", {"default_weight"}}}}},
      {"files",
       {{"../m/alpha.safetensors", "aaa"},
        {"../m/clip.safetensors", "c1"},
        {"../m/clip_config.json", "cfg1"},
        {"../m/vgg.safetensors", "v1"},
        {"../s/targets/moxin/1.png", "t1"},
        {"../s/targets/moxin/2.png", "t2"}}},
      {"steps", {{"total", 4}, {"by_kind", {{"generate", 2}, {"metric", 1}, {"report", 1}}}}},
      {"report_key", "k4"},
      {"keys", {"k1", "k2", "k3", "k4"}}};
}

json checkpoint_result(const std::string& name, int rank, double score, double aesthetic, double z, double width) {
  return {{"name", name},
          {"identity", "x"},
          {"rank", rank},
          {"score", score},
          {"notm_excluded", json::array()},
          {"metrics",
           {{"aesthetic", aesthetic},
            {"aesthetic_std", 0.5},
            {"aesthetic.g", aesthetic},
            {"z.aesthetic", z},
            {"z.aesthetic.g", z}}},
          {"ci",
           {{"score", {score - width, score + width}},
            {"aesthetic", {aesthetic - width, aesthetic + width}},
            {"aesthetic.g", {aesthetic - width, aesthetic + width}},
            {"z.aesthetic", {z - width, z + width}}}}};
}

json results_doc() {
  return {{"experiment", {{"name", "exp"}, {"version", "1"}}},
          {"statistics", {{"bootstrap", 1000}, {"ci", 0.95}, {"seed", 0}}},
          {"checkpoints",
           {checkpoint_result("alpha", 1, 0.5, 5.0, 0.5, 0.1), checkpoint_result("beta", 2, -0.5, 4.0, -0.5, 0.1)}}};
}

report::DiffSide side(json review, json results = results_doc()) {
  report::DiffSide s;
  s.source = "reports/x";
  s.kind = "report_folder";
  s.review = std::move(review);
  s.results = std::move(results);
  return s;
}

json diff(const json& a, const json& b) { return report::diff_reviews(side(a), side(b)); }

const json* find_value(const json& d, const std::string& checkpoint, const std::string& metric) {
  for (const auto& c : d["results"]["checkpoints"])
    if (c["name"] == checkpoint)
      for (const auto& v : c["metrics"])
        if (v["metric"] == metric) return &v;
  return nullptr;
}

}  // namespace

TEST_CASE("diff: identical documents report no change", "[diff]") {
  json d = diff(review_doc(), review_doc());
  const json& decl = d["declarations"];
  CHECK(decl["count"] == 0);
  CHECK(decl["experiment"].empty());
  CHECK(decl["metrics"].empty());
  CHECK(decl["statistics"].empty());
  for (const char* cat : {"checkpoints", "models", "sections", "prompts", "files"})
    for (auto it = decl[cat].begin(); it != decl[cat].end(); ++it) CHECK(it->empty());
  CHECK(d["reuse"]["reused"] == 4);
  CHECK(d["reuse"]["new"] == 0);
  CHECK(d["reuse"]["percent"] == 100.0);
  CHECK(d["reuse"]["same_results"] == true);
  CHECK(d["results"]["available"] == true);
  CHECK(d["results"]["checkpoint_set_changed"] == false);
  CHECK(d["results"]["beyond_noise"] == 0);
  CHECK(d["results"]["unchanged_values"] == 6);  // 2 checkpoints x (score, aesthetic, z.aesthetic)
  for (const auto& c : d["results"]["checkpoints"]) CHECK(c["rank_change"] == 0);

  std::string text = report::diff_text(d);
  CHECK(text.find("Declarations: no change") != std::string::npos);
  CHECK(text.find("no change in any value") != std::string::npos);
  CHECK(report::diff_markdown(d).find("No change.") != std::string::npos);
  // Same inputs, same bytes.
  CHECK(report::diff_text(diff(review_doc(), review_doc())) == text);
}

TEST_CASE("diff: experiment, metrics and statistics settings", "[diff]") {
  json b = review_doc();
  b["experiment"]["version"] = "2";
  b["experiment"]["description"] = "other";
  b["metrics"]["style_loss"] = "normalized";
  b["statistics"]["bootstrap"] = 200;
  json d = diff(review_doc(), b)["declarations"];
  CHECK(d["experiment"] ==
        json({{"description", {{"a", "d"}, {"b", "other"}}}, {"version", {{"a", "1"}, {"b", "2"}}}}));
  CHECK(d["metrics"] == json({{"style_loss", {{"a", "ghostreview"}, {"b", "normalized"}}}}));
  CHECK(d["statistics"] == json({{"bootstrap", {{"a", 1000}, {"b", 200}}}}));
  CHECK(d["count"] == 4);
}

TEST_CASE("diff: checkpoints added, removed, replaced, matched by name", "[diff]") {
  json b = review_doc();
  b["checkpoints"][0]["sha256"] = "bbb";  // alpha: other weights under the same name
  b["checkpoints"][0]["identity"] = "sha256:bbb";
  b["checkpoints"][0]["file"] = "../elsewhere/alpha.safetensors";
  b["checkpoints"].erase(1);  // beta removed
  b["checkpoints"].push_back({{"name", "gamma"}, {"identity", "backend_name:g"}, {"backend_name", "g"}});
  b["files"].erase("../m/alpha.safetensors");
  b["files"]["../elsewhere/alpha.safetensors"] = "bbb";
  json d = diff(review_doc(), b)["declarations"];
  CHECK(d["checkpoints"]["added"] == json::array({{{"name", "gamma"}, {"identity", "backend_name:g"}}}));
  CHECK(d["checkpoints"]["removed"] ==
        json::array({{{"name", "beta"}, {"identity", "backend_name:beta.safetensors"}}}));
  REQUIRE(d["checkpoints"]["changed"].size() == 1);
  const json& c = d["checkpoints"]["changed"][0];
  CHECK(c["name"] == "alpha");
  CHECK(c["identity"] == json({{"a", "sha256:aaa"}, {"b", "sha256:bbb"}}));
  CHECK(c["replaced"] == true);
  // A checkpoint's file is compared as the checkpoint, not again under "files".
  CHECK(d["files"]["added"].empty());
  CHECK(d["files"]["removed"].empty());
  CHECK(d["count"] == 3);
  std::string text = report::diff_text(diff(review_doc(), b));
  CHECK(text.find("checkpoint changed: alpha: identity sha256:aaa -> sha256:bbb (file replaced") != std::string::npos);
}

TEST_CASE("diff: a backend_name identity against a server identity compares the name only", "[diff]") {
  // An experiment input is planned without asking the server: its checkpoint keeps
  // "backend_name:..." where the report folder has what the server reported.
  json a = review_doc(), b = review_doc();
  a["checkpoints"][1]["identity"] = "sha256:from_server";
  json d = diff(a, b)["declarations"];
  CHECK(d["checkpoints"]["changed"].empty());
  b["checkpoints"][1]["backend_name"] = "beta_v2.safetensors";
  b["checkpoints"][1]["identity"] = "backend_name:beta_v2.safetensors";
  d = diff(a, b)["declarations"];
  REQUIRE(d["checkpoints"]["changed"].size() == 1);
  CHECK(d["checkpoints"]["changed"][0]["backend_name"] ==
        json({{"a", "beta.safetensors"}, {"b", "beta_v2.safetensors"}}));
  CHECK_FALSE(d["checkpoints"]["changed"][0].contains("identity"));
}

TEST_CASE("diff: models by content, paths alone are no change", "[diff]") {
  json b = review_doc();
  b["models"]["vgg19"]["sha256"] = "v2";
  b["models"]["vgg19"]["autov2"] = "v2";
  b["files"]["../m/vgg.safetensors"] = "v2";
  b["models"]["clip"]["file"] = "../moved/clip.safetensors";  // same content elsewhere
  b["files"].erase("../m/clip.safetensors");
  b["files"]["../moved/clip.safetensors"] = "c1";
  b["models"]["clip"]["arch"] = "config.sha256:cfg2";  // config.json edited
  b["files"]["../m/clip_config.json"] = "cfg2";
  b["models"]["clip"]["layout"] = "openai";
  b["models"]["aesthetic"] = {{"file", "../m/a.safetensors"}, {"sha256", "h1"}, {"clip", "clip"}};
  b["files"]["../m/a.safetensors"] = "h1";
  json d = diff(review_doc(), b)["declarations"];
  CHECK(d["models"]["added"] == json::array({{{"entry", "aesthetic"}, {"sha256", "h1"}}}));
  REQUIRE(d["models"]["changed"].size() == 2);
  CHECK(d["models"]["changed"][0]["entry"] == "clip");
  CHECK(d["models"]["changed"][0]["fields"] ==
        json({{"arch", {{"a", "config.sha256:cfg1"}, {"b", "config.sha256:cfg2"}}},
              {"layout", {{"a", "hf"}, {"b", "openai"}}}}));
  CHECK(d["models"]["changed"][1]["entry"] == "vgg19");
  CHECK(d["models"]["changed"][1]["fields"] == json({{"sha256", {{"a", "v1"}, {"b", "v2"}}}}));
  // Model files and their configs are not reported a second time as files.
  for (auto it = d["files"].begin(); it != d["files"].end(); ++it) CHECK(it->empty());
  CHECK(d["count"] == 4);  // one per value: aesthetic added, clip arch, clip layout, vgg19 sha256
}

TEST_CASE("diff: sections, generation keys, seeds, metrics, fixups, made_with", "[diff]") {
  json b = review_doc();
  json& q = b["sections"][0];
  q["generation"]["sampler"] = "DPM++ 2M Karras";
  q["generation"]["hires"] = {{"scale", 2.0}};
  q["seeds"] = {1, 2, 3, 4, 5, 6, 7, 8};
  q["metrics"] = {"aesthetic", "clip_score"};
  q["prompts"] = "../s/q_copy.toml";  // the suite's path: its prompts are compared instead
  json& l = b["sections"][1];
  l["fixups"] = {{{"kind", "default_weight"}, {"weight", 0.7}}};
  l["made_with"]["moxin"] = {"alpha", "beta"};
  l["made_with"]["gacha"] = json::array();
  b["sections"].push_back({{"id", "style"},
                           {"metrics", {"style_loss"}},
                           {"generation", q["generation"]},
                           {"seeds", {1}},
                           {"style_size", {224, 224}}});
  json d = diff(review_doc(), b)["declarations"];
  CHECK(d["sections"]["added"] == json::array({{{"id", "style"}, {"metrics", {"style_loss"}}}}));
  CHECK(d["sections"]["removed"].empty());
  REQUIRE(d["sections"]["changed"].size() == 2);
  const json& lc = d["sections"]["changed"][0];  // sorted by id: lora, quality
  const json& qc = d["sections"]["changed"][1];
  CHECK(qc["id"] == "quality");
  CHECK(qc["generation"]["sampler"] == json({{"a", "Euler a"}, {"b", "DPM++ 2M Karras"}}));
  CHECK(qc["generation"]["hires"]["a"].is_null());
  CHECK(qc["generation"].size() == 2);
  CHECK(qc["seeds"]["b"].size() == 8);
  CHECK(qc["metrics"] == json({{"a", {"aesthetic"}}, {"b", {"aesthetic", "clip_score"}}}));
  CHECK_FALSE(qc.contains("kind"));
  CHECK(lc["id"] == "lora");
  CHECK(lc["fixups"]["b"][0]["weight"] == 0.7);
  CHECK(lc["made_with"] == json({{"gacha", {{"a", nullptr}, {"b", json::array()}}},
                                 {"moxin", {{"a", {"beta"}}, {"b", {"alpha", "beta"}}}}}));
  // 1 section added; quality: 2 generation keys, seeds, metrics; lora: fixups, 2 made_with entries.
  CHECK(d["count"] == 8);
  std::string text = report::diff_text(diff(review_doc(), b));
  CHECK(text.find("section quality seeds: 4 (1..4) -> 8 (1..8)") != std::string::npos);
  CHECK(text.find("section lora fixups: default_weight 0.8 -> default_weight 0.7") != std::string::npos);
}

TEST_CASE("diff: prompts added, removed, edited (final, suite text, fixup rules)", "[diff]") {
  json b = review_doc();
  b["prompts"][0]["original"] = b["prompts"][0]["final"] = "a black cat";  // q01 edited
  b["prompts"].erase(1);                                                   // q02 removed
  b["prompts"][1]["original"] = "ink <lora:m:0.6>";                        // moxin#0: suite text and rules
  b["prompts"][1]["final"] = "ink <lora:m:0.6>";
  b["prompts"][1]["rules"] = json::array();
  b["prompts"].push_back(
      {{"section", "quality"}, {"id", "q03"}, {"original", "a fox"}, {"final", "a fox"}, {"rules", json::array()}});
  b["prompts"].push_back({{"section", "lora"},
                          {"id", "moxin#0"},
                          {"checkpoint", "beta"},
                          {"original", "ink <lora:m>"},
                          {"final", "ink <lora:m:0.8>"},
                          {"rules", {"default_weight", "exclude_made_with"}}});
  json d = diff(review_doc(), b)["declarations"];
  const json& p = d["prompts"];
  REQUIRE(p["added"].size() == 2);
  CHECK(p["added"][0] ==
        json({{"section", "lora"}, {"id", "moxin#0"}, {"checkpoint", "beta"}, {"text", "ink <lora:m:0.8>"}}));
  CHECK(p["added"][1] == json({{"section", "quality"}, {"id", "q03"}, {"text", "a fox"}}));
  CHECK(p["removed"] == json::array({{{"section", "quality"}, {"id", "q02"}, {"text", "a dog"}}}));
  REQUIRE(p["edited"].size() == 2);
  CHECK(p["edited"][0]["id"] == "moxin#0");
  CHECK(p["edited"][0]["a"] == "ink <lora:m:0.8>");
  CHECK(p["edited"][0]["b"] == "ink <lora:m:0.6>");
  CHECK(p["edited"][0]["original"] == json({{"a", "ink <lora:m>"}, {"b", "ink <lora:m:0.6>"}}));
  CHECK(p["edited"][0]["rules"] == json({{"a", {"default_weight"}}, {"b", json::array()}}));
  // No fixup touched q01: its suite text is its final text, shown once.
  CHECK(p["edited"][1] == json({{"section", "quality"}, {"id", "q01"}, {"a", "a cat"}, {"b", "a black cat"}}));
  CHECK(d["count"] == 5);
}

TEST_CASE("diff: other files by content, a moved file is no change", "[diff]") {
  json b = review_doc();
  b["files"]["../s/targets/moxin/1.png"] = "t1b";  // same path, other content
  b["files"].erase("../s/targets/moxin/2.png");
  b["files"]["../s/targets/moxin/two.png"] = "t2";  // renamed, same content
  b["files"]["../s/targets/moxin/3.png"] = "t3";    // added
  json d = diff(review_doc(), b)["declarations"]["files"];
  CHECK(d["changed"] == json::array({{{"path", "../s/targets/moxin/1.png"}, {"sha256", {{"a", "t1"}, {"b", "t1b"}}}}}));
  CHECK(d["added"] == json::array({{{"path", "../s/targets/moxin/3.png"}, {"sha256", "t3"}}}));
  CHECK(d["removed"].empty());
  CHECK(d["moved"].size() == 1);
  CHECK(diff(review_doc(), b)["declarations"]["count"] == 2);
}

TEST_CASE("diff: reuse counts B's keys that A has, by kind and in the cache when known", "[diff]") {
  json b = review_doc();
  b["keys"] = {"k1", "k2", "k5", "k6"};
  b["report_key"] = "k6";
  report::DiffSide sa = side(review_doc()), sb = side(b);
  json r = report::diff_reviews(sa, sb)["reuse"];
  CHECK(r ==
        json({{"a_steps", 4}, {"b_steps", 4}, {"reused", 2}, {"new", 2}, {"percent", 50.0}, {"same_results", false}}));

  sb.kind = "experiment";
  sb.step_kinds = {{"k1", "generate"}, {"k2", "generate"}, {"k5", "metric"}, {"k6", "report"}};
  sb.cached = std::set<std::string>{"k1", "k2", "k5"};
  sb.cache_dir = "cache";
  r = report::diff_reviews(sa, sb)["reuse"];
  CHECK(r["by_kind"] == json({{"generate", {{"steps", 2}, {"reused", 2}}},
                              {"metric", {{"steps", 1}, {"reused", 0}}},
                              {"report", {{"steps", 1}, {"reused", 0}}}}));
  CHECK(r["cache"]["cached"] == 3);
  CHECK(r["cache"]["to_run"] == 1);
  CHECK(r["cache"]["by_kind"]["report"]["cached"] == 0);
  std::string text = report::diff_text(report::diff_reviews(sa, sb));
  CHECK(text.find("B reuses 2 of 4 steps (50.0%) from A; 2 are new") != std::string::npos);
  CHECK(text.find("the cache (cache) holds 3 of B's 4 steps; 1 to run") != std::string::npos);
}

TEST_CASE("diff: results per checkpoint and headline metric, beyond noise, ranks", "[diff]") {
  json rb = results_doc();
  // alpha: aesthetic up by far more than both intervals; z within noise (intervals overlap).
  rb["checkpoints"][0] = checkpoint_result("alpha", 2, 0.45, 6.0, 0.55, 0.1);
  rb["checkpoints"][1] = checkpoint_result("beta", 3, -0.5, 4.0, -0.5, 0.1);
  rb["checkpoints"].push_back(checkpoint_result("gamma", 1, 0.9, 7.0, 1.0, 0.1));
  json d = report::diff_reviews(side(review_doc()), side(review_doc(), rb))["results"];
  CHECK(d["available"] == true);
  CHECK(d["checkpoint_set_changed"] == true);
  CHECK(d["added"] == json::array({{{"name", "gamma"}, {"rank", 1}}}));
  CHECK(d["removed"].empty());
  REQUIRE(d["checkpoints"].size() == 2);
  CHECK(d["checkpoints"][0]["name"] == "alpha");  // in B's rank order
  CHECK(d["checkpoints"][0]["rank"] == json({{"a", 1}, {"b", 2}}));
  CHECK(d["checkpoints"][0]["rank_change"] == -1);
  CHECK(d["checkpoints"][1]["rank_change"] == -1);

  json full = report::diff_reviews(side(review_doc()), side(review_doc(), rb));
  const json* v = find_value(full, "alpha", "aesthetic");
  REQUIRE(v);
  CHECK((*v)["a"] == 5.0);
  CHECK((*v)["b"] == 6.0);
  CHECK((*v)["delta"] == 1.0);
  CHECK((*v)["ci_a"] == json({4.9, 5.1}));
  CHECK((*v)["beyond_noise"] == true);
  v = find_value(full, "alpha", "z.aesthetic");
  REQUIRE(v);
  CHECK((*v)["beyond_noise"] == false);
  v = find_value(full, "alpha", "score");
  REQUIRE(v);
  CHECK((*v)["beyond_noise"] == false);
  // Group keys and seed spreads are not headline values.
  CHECK_FALSE(find_value(full, "alpha", "aesthetic.g"));
  CHECK_FALSE(find_value(full, "alpha", "aesthetic_std"));
  CHECK_FALSE(find_value(full, "alpha", "z.aesthetic.g"));

  std::string text = report::diff_text(full);
  CHECK(text.find("  1 → 2 ▼1    alpha\n") != std::string::npos);
  CHECK(text.find("  - → 1 new   gamma\n") != std::string::npos);
  CHECK(text.find("the checkpoints under review changed") != std::string::npos);
  std::string md = report::diff_markdown(full);
  CHECK(md.find("| checkpoint | rank A | rank B | change |") != std::string::npos);
  CHECK(md.find("| alpha | 1 | 2 | **▼1** |") != std::string::npos);
  CHECK(md.find("| gamma | - | 1 | new |") != std::string::npos);
  CHECK(md.find("| alpha | aesthetic | 5 | [4.9, 5.1] | 6 | [5.9, 6.1] | +1 | beyond noise |") != std::string::npos);
}

TEST_CASE("diff: ranks that are not small integers have no rank change", "[diff]") {
  // A hand-edited results.json: INT64_MIN - 1 used to overflow (UBSan: signed integer overflow).
  json ra = results_doc(), rb = results_doc();
  ra["checkpoints"][0]["rank"] = std::numeric_limits<int64_t>::min();
  rb["checkpoints"][1]["rank"] = 1.5;
  json full = report::diff_reviews(side(review_doc(), ra), side(review_doc(), rb));
  for (const auto& c : full["results"]["checkpoints"]) CHECK(c["rank_change"].is_null());
  CHECK_FALSE(report::diff_text(full).empty());
  CHECK_FALSE(report::diff_markdown(full).empty());
  // A change of INT64_MIN places (no overflow computing it) is still printed without -INT64_MIN.
  rb = results_doc();
  ra["checkpoints"][0]["rank"] = std::numeric_limits<int64_t>::min();
  rb["checkpoints"][0]["rank"] = 0;
  full = report::diff_reviews(side(review_doc(), ra), side(review_doc(), rb));
  CHECK(report::diff_text(full).find("▼9223372036854775808") != std::string::npos);
}

TEST_CASE("diff: results without intervals or on one side only", "[diff]") {
  json ra = results_doc(), rb = results_doc();
  for (auto& c : rb["checkpoints"]) c.erase("ci");
  rb["checkpoints"][0]["metrics"]["aesthetic"] = 9.0;
  json full = report::diff_reviews(side(review_doc(), ra), side(review_doc(), rb));
  const json* v = find_value(full, "alpha", "aesthetic");
  REQUIRE(v);
  CHECK((*v)["ci_b"].is_null());
  CHECK((*v)["beyond_noise"].is_null());  // unknown, not "no"
  ra["statistics"]["bootstrap"] = rb["statistics"]["bootstrap"] = 0;
  CHECK(report::diff_text(report::diff_reviews(side(review_doc(), ra), side(review_doc(), rb)))
            .find("Results (no intervals: bootstrap = 0)") != std::string::npos);

  report::DiffSide b = side(review_doc(), nullptr);
  b.results_note = "not computed yet in cache c";
  json d = report::diff_reviews(side(review_doc()), b)["results"];
  CHECK(d == json({{"available", false}, {"missing", {{"b", "not computed yet in cache c"}}}}));
  CHECK(report::diff_text(report::diff_reviews(side(review_doc()), b)).find("B: not computed yet in cache c") !=
        std::string::npos);
}

TEST_CASE("diff: text from TOML is escaped in Markdown and kept on one line in the terminal", "[diff]") {
  json b = review_doc();
  b["prompts"][0]["original"] = b["prompts"][0]["final"] = "<script>x</script> | *bold* [link]\nline2 \x1b[31m";
  json d = diff(review_doc(), b);
  std::string md = report::diff_markdown(d);
  CHECK(md.find("<script>") == std::string::npos);
  CHECK(
      md.find("| quality | q01 | a cat | \\<script\\>x\\</script\\> \\| \\*bold\\* \\[link\\]<br>line2 \x1b\\[31m |") !=
      std::string::npos);
  std::string text = report::diff_text(d);
  CHECK(text.find("B: <script>x</script> | *bold* [link]\\nline2 \\x1b[31m\n") != std::string::npos);
  CHECK(report::md_escape("a_b & c\r\nd") == "a\\_b \\& c<br>d");
}

TEST_CASE("diff: a prompt whose negative prompt changed is edited", "[diff]") {
  json a = review_doc();
  a["prompts"][0]["negative"] = "blurry";
  json b = a;
  b["prompts"][0]["negative"] = "blurry, watermark";
  json d = diff(a, b)["declarations"];
  REQUIRE(d["prompts"]["edited"].size() == 1);
  CHECK(d["prompts"]["edited"][0]["negative"] == json({{"a", "blurry"}, {"b", "blurry, watermark"}}));
  CHECK(d["count"] == 1);
  CHECK(report::diff_text(diff(a, b)).find("negative B: blurry, watermark") != std::string::npos);
  CHECK(diff(a, a)["declarations"]["count"] == 0);
}

TEST_CASE("diff: verdicts are Holm-corrected over every value compared", "[diff]") {
  auto with_se = [](json c, double se) {
    c["se"] = {{"score", se}, {"aesthetic", se}, {"z.aesthetic", se}};
    return c;
  };
  json ra = results_doc(), rb = results_doc();
  ra["checkpoints"][0] = with_se(checkpoint_result("alpha", 1, 0.5, 5.0, 0.5, 0.196), 0.1);
  ra["checkpoints"][1] = with_se(checkpoint_result("beta", 2, -0.5, 4.0, -0.5, 0.196), 0.1);
  // every value moves a little, alpha's aesthetic by 0.33
  rb["checkpoints"][0] = with_se(checkpoint_result("alpha", 1, 0.51, 5.33, 0.51, 0.196), 0.1);
  rb["checkpoints"][1] = with_se(checkpoint_result("beta", 2, -0.51, 4.01, -0.51, 0.196), 0.1);
  json full = report::diff_reviews(side(review_doc(), ra), side(review_doc(), rb));
  const json* v = find_value(full, "alpha", "aesthetic");
  REQUIRE(v);
  // alone, 0.33 over a standard error of sqrt(2) * 0.1 is p = 0.0196 (the intervals overlap)
  CHECK((*v)["p"].get<double>() == Approx(0.0196).epsilon(0.01));
  // but six changed values are compared (score, aesthetic, z.aesthetic of two checkpoints)
  CHECK((*v)["p_holm"].get<double>() == Approx(6 * 0.0196).epsilon(0.01));
  CHECK((*v)["verdict"] == "within noise");
  CHECK((*v)["beyond_noise"] == false);

  // an unchanged value is within noise and outside the family: with the others unchanged, the
  // same 0.33 stands alone
  rb["checkpoints"][0] = with_se(checkpoint_result("alpha", 1, 0.5, 5.33, 0.5, 0.196), 0.1);
  rb["checkpoints"][1] = with_se(checkpoint_result("beta", 2, -0.5, 4.0, -0.5, 0.196), 0.1);
  json alone = report::diff_reviews(side(review_doc(), ra), side(review_doc(), rb));
  const json* same = find_value(alone, "beta", "aesthetic");
  REQUIRE(same);
  CHECK((*same)["p"] == 1.0);
  CHECK((*same)["verdict"] == "within noise");
  CHECK((*find_value(alone, "alpha", "aesthetic"))["p_holm"].get<double>() == Approx(0.0196).epsilon(0.01));
  CHECK((*find_value(alone, "alpha", "aesthetic"))["verdict"] == "beyond noise");

  rb["checkpoints"][0] = with_se(checkpoint_result("alpha", 1, 0.5, 6.0, 0.5, 0.196), 0.1);
  json far = report::diff_reviews(side(review_doc(), ra), side(review_doc(), rb));
  v = find_value(far, "alpha", "aesthetic");
  REQUIRE(v);
  CHECK((*v)["verdict"] == "beyond noise");
  CHECK(far["results"]["beyond_noise"] == 1);
  // without se (results written before it) the interval's width gives it: 0.196 = 1.96 * 0.1
  ra["checkpoints"][0].erase("se");
  json old = report::diff_reviews(side(review_doc(), ra), side(review_doc(), rb));
  CHECK((*find_value(old, "alpha", "aesthetic"))["p"].get<double>() ==
        Approx((*find_value(far, "alpha", "aesthetic"))["p"].get<double>()).epsilon(0.01));
}
