// Mirrors src/report/render.cpp: same results => same bytes; untrusted text escaped in HTML.
#include <catch2/catch.hpp>

#include <limits>

#include "stats/stats.h"
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
  CHECK(a.markdown.find("| 1 | ckpt | AutoV2 0123456789 | 1.0000 | [1.0000, 1.0000] | - | 2.5 |") != std::string::npos);
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

TEST_CASE("fixups: hostile prompt text is escaped in HTML and Markdown; NoTM cells are marked", "[report]") {
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
