// GhostReview CSV import (dsl/csv_import.h, `ghx suite import`): the RFC 4180 reader's edge
// cases, the suite TOML it writes read back through dsl::load_suite, every error with its
// physical line, and the command end to end.
#include <catch2/catch.hpp>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "dsl/csv_import.h"
#include "dsl/loader.h"
#include "support.h"

using namespace ghx;

namespace {

std::vector<std::vector<std::string>> rows_of(const std::string& text) {
  dsl::Diagnostics d;
  auto recs = dsl::parse_csv(text, "t.csv", d);
  INFO(d.format_all());
  REQUIRE(recs);
  std::vector<std::vector<std::string>> out;
  for (const auto& r : *recs) {
    out.emplace_back();
    for (const auto& f : r.fields) out.back().push_back(f.text);
  }
  return out;
}

struct Imported {
  std::optional<dsl::CsvImport> result;
  std::string diags;
  size_t errors = 0;
};

Imported import_text(const std::string& text, const std::string& name = "suite") {
  dsl::Diagnostics d;
  Imported i;
  i.result = dsl::import_csv_text(text, "t.csv", name, d);
  i.diags = d.format_all();
  i.errors = d.error_count();
  return i;
}

/// Writes the import of `csv` as DIR/suite.toml, creates its showcase images, and loads it back.
std::optional<dsl::Suite> round_trip(const test::TempDir& t, const std::string& csv_path) {
  dsl::Diagnostics d;
  auto r = dsl::import_csv(csv_path, "rt", d);
  INFO(d.format_all());
  REQUIRE(r);
  test::write_text(t / "suite.toml", r->toml);
  for (const auto& img : r->images) test::write_text(t / img, "any bytes: the loader only checks existence");
  dsl::Diagnostics ld;
  auto s = dsl::load_suite(t / "suite.toml", ld);
  INFO(r->toml);
  INFO(ld.format_all());
  REQUIRE(s);
  return s;
}

std::string fixture(const std::string& name) { return std::string(GHX_TEST_DATA) + "/csv/" + name; }

}  // namespace

TEST_CASE("csv: quoted fields keep commas, doubled quotes and newlines", "[csv]") {
  auto rows = rows_of("Prompt,NegativePrompt\n\"a, b\",\"say \"\"hi\"\"\"\n\"line 1\nline 2\",plain\n");
  REQUIRE(rows.size() == 3);
  CHECK(rows[0] == std::vector<std::string>{"Prompt", "NegativePrompt"});
  CHECK(rows[1] == std::vector<std::string>{"a, b", "say \"hi\""});
  CHECK(rows[2] == std::vector<std::string>{"line 1\nline 2", "plain"});
  // A quote is special only at the start of a field; text after a closing quote is kept
  // (Python's csv module reads these the same way).
  CHECK(rows_of("a\"b,\"c\"d\n")[0] == std::vector<std::string>{"a\"b", "cd"});
  CHECK(rows_of("\"\"\"\",\"\"\n")[0] == std::vector<std::string>{"\"", ""});
}

TEST_CASE("csv: CRLF, LF, lone CR and a UTF-8 BOM read the same", "[csv]") {
  auto lf = rows_of("Prompt,Skip\n\"x\ny\",1\nz,\n");
  CHECK(rows_of("Prompt,Skip\r\n\"x\r\ny\",1\r\nz,\r\n") == lf);
  CHECK(rows_of("Prompt,Skip\r\"x\ry\",1\rz,\r") == lf);
  CHECK(rows_of("\xEF\xBB\xBFPrompt,Skip\n\"x\ny\",1\nz,") == lf);
  // The BOM takes no column.
  dsl::Diagnostics d;
  auto recs = dsl::parse_csv(
      "\xEF\xBB\xBF"
      "Prompt,Skip\n",
      "t.csv", d);
  REQUIRE(recs);
  CHECK((*recs)[0].fields[1].pos.col == 8);
}

TEST_CASE("csv: trailing empty fields count, blank lines are skipped", "[csv]") {
  auto rows = rows_of("Prompt,NegativePrompt,Skip\n\na,,\n   \n,,\nb,\"\",\n\n");
  REQUIRE(rows.size() == 3);
  CHECK(rows[1] == std::vector<std::string>{"a", "", ""});
  CHECK(rows[2] == std::vector<std::string>{"b", "", ""});
  // No final line end: the last field is still read.
  CHECK(rows_of("Prompt\nlast")[1] == std::vector<std::string>{"last"});
}

TEST_CASE("csv: positions are physical lines and code-point columns", "[csv]") {
  dsl::Diagnostics d;
  auto recs = dsl::parse_csv("Prompt,Skip\n\"two\nlines\",x\nnaïve café,no\n", "t.csv", d);
  REQUIRE(recs);
  REQUIRE(recs->size() == 3);
  CHECK((*recs)[1].pos.line == 2);
  CHECK((*recs)[1].fields[1].pos.line == 3);
  CHECK((*recs)[1].fields[1].pos.col == 8);
  CHECK((*recs)[2].pos.line == 4);
  CHECK((*recs)[2].fields[1].pos.col == 12);
}

TEST_CASE("csv import: header names ignore case and spaces, unknown columns warn", "[csv]") {
  auto i = import_text(" prompt , NEGATIVEPROMPT,Negative Prompt2,Seed,skip\nhello,neg,?,42,YES\n");
  INFO(i.diags);
  REQUIRE(i.result);
  CHECK(i.diags ==
        "t.csv:1:1: warning: unknown columns 'Negative Prompt2', 'Seed' ignored (known: Prompt, "
        "NegativePrompt, Skip, LoRA, Add)\n");
  CHECK(i.result->toml.find("text = \"hello\"\nnegative = \"neg\"\nskip = true\n") != std::string::npos);
  // Inner spaces, '_' and '-' are ignored too.
  auto j = import_text("Prompt,negative_prompt\na,b\n");
  CHECK(j.diags.empty());
  CHECK(j.result->toml.find("negative = \"b\"") != std::string::npos);
}

TEST_CASE("csv import: prompt rows become [[prompt]] tables with p01 ids", "[csv]") {
  auto i = import_text("Prompt,NegativePrompt,Skip\nfirst,,\nsecond, ,no\n", "my suite");
  REQUIRE(i.result);
  CHECK(i.result->toml ==
        "# Imported from t.csv by `ghx suite import`.\n"
        "[suite]\nname = \"my suite\"\n"
        "\n[[prompt]]\nid = \"p01\"\ntext = \"first\"\n"
        "\n[[prompt]]\nid = \"p02\"\ntext = \"second\"\n");
  CHECK(i.result->prompts == 2);
  CHECK(i.result->loras == 0);
  CHECK(i.result->images.empty());
  // Ids are as wide as the count needs.
  std::string csv = "Prompt\n";
  for (int n = 0; n < 100; ++n) csv += "prompt " + std::to_string(n) + "\n";
  auto w = import_text(csv);
  REQUIRE(w.result);
  CHECK(w.result->toml.find("id = \"p001\"") != std::string::npos);
  CHECK(w.result->toml.find("id = \"p100\"") != std::string::npos);
  // Skip spellings, case-insensitive.
  auto s = import_text("Prompt,Skip\na,TRUE\nb,1\nc,Yes\nd,X\ne,False\nf,0\ng,NO\nh,\n");
  REQUIRE(s.result);
  size_t skips = 0;
  for (size_t p = s.result->toml.find("skip = true"); p != std::string::npos;
       p = s.result->toml.find("skip = true", p + 1))
    ++skips;
  CHECK(skips == 4);
}

TEST_CASE("csv import: TOML strings are escaped and read back unchanged", "[csv]") {
  CHECK(dsl::toml_quote("a\"b\\c\nd\te\x01\x7f"
                        "é") == "\"a\\\"b\\\\c\\nd\\te\\u0001\\u007Fé\"");
  test::TempDir t;
  std::string tricky = "C:\\path \"quoted\" \xE2\x80\x94 \xF0\x9F\x8E\xA8 tab\there\nnew line \x01 '''";
  test::write_text(t / "tricky.csv", "Prompt,NegativePrompt\n\"" +
                                         std::string("C:\\path \"\"quoted\"\" \xE2\x80\x94 ") +
                                         "\xF0\x9F\x8E\xA8 tab\there\r\nnew line \x01 '''\",\"\"\"\"\n");
  auto s = round_trip(t, t / "tricky.csv");
  REQUIRE(s->prompts.size() == 1);
  CHECK(s->prompts[0].text == tricky);
  CHECK(s->prompts[0].negative == std::optional<std::string>("\""));
}

TEST_CASE("csv import: quality.csv loads back to the same prompts", "[csv]") {
  test::TempDir t;
  auto s = round_trip(t, fixture("quality.csv"));
  CHECK(s->name == "rt");
  REQUIRE(s->prompts.size() == 6);
  const auto& p = s->prompts;
  CHECK(p[0].id == "p01");
  CHECK(p[0].text == "masterpiece, best quality, 1girl, silver hair, looking at viewer");
  CHECK(p[0].negative == std::optional<std::string>("lowres, bad anatomy, bad hands"));
  CHECK(p[1].text == "a lighthouse on a cliff at dusk, dramatic clouds, \"golden hour\" lighting");
  CHECK(!p[1].negative);
  CHECK(p[2].text == "portrait of an old fisherman,\nweathered skin, knitted cap,\n35mm photo");
  CHECK(p[2].negative == std::optional<std::string>("cartoon, painting"));
  CHECK(p[3].text == "cyberpunk street market, neon signs, rain, (<lora:x:0.6>:1.2)");
  CHECK(p[4].skip);
  CHECK(p[5].id == "p06");
  CHECK(p[5].text == "ink wash painting of a bamboo forest in mist");
  size_t skipped = 0;
  for (const auto& q : p) skipped += q.skip;
  CHECK(skipped == 1);
}

TEST_CASE("csv import: loras.csv loads back to the same LoRAs, showcases and uses", "[csv]") {
  test::TempDir t;
  auto s = round_trip(t, fixture("loras.csv"));
  REQUIRE(s->prompts.size() == 1);
  CHECK(s->prompts[0].text == "a quiet harbour at dawn, no LoRA on this row");
  REQUIRE(s->loras.size() == 4);
  const dsl::Lora& moxin = s->loras[0];
  CHECK(moxin.id == "moxin_10");
  CHECK(moxin.tag == "Moxin_10");  // the first spelling wins over "moxin_10"
  REQUIRE(moxin.showcase.size() == 2);
  CHECK(moxin.showcase[0].prompt == "shuimobysim, a lone boat on a misty river, <lora:Moxin_10:0.8>");
  CHECK(moxin.showcase[0].negative == std::optional<std::string>("lowres"));
  CHECK(moxin.showcase[0].image == t / "targets/loras/moxin_10/1.png");
  CHECK(moxin.showcase[0].uses.empty());
  const auto& uses = moxin.showcase[1].uses;
  REQUIRE(uses.size() == 2);
  CHECK(uses[0].lora == "inkwash");
  CHECK(!uses[0].weight);
  CHECK(uses[1].lora == "add_detail");
  CHECK(uses[1].weight == std::optional<double>(0.5));
  const dsl::Lora& gacha = s->loras[1];
  CHECK(gacha.id == "gachasplash_v4");
  CHECK(gacha.tag == "gachaSplash_v4");
  REQUIRE(gacha.showcase.size() == 2);
  CHECK(!gacha.showcase[0].skip);
  CHECK(gacha.showcase[1].skip);
  CHECK(gacha.showcase[1].image == t / "targets/loras/gachasplash_v4/2.png");
  REQUIRE(gacha.showcase[1].uses.size() == 1);
  CHECK(gacha.showcase[1].uses[0].weight == std::optional<double>(0.3));
  // LoRAs named only in Add: after the others, first-seen order, no showcase.
  CHECK(s->loras[2].id == "inkwash");
  CHECK(s->loras[2].tag == "InkWash");
  CHECK(s->loras[2].showcase.empty());
  CHECK(s->loras[3].id == "add_detail");
}

TEST_CASE("csv import: LoRA ids, their dedupe, and every Add form", "[csv]") {
  auto i = import_text(
      "Prompt,LoRA,Add\n"
      "a,My LoRA.v2,\"<lora:Other:0.25>, < lora : Third >, Fourth:1, fifth\"\n"
      "b,my_lora_v2,<lora:My LoRA.v2:2> <lora:p01:-0.5>\n"
      "c,my lora.V2,\n"
      "plain prompt,,\n");
  INFO(i.diags);
  REQUIRE(i.result);
  const std::string& t = i.result->toml;
  // "My LoRA.v2" and "my lora.V2" are one LoRA; "my_lora_v2" is another with the same id stem;
  // "p01" must not take the prompt's id.
  CHECK(t.find("[[lora]]\nid = \"my_lora_v2\"\ntag = \"My LoRA.v2\"\n") != std::string::npos);
  CHECK(t.find("[[lora]]\nid = \"my_lora_v2_2\"\ntag = \"my_lora_v2\"\n") != std::string::npos);
  CHECK(t.find("[[lora]]\nid = \"p01_2\"\ntag = \"p01\"\n") != std::string::npos);
  CHECK(
      t.find("uses = [{ lora = \"other\", weight = 0.25 }, { lora = \"third\" }, { lora = \"fourth\", weight = 1.0 }, "
             "{ lora = \"fifth\" }]\n") != std::string::npos);
  CHECK(t.find("uses = [{ lora = \"my_lora_v2\", weight = 2.0 }, { lora = \"p01_2\", weight = -0.5 }]\n") !=
        std::string::npos);
  CHECK(t.find("image = \"targets/loras/my_lora_v2/2.png\"\nprompt = \"c\"") != std::string::npos);
  CHECK(i.result->loras == 7);
  CHECK(i.result->showcase == 3);
  CHECK(i.result->images == std::vector<std::string>{"targets/loras/my_lora_v2/1.png", "targets/loras/my_lora_v2/2.png",
                                                     "targets/loras/my_lora_v2_2/1.png"});
  // Deterministic.
  CHECK(import_text("Prompt,LoRA,Add\na,x,\"y:0.5, z\"\n").result->toml ==
        import_text("Prompt,LoRA,Add\na,x,\"y:0.5, z\"\n").result->toml);
}

TEST_CASE("csv import: Add oddities are warnings", "[csv]") {
  auto i = import_text("Prompt,LoRA,Add\na,x,\"x, y, Y\"\nb,,y\n");
  REQUIRE(i.result);
  CHECK(i.errors == 0);
  CHECK(i.diags.find("t.csv:2:5: warning: Add names the row's own LoRA 'x'; left out") != std::string::npos);
  CHECK(i.diags.find("t.csv:2:5: warning: Add names LoRA 'Y' twice; the first is kept") != std::string::npos);
  CHECK(i.diags.find("t.csv:3:4: warning: Add is ignored on a row without LoRA") != std::string::npos);
  CHECK(i.result->toml.find("uses = [{ lora = \"y\" }]") != std::string::npos);
}

TEST_CASE("csv import: every error names FILE:LINE:COL of the record", "[csv]") {
  struct Case {
    const char* what;
    std::string csv;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"empty file", "", "t.csv:1:1: error: empty file: a header row with a 'Prompt' column is needed"},
      {"missing Prompt column", "\nText,Skip\nfoo,\n", "t.csv:2:1: error: the header row has no 'Prompt' column"},
      {"unterminated quote", "Prompt\nok\n\"never closed,\nmore\n",
       "t.csv:3:1: error: unterminated quoted field (the closing '\"' is missing)"},
      {"more fields than the header", "Prompt,Skip\n\"a\nb\",,extra\n",
       "t.csv:3:5: error: this row has 3 fields, the header only 2"},
      {"empty Prompt", "Prompt,NegativePrompt\nok,\n\"two\nlines\",\n  ,neg\n", "t.csv:5:1: error: empty Prompt"},
      {"bad Skip", "Prompt,Skip\nok,maybe\n", "t.csv:2:4: error: bad Skip value 'maybe'"},
      {"bad Add weight", "Prompt,LoRA,Add\nx,foo,<lora:bar:abc>\n",
       "t.csv:2:7: error: bad Add reference '<lora:bar:abc>': weight 'abc' is not a number"},
      {"bad Add tag", "Prompt,LoRA,Add\nx,foo,\"ok, <lora:bar:0.5\"\n",
       "t.csv:2:7: error: bad Add reference '<lora:bar:0.5': missing '>'"},
      {"Add with TE:UNET", "Prompt,LoRA,Add\nx,foo,<lora:bar:1:0.5>\n",
       "error: bad Add reference '<lora:bar:1:0.5>': one weight"},
      {"Add weight out of range", "Prompt,LoRA,Add\nx,foo,bar:1000\n", "out of range"},
      {"Add not a lora tag", "Prompt,LoRA,Add\nx,foo,<hypernet:bar:1>\n", "a tag is <lora:NAME> or <lora:NAME:W>"},
      {"bad LoRA", "Prompt,LoRA\nx,a:b:c\n", "t.csv:2:3: error: bad LoRA 'a:b:c': too many ':'"},
      {"duplicate column", "Prompt,prompt\nx,y\n", "t.csv:1:8: error: duplicate column 'prompt' (also column 1)"},
      {"invalid UTF-8", "Prompt\nok\nab\xFF\n", "t.csv:3:3: error: invalid UTF-8"},
      {"NUL byte", std::string("Prompt\na\0b\n", 11), "t.csv:2:2: error: binary file (NUL byte), not CSV"},
  };
  for (const auto& c : cases) {
    SECTION(c.what) {
      auto i = import_text(c.csv);
      INFO(i.diags);
      CHECK(!i.result);
      CHECK(i.errors == 1);
      CHECK(i.diags.find(c.expected) != std::string::npos);
    }
  }
  SECTION("all of a file's row errors at once") {
    auto i = import_text("Prompt,Skip\n,no\nok,what\nfine,\n");
    CHECK(!i.result);
    CHECK(i.errors == 2);
    CHECK(i.diags.find("t.csv:2:1: error: empty Prompt") != std::string::npos);
    CHECK(i.diags.find("t.csv:3:4: error: bad Skip value") != std::string::npos);
  }
  SECTION("a skipped row may have an empty Prompt") {
    auto i = import_text("Prompt,Skip\n,x\n");
    CHECK(i.result);
  }
  SECTION("unreadable file") {
    test::TempDir t;
    dsl::Diagnostics d;
    CHECK(!dsl::import_csv(t / "missing.csv", "s", d));
    CHECK(d.format_all() == t / "missing.csv: error: cannot open: No such file or directory\n");
    dsl::Diagnostics d2;
    CHECK(!dsl::import_csv(t.path(), "s", d2));
    CHECK(d2.format_all().find("is a folder") != std::string::npos);
  }
}

TEST_CASE("suite import CLI: writes, refuses to overwrite, --force, --json, exit 2 on errors", "[csv][cli]") {
  test::TempDir t;
  const std::string ghx = GHX_BINARY;
  auto run = [&](const std::string& args) {
    return test::run_command("cd '" + t.path() + "' && '" + ghx + "' suite import " + args + " 2>err.txt");
  };
  auto err = [&] { return test::slurp(t / "err.txt"); };

  auto r = run("'" + fixture("loras.csv") + "' -o suites/loras.toml");
  CHECK(r.code == 0);
  CHECK(r.out ==
        "wrote suites/loras.toml: 1 prompt, 4 LoRAs (4 showcase images to supply under "
        "suites/targets/loras/)\n");
  CHECK(err().empty());
  std::string first = test::slurp(t / "suites/loras.toml");
  CHECK(first.find("# Imported from loras.csv by `ghx suite import`.\n[suite]\nname = \"loras\"\n") == 0);

  // An existing output is kept unless --force.
  test::spit(t / "suites/loras.toml", "keep me");
  r = run("'" + fixture("loras.csv") + "' -o suites/loras.toml");
  CHECK(r.code == 2);
  CHECK(r.out.empty());
  CHECK(err() == "ghx: error: suites/loras.toml exists; use --force to overwrite it\n");
  CHECK(test::slurp(t / "suites/loras.toml") == "keep me");

  r = run("'" + fixture("loras.csv") + "' -o suites/loras.toml --force --json --name Showcases");
  CHECK(r.code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["output"] == "suites/loras.toml");
  CHECK(j["prompts"] == 1);
  CHECK(j["loras"] == 4);
  CHECK(j["showcase"] == 4);
  CHECK(j["images"] ==
        nlohmann::json({"suites/targets/loras/moxin_10/1.png", "suites/targets/loras/moxin_10/2.png",
                        "suites/targets/loras/gachasplash_v4/1.png", "suites/targets/loras/gachasplash_v4/2.png"}));
  std::string forced = test::slurp(t / "suites/loras.toml");
  CHECK(forced.find("name = \"Showcases\"") != std::string::npos);

  // Prompt-only file in the current folder: no showcase clause.
  r = run("'" + fixture("quality.csv") + "' -o quality.toml");
  CHECK(r.code == 0);
  CHECK(r.out == "wrote quality.toml: 6 prompts, 0 LoRAs\n");

  // Bad input: exit 2, FILE:LINE:COL on stderr, nothing written.
  test::spit(t / "bad.csv", "Prompt,Skip\nok,\n\"multi\nline\",perhaps\n");
  r = run("bad.csv -o bad.toml");
  CHECK(r.code == 2);
  CHECK(err().find("bad.csv:4:7: error: bad Skip value 'perhaps'") == 0);
  CHECK(!std::filesystem::exists(t / "bad.toml"));
  r = run("missing.csv -o m.toml");
  CHECK(r.code == 2);
  CHECK(err() == "missing.csv: error: cannot open: No such file or directory\n");
  CHECK(!std::filesystem::exists(t / "m.toml"));
  // --force never overwrites the CSV itself.
  test::spit(t / "self.csv", "Prompt\nx\n");
  r = run("self.csv -o self.csv --force");
  CHECK(r.code == 2);
  CHECK(test::slurp(t / "self.csv") == "Prompt\nx\n");
  // Usage errors are exit 2 too.
  CHECK(run("bad.csv").code == 2);
  // Warnings go to stderr and do not fail.
  test::spit(t / "warn.csv", "Prompt,Seed\nx,1\n");
  r = run("warn.csv -o warn.toml");
  CHECK(r.code == 0);
  CHECK(err() ==
        "warn.csv:1:1: warning: unknown column 'Seed' ignored (known: Prompt, NegativePrompt, Skip, LoRA, Add)\n");
}
