// LoRA tags and fixup rules (docs/language.md "Rewriting rules") on real-looking showcase prompts.
#include <catch2/catch.hpp>

#include "dsl/loader.h"
#include "dsl/lora.h"
#include "support.h"

using namespace ghx;
using dsl::FixupKind;

namespace {

dsl::Fixup rule(FixupKind k, double w = 0.8, std::string from = "", std::string to = "") {
  dsl::Fixup f;
  f.kind = k;
  f.weight = w;
  f.from = std::move(from);
  f.to = std::move(to);
  f.pos = {"suite.toml", 7, 1};
  return f;
}

dsl::Lora lora(std::string id, std::string tag, std::vector<std::string> made_with = {}) {
  dsl::Lora l;
  l.id = std::move(id);
  l.tag = std::move(tag);
  l.made_with = std::move(made_with);
  return l;
}

dsl::Showcase show(std::string prompt, std::vector<dsl::LoraUse> uses = {}) {
  dsl::Showcase s;
  s.prompt = std::move(prompt);
  s.uses = std::move(uses);
  return s;
}

}  // namespace

TEST_CASE("lora tags: the three forms, odd spacing, case, nesting", "[lora]") {
  std::string p = "shuimobysim, (<lora:Moxin_10:0.6>:1.2), < LoRA : detail_tweaker : -0.5 >, <lora:ink:0.8:0.4>, "
                  "<lora:bare>, <lora:>, <notlora:x:1>, <lora:x:abc>, 3 < 4 <lora:last:1.0>";
  auto tags = dsl::find_lora_tags(p);
  REQUIRE(tags.size() == 6);
  CHECK(tags[0].name == "Moxin_10");
  CHECK(tags[0].weights == std::vector<double>{0.6});
  CHECK(p.substr(tags[0].begin, tags[0].end - tags[0].begin) == "<lora:Moxin_10:0.6>");
  CHECK(tags[1].name == "detail_tweaker");
  CHECK(tags[1].weights == std::vector<double>{-0.5});
  CHECK(tags[2].weights == std::vector<double>{0.8, 0.4});
  CHECK(tags[3].name == "bare");
  CHECK(tags[3].params.empty());
  CHECK(tags[4].name == "x");
  CHECK_FALSE(tags[4].numeric());  // "abc" is kept as written
  CHECK(tags[5].name == "last");
  CHECK(dsl::has_lora_tag(p, "MOXIN_10"));
  CHECK_FALSE(dsl::has_lora_tag(p, "moxin"));
  CHECK(dsl::format_lora_tag("a", tags[2]) == "<lora:a:0.8:0.4>");
  CHECK(dsl::format_lora_tag("a", tags[5]) == "<lora:a:1>");
  CHECK(dsl::append_lora_tag("a cat, , ", "x", 0.65) == "a cat, <lora:x:0.65>");
  CHECK(dsl::append_lora_tag("  ", "x", 1) == "<lora:x:1>");
}

TEST_CASE("swap_version renames inside a weighted tag and keeps the weight and the text", "[lora]") {
  dsl::Suite s;
  s.loras = {lora("gacha", "gachaSplash_v4")};
  s.fixups = {rule(FixupKind::swap_version, 0.8, "gachasplash_V3", "gachaSplash_v4")};
  auto fp = dsl::apply_fixups(s, s.loras[0], show("1girl, splash art, (<lora:gachaSplash_v3 : 0.70>:1.2), <lora:GachaSplash_V3>"));
  CHECK(fp.final_text == "1girl, splash art, (<lora:gachaSplash_v4:0.7>:1.2), <lora:gachaSplash_v4>");
  CHECK(fp.rules == std::vector<std::string>{"swap_version"});
  CHECK(fp.original == "1girl, splash art, (<lora:gachaSplash_v3 : 0.70>:1.2), <lora:GachaSplash_V3>");
}

TEST_CASE("default_weight fills bare tags and appends the LoRA's own tag when missing", "[lora]") {
  dsl::Suite s;
  s.loras = {lora("moxin", "Moxin_10"), lora("detail", "add_detail")};
  s.fixups = {rule(FixupKind::default_weight, 0.8)};
  // A tag without weight, another LoRA's tag with weight: only the bare one changes.
  auto a = dsl::apply_fixups(s, s.loras[0], show("shuimobysim, a lone boat, <lora:moxin_10>, <lora:add_detail:0.5>"));
  CHECK(a.final_text == "shuimobysim, a lone boat, <lora:moxin_10:0.8>, <lora:add_detail:0.5>");
  CHECK(a.rules == std::vector<std::string>{"default_weight"});
  // The LoRA's own tag is missing: appended after trimming trailing commas and spaces.
  auto b = dsl::apply_fixups(s, s.loras[0], show("shuimobysim, mountains,  "));
  CHECK(b.final_text == "shuimobysim, mountains, <lora:Moxin_10:0.8>");
  // Nothing to do: no rule recorded, text untouched byte for byte.
  auto c = dsl::apply_fixups(s, s.loras[0], show("shuimobysim,  <lora:Moxin_10:1>"));
  CHECK(c.final_text == "shuimobysim,  <lora:Moxin_10:1>");
  CHECK(c.rules.empty());
}

TEST_CASE("add_missing_tags appends the showcase's other LoRAs with their weights, never twice", "[lora]") {
  dsl::Suite s;
  s.lora_default_weight = 0.65;
  s.loras = {lora("moxin", "Moxin_10"), lora("ink", "inkwash"), lora("detail", "add_detail")};
  s.fixups = {rule(FixupKind::add_missing_tags)};
  dsl::LoraUse ink{"ink", std::nullopt, {}}, detail{"detail", 0.5, {}};
  auto fp = dsl::apply_fixups(s, s.loras[0], show("<lora:Moxin_10:0.8>, <LORA:INKWASH:0.3>, river", {ink, detail}));
  CHECK(fp.final_text == "<lora:Moxin_10:0.8>, <LORA:INKWASH:0.3>, river, <lora:add_detail:0.5>");
  auto fp2 = dsl::apply_fixups(s, s.loras[0], show("<lora:Moxin_10:0.8>, river", {ink, detail}));
  CHECK(fp2.final_text == "<lora:Moxin_10:0.8>, river, <lora:inkwash:0.65>, <lora:add_detail:0.5>");
  CHECK(fp2.rules == std::vector<std::string>{"add_missing_tags"});
}

TEST_CASE("rules apply in the order written, several LoRAs in one prompt", "[lora]") {
  dsl::Suite s;
  s.loras = {lora("gacha", "gachaSplash_v4"), lora("detail", "add_detail")};
  dsl::LoraUse detail{"detail", std::nullopt, {}};
  s.fixups = {rule(FixupKind::swap_version, 0.8, "gachaSplash_v3", "gachaSplash_v4"), rule(FixupKind::default_weight, 1.0),
              rule(FixupKind::add_missing_tags)};
  auto fp = dsl::apply_fixups(s, s.loras[0], show("<lora:gachaSplash_v3>, <lora:more_details>, 1girl", {detail}));
  CHECK(fp.final_text == "<lora:gachaSplash_v4:1>, <lora:more_details:1>, 1girl, <lora:add_detail:0.8>");
  CHECK(fp.rules == std::vector<std::string>{"swap_version", "default_weight", "add_missing_tags"});
  // Reversed order: default_weight runs while the prompt still names v3, so it appends the v4
  // tag, and the swap then makes a second one. Order matters: swap_version belongs first.
  std::swap(s.fixups[0], s.fixups[1]);
  auto fq = dsl::apply_fixups(s, s.loras[0], show("<lora:gachaSplash_v3>, 1girl"));
  CHECK(fq.final_text == "<lora:gachaSplash_v4:1>, 1girl, <lora:gachaSplash_v4:1>");
  CHECK(fq.rules == std::vector<std::string>{"default_weight", "swap_version"});
}

TEST_CASE("NoTM excludes exactly the (checkpoint, LoRA) pairs named in made_with", "[lora]") {
  dsl::Suite s;
  s.loras = {lora("moxin", "Moxin_10", {"majicmix_realistic", "ghostmix_v2"}), lora("ink", "inkwash", {"not_under_test"}),
             lora("plain", "plain")};
  std::vector<std::string> cks = {"ghostmix_v2", "dreamshaper_8", "majicmix_realistic"};
  CHECK(dsl::notm_exclusions(s, cks).empty());  // no exclude_made_with rule: no NoTM
  s.fixups = {rule(FixupKind::exclude_made_with)};
  auto ex = dsl::notm_exclusions(s, cks);
  using P = std::pair<std::string, std::string>;
  CHECK(ex == std::vector<P>{P{"ghostmix_v2", "moxin"}, P{"majicmix_realistic", "moxin"}});
}

TEST_CASE("a rule that changes nothing is a warning naming the rule and its position", "[lora]") {
  dsl::Suite s;
  s.name = "loras";
  s.loras = {lora("moxin", "Moxin_10", {"elsewhere"})};
  s.loras[0].showcase = {show("<lora:Moxin_10:0.8>, river")};
  s.fixups = {rule(FixupKind::swap_version, 0.8, "old", "new"), rule(FixupKind::default_weight),
              rule(FixupKind::exclude_made_with)};
  s.fixups[1].pos.line = 12;
  s.fixups[2].pos.line = 15;
  dsl::Diagnostics d;
  dsl::warn_unused_fixups(s, {"ghostmix_v2"}, d);
  std::string out = d.format_all();
  CHECK_FALSE(d.has_errors());
  CHECK(out.find("suite.toml:7:1: warning: fixup swap_version (old -> new) changed no prompt") != std::string::npos);
  CHECK(out.find("suite.toml:12:1: warning: fixup default_weight changed no prompt") != std::string::npos);
  CHECK(out.find("suite.toml:15:1: warning: fixup exclude_made_with excludes nothing") != std::string::npos);
  // Once the rules do something, no warning.
  s.loras[0].showcase[0].prompt = "<lora:old>, river";
  s.loras[0].made_with = {"ghostmix_v2"};
  dsl::Diagnostics d2;
  dsl::warn_unused_fixups(s, {"ghostmix_v2"}, d2);
  CHECK(d2.all().empty());
}

TEST_CASE("LoRA suites load with defaults, showcase, uses and fixups, errors have positions", "[lora][loader]") {
  test::TempDir dir;
  test::spit(dir.path() + "/a.png", "x");
  test::spit(dir.path() + "/suite.toml", R"([suite]
name = "loras"
[lora_defaults]
weight = 0.7
[[lora]]
id = "moxin"
tag = "Moxin_10"
made_with = ["ghostmix_v2"]
[[lora.showcase]]
image = "a.png"
prompt = "boat <lora:Moxin_10>"
negative = "blurry"
uses = [{ lora = "detail" }, { lora = "detail", weight = -0.5 }]
[[lora]]
id = "detail"
[[fixup]]
kind = "default_weight"
[[fixup]]
kind = "swap_version"
from = "a"
to = "b"
)");
  dsl::Diagnostics d;
  auto s = dsl::load_suite(dir.path() + "/suite.toml", d);
  REQUIRE(s);
  CHECK(s->lora_default_weight == 0.7);
  REQUIRE(s->loras.size() == 2);
  CHECK(s->loras[1].tag == "detail");  // tag defaults to the id
  const auto& sc = s->loras[0].showcase.at(0);
  CHECK(sc.negative == std::optional<std::string>("blurry"));
  REQUIRE(sc.uses.size() == 2);
  CHECK_FALSE(sc.uses[0].weight);
  CHECK(sc.uses[1].weight == std::optional<double>(-0.5));
  REQUIRE(s->fixups.size() == 2);
  CHECK(s->fixups[0].weight == 0.7);  // the rule's weight defaults to [lora_defaults]
  CHECK(s->fixups[1].from == "a");

  test::spit(dir.path() + "/bad.toml", R"([suite]
name = "bad"
[[lora]]
id = "moxin"
[[lora.showcase]]
image = "missing.png"
prompt = "x"
uses = [{ lora = "moxn" }]
[[fixup]]
kind = "swap_verison"
[[fixup]]
kind = "swap_version"
from = "a"
)");
  dsl::Diagnostics e;
  CHECK_FALSE(dsl::load_suite(dir.path() + "/bad.toml", e));
  std::string out = e.format_all();
  CHECK(out.find("bad.toml:6:9: error: showcase image not found: 'missing.png'") != std::string::npos);
  CHECK(out.find("bad.toml:8:9: error: 'uses' names LoRA 'moxn'") != std::string::npos);
  CHECK(out.find("(did you mean 'moxin'?)") != std::string::npos);
  CHECK(out.find("bad.toml:10:8: error: unknown fixup kind 'swap_verison'") != std::string::npos);
  CHECK(out.find("bad.toml:11:1: error: missing required key 'to' in [[fixup]] swap_version") != std::string::npos);
}

TEST_CASE("a final prompt with a tag A1111 cannot read is a warning", "[lora]") {
  dsl::Suite s;
  s.loras = {lora("moxin", "Moxin_10")};
  s.loras[0].showcase = {show("river, < LoRA:Moxin_10 : 0.6>"), show("<lora:Moxin_10:0.6>, river")};
  s.loras[0].showcase[0].pos = {"s.toml", 9, 1};
  dsl::Diagnostics d;
  dsl::warn_unreadable_tags(s, d);
  REQUIRE(d.all().size() == 1);
  CHECK(d.format_all().find("s.toml:9:1: warning: LoRA 'moxin': tag '< LoRA:Moxin_10 : 0.6>' is not written as A1111 "
                            "reads tags ('<lora:Moxin_10:0.6>')") != std::string::npos);
  // A rule that rewrites the tag writes it canonically: no warning left.
  s.fixups = {rule(FixupKind::swap_version, 0.8, "moxin_10", "Moxin_10")};
  dsl::Diagnostics d2;
  dsl::warn_unreadable_tags(s, d2);
  CHECK(d2.all().empty());
}
