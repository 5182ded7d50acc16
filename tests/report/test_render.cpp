// Mirrors src/report/render.cpp: same results => same bytes; untrusted text escaped in HTML.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "stats/stats.h"
#include "report/numbers.h"
#include "report/render.h"
#include "support.h"
#include "util/error.h"
#include "util/strings.h"

using namespace ghx;
using nlohmann::json;

namespace {
json results(const std::string& name) {
  std::vector<stats::AggregateRow> rows = {{name, "p", "anime", "1", 2.5}, {"plain", "p", "anime", "1", 3.5}};
  return stats::compute_results({"exp", "1", "1", {{name, "sha256:0123456789abcdef"}, {"plain", "backend_name:x"}}},
                               {stats::aggregate_json("style", "style_loss", "ghostreview", rows)});
}
}  // namespace

TEST_CASE("rendering the same results twice gives the same bytes", "[report]") {
  std::string dir = report::templates_dir();
  report::Rendered a = report::render(results("ckpt"), dir);
  report::Rendered b = report::render(results("ckpt"), dir);
  CHECK(a.markdown == b.markdown);
  CHECK(a.html == b.html);
  CHECK(a.json == b.json);
  CHECK(a.csv == b.csv);
  CHECK(a.markdown.find("| 1 | ckpt | 1.000 | [1.000, 1.000] | 2.000, cannot tell | - |") != std::string::npos);
  CHECK(a.markdown.find("| style\\_loss | ckpt | 2.500 |") != std::string::npos);  // the metric table
  CHECK(a.markdown.find("| ckpt | `sha256:0123456789abcdef` |") != std::string::npos);  // identities, no provenance
  CHECK(a.csv.substr(0, a.csv.find('\n')) ==
        "rank,checkpoint,identity,score,style_loss,style_loss.anime,style_loss_std,z.style_loss,z.style_loss.anime,"
        "score.ci_lo,score.ci_hi,style_loss.ci_lo,style_loss.ci_hi,style_loss.anime.ci_lo,style_loss.anime.ci_hi,"
        "z.style_loss.ci_lo,z.style_loss.ci_hi,z.style_loss.anime.ci_lo,z.style_loss.anime.ci_hi");
  // The same numbers as results.json: the score interval of the first row.
  json res = results("ckpt");
  std::string row1 = a.csv.substr(a.csv.find('\n') + 1);
  row1 = row1.substr(0, row1.find('\n'));
  const json& ci = res["checkpoints"][0]["ci"]["score"];
  CHECK(row1.find("," + util::shortest_double(ci[0].get<double>()) + "," + util::shortest_double(ci[1].get<double>()) +
                  ",") != std::string::npos);
}

TEST_CASE("hostile names are escaped in HTML and Markdown and quoted in CSV", "[report]") {
  report::Rendered r = report::render(results("<script>alert(\"x\")</script>, {{x}} | *b*\nnext"), report::templates_dir());
  CHECK(r.html.find("<script>") == std::string::npos);
  CHECK(r.html.find("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;, {{x}}") != std::string::npos);
  // In the inline SVG charts too.
  CHECK(r.html.find(">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;, {{x}} | *b*\nnext</text>") != std::string::npos);
  CHECK(r.csv.find("\"<script>alert(\"\"x\"\")</script>, {{x}} | *b*\nnext\"") != std::string::npos);
  // Markdown: the name cannot end a table cell, start a new line or become HTML or emphasis.
  CHECK(r.markdown.find("<script>") == std::string::npos);
  CHECK(r.markdown.find("| \\<script\\>alert(\"x\")\\</script\\>, {{x}} \\| \\*b\\*<br>next |") != std::string::npos);
  // one escaping for the report and ghx diff (report/markdown.h): '_' and '&' too
  report::Rendered u = report::render(results("ghost_mix & co"), report::templates_dir());
  CHECK(u.markdown.find("| ghost\\_mix \\& co |") != std::string::npos);
}

TEST_CASE("write_report writes the four files", "[report]") {
  test::TempDir t;
  report::write_report(results("c"), t / "out", report::templates_dir());
  for (const char* f : {"report.md", "report.html", "results.json", "results.csv"})
    CHECK(std::filesystem::file_size(t / (std::string("out/") + f)) > 0);
  json back = json::parse(test::read_text(t / "out/results.json"));
  CHECK(back["experiment"]["name"] == "exp");
  CHECK(back["checkpoints"][0]["metrics"].contains("z.style_loss"));
}

TEST_CASE("fixed number formats", "[report]") {
  CHECK(report::format_metric(6.0863e8) == "6.0863e+08");
  CHECK(report::format_metric(0.25) == "0.25");
  CHECK(report::format_z(-0.0) == "0.0000");
  CHECK(report::format_z(-1.23456) == "-1.2346");
}

TEST_CASE("numbers for people: 4 significant digits on a readable scale, unit said once", "[report]") {
  CHECK(report::readable_exponent(7.8695e8) == 6);
  CHECK(report::readable_exponent(1.1616e9) == 9);
  CHECK(report::readable_exponent(9999.0) == 0);
  CHECK(report::readable_exponent(10000.0) == 3);
  CHECK(report::readable_exponent(0.001) == 0);
  CHECK(report::readable_exponent(0.0002) == -6);
  CHECK(report::readable_exponent(0.0) == 0);
  CHECK(report::readable_exponent(std::numeric_limits<double>::infinity()) == 0);
  CHECK(report::unit_text(6) == "×10⁶");
  CHECK(report::unit_text(-3) == "×10⁻³");
  CHECK(report::unit_text(12) == "×10¹²");
  CHECK(report::unit_text(0).empty());
  CHECK(report::format_people(7.8695e8, 6) == "787.0");  // 786.95: rounded, the zero kept
  CHECK(report::format_people(7.8694e8, 6) == "786.9");
  CHECK(report::format_people(8.34e8, 6) == "834.0");
  CHECK(report::format_people(1.23e9, 6) == "1230");
  CHECK(report::format_people(-0.098052) == "-0.09805");
  CHECK(report::format_people(5.3424) == "5.342");
  CHECK(report::format_people(-0.0) == "0.000");
  CHECK(report::format_people(std::nan("")) == "n/a");
  CHECK(report::format_people_interval(json::array({2.6444e8, 1.2299e9}), 6) == "[264.4, 1230]");
  CHECK(report::format_people_interval(json::array({1, "x"})) == "[1.000, n/a]");
  CHECK(report::format_people_interval(json::array({1})).empty());
}

TEST_CASE("wide reviews: groups split every 6 columns, contact sheets every 4 checkpoints", "[report]") {
  std::vector<stats::AggregateRow> rows;
  std::vector<std::pair<std::string, std::string>> cks;
  for (int c = 0; c < 9; ++c) {
    const std::string name = "ck" + std::to_string(c);
    cks.push_back({name, "backend_name:" + name});
    for (int g = 0; g < 14; ++g)
      for (int p = 0; p < 2; ++p)
        rows.push_back({name, "p" + std::to_string(g) + "_" + std::to_string(p), "style" + std::to_string(g), "1",
                        1e8 * (1 + c + g + p)});
  }
  json r = stats::compute_results({"exp", "1", "1", cks}, {stats::aggregate_json("style", "style_loss", "ghostreview", rows)});
  json gallery_rows = json::array();
  json images = json::array();
  for (int c = 0; c < 9; ++c) images.push_back("k" + std::to_string(c));
  gallery_rows.push_back({{"prompt", "p0"}, {"text", "a cat"}, {"images", images}});
  json names = json::array();
  for (const auto& [n, id] : cks) names.push_back(n);
  r["gallery"] = json::array({{{"section", "style"}, {"seed", "1"}, {"checkpoints", names}, {"rows", gallery_rows}}});
  report::Rendered out = report::render(r, report::templates_dir());
  // 14 styles: tables of 6, 6 and 2 style columns
  size_t tables = 0, pos = 0;
  while ((pos = out.markdown.find("| Checkpoint | style", pos)) != std::string::npos) ++tables, ++pos;
  CHECK(tables == 3);
  CHECK(out.markdown.find("| Checkpoint | style12 | style13 |\n") != std::string::npos);
  // 9 checkpoints: sheets of 4, 4 and 1, each saying which
  CHECK(out.markdown.find("seed 1, checkpoints 1-4 of 9") != std::string::npos);
  CHECK(out.markdown.find("seed 1, checkpoints 9-9 of 9") != std::string::npos);
  CHECK(out.html.find("src=\"thumbs/k8.png\"") != std::string::npos);
  // One scale for the section, said in its heading; no exponent in any cell.
  CHECK(out.markdown.find("## Section `style`: style_loss (ghostreview), ×10⁹") != std::string::npos);
  CHECK(out.markdown.find("e+0") == std::string::npos);
}

TEST_CASE("fixups: hostile prompt text is escaped in HTML and Markdown, NoTM cells are marked", "[report]") {
  json r = results("c");
  r["fixups"] = json::array({{{"section", "lora"}, {"id", "x#0"}, {"original", "<script>alert(1)</script> | {{x}} <lora:a>"},
                              {"final", "<lora:a:0.8>"}, {"rules", {"default_weight"}}},
                             {{"section", "lora"}, {"id", "x#0"}, {"checkpoint", "c"}, {"original", "o"}, {"final", "f"},
                              {"rules", {"exclude_made_with"}}}});
  report::Rendered out = report::render(r, report::templates_dir());
  CHECK(out.html.find("<script>") == std::string::npos);
  CHECK(out.html.find("&lt;script&gt;alert(1)&lt;/script&gt; | {{x}} &lt;lora:a&gt;") != std::string::npos);
  CHECK(out.markdown.find("| lora | x#0 | \\<script\\>alert(1)\\</script\\> \\| {{x}} \\<lora:a\\> | \\<lora:a:0.8\\> | "
                          "default_weight |") != std::string::npos);
  // The per-checkpoint NoTM entry is not a rewrite: it is not listed among the fixups.
  CHECK(out.markdown.find("| o | f |") == std::string::npos);
}

TEST_CASE("a malformed results document is one clear error, never a crash", "[report]") {
  const std::string dir = report::templates_dir();
  for (const char* bad : {"{}", "[1,2]", R"({"experiment":{},"checkpoints":5,"sections":[]})",
                          R"({"experiment":{},"checkpoints":[{}],"sections":[]})",
                          R"({"experiment":{},"sections":[],"checkpoints":[{"name":"a","rank":1,"identity":"x","score":1,
                              "metrics":{"m":1},"ci":{"m":[1]}}]})",
                          R"({"experiment":{"name":1},"checkpoints":[],"sections":[{"id":1}]})"}) {
    INFO(bad);
    CHECK_THROWS_AS(report::render(json::parse(bad), dir), ghx::Error);
  }
}

TEST_CASE("integers at the edge of their type in a results document are one clear error", "[report]") {
  // ghx verify renders a bundle's results.json: sums of its integers used to overflow (UBSan).
  const std::string dir = report::templates_dir();
  json base = results("ckpt");
  base["provenance"] = {{"seeds", json::array({{{"section", "style"}, {"first", 1}, {"count", 4}}})},
                        {"steps", {{"generate", 2}}}};
  REQUIRE_NOTHROW(report::render(base, dir));
  const int64_t max = std::numeric_limits<int64_t>::max();
  std::vector<json> bad(4, base);
  bad[0]["rank_gaps"][0]["rank"] = max;
  bad[1]["provenance"]["seeds"][0]["first"] = max;
  bad[2]["provenance"]["steps"]["generate"] = max;
  bad[3]["checkpoints"][0]["rank"] = 1e300;
  REQUIRE(base["rank_gaps"].size() == 1);
  for (const auto& b : bad) {
    INFO(b.dump());
    CHECK_THROWS_AS(report::render(b, dir), ghx::Error);
  }
}
