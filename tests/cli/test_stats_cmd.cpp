// `ghx stats`: a CSV of per-image scores goes through the very statistics of a review's report
// step (the same aggregates, the same results), and bad tables are FILE:LINE:COL errors, exit 2.
#include <catch2/catch.hpp>

#include "cli/stats_cmd.h"
#include "stats/stats.h"
#include "support.h"

using namespace ghx;
using nlohmann::json;

namespace {

/// The independent fixture's aggregates (tests/data/stats/), without the NoTM lists a CSV cannot carry.
std::vector<json> fixture_aggregates() {
  auto aggs = json::parse(test::read_text(std::string(GHX_TEST_DATA) + "/stats/aggregates.json")).get<std::vector<json>>();
  for (auto& a : aggs) a.erase("notm_exclude");
  return aggs;
}

/// The same rows as CSV, columns in another order, an extra column, a failed image as an empty value.
std::string fixture_csv(const std::vector<json>& aggs) {
  std::string csv = "value,seed,note,metric,group,prompt,section,checkpoint\n";
  for (const auto& a : aggs)
    for (const auto& r : a["rows"])
      csv += (r[4].is_null() ? std::string() : r[4].dump()) + "," + r[3].get<std::string>() + ",x," +
             a["metric"].get<std::string>() + "," + r[2].get<std::string>() + "," + r[1].get<std::string>() + "," +
             a["section"].get<std::string>() + "," + r[0].get<std::string>() + "\n";
  return csv;
}

}  // namespace

TEST_CASE("ghx stats: a scores table gives the report step's statistics", "[stats_cmd]") {
  test::Scratch dir("stats_cmd");
  const std::vector<json> aggs = fixture_aggregates();
  test::write_text(dir / "scores.csv", fixture_csv(aggs));
  dsl::Diagnostics d;
  auto table = cli::read_scores_csv(dir / "scores.csv", d);
  INFO(d.format_all());
  REQUIRE(table);
  CHECK(table->rows == 84);
  CHECK(table->checkpoints == std::vector<std::string>{"A", "B", "C"});
  REQUIRE(table->aggregates.size() == aggs.size());

  stats::ReviewInfo info{"t", "1", "1", {{"A", ""}, {"B", ""}, {"C", ""}}};
  info.bootstrap = 300;
  info.stat_seed = 11;
  const json want = stats::compute_results(info, aggs), got = stats::compute_results(info, table->aggregates);
  CHECK(got["checkpoints"] == want["checkpoints"]);
  CHECK(got["rank_gaps"] == want["rank_gaps"]);
  CHECK(got["variance"] == want["variance"]);
  CHECK(got["statistics"] == want["statistics"]);

  // the binary prints the same objects
  auto r = test::run_command(std::string(GHX_BINARY) + " stats " + (dir / "scores.csv") +
                             " --bootstrap 300 --seed 11 --json");
  REQUIRE(r.code == 0);
  const json out = json::parse(r.out);
  CHECK(out["checkpoints"] == want["checkpoints"]);
  CHECK(out["rank_gaps"] == want["rank_gaps"]);
  CHECK(out["statistics"] == want["statistics"]);
}

TEST_CASE("ghx stats: bad tables are positioned errors all at once", "[stats_cmd]") {
  test::Scratch dir("stats_bad");
  test::write_text(dir / "bad.csv",
                   "checkpoint,prompt,seed,metric,value\n"
                   "A,p1,1,aesthetic,5.5\n"
                   "A,p1,1,aesthetic,5.6\n"       // line 3: duplicate of line 2
                   "B,p1,1,aesthetic,five\n"      // line 4: not a number
                   "B,p1,2,aesthetic\n"           // line 5: too few fields
                   "B,p1,3,aesthetic,inf\n");     // line 6: not finite
  dsl::Diagnostics d;
  CHECK_FALSE(cli::read_scores_csv(dir / "bad.csv", d));
  const std::string all = d.format_all();
  INFO(all);
  const std::string f = dir / "bad.csv";
  CHECK(all.find(f + ":3:1: error: duplicate of line 2") != std::string::npos);
  CHECK(all.find(f + ":4:18: error: value 'five' is not a number within") != std::string::npos);
  CHECK(all.find(f + ":5:8: error: the row has 4 fields") != std::string::npos);
  CHECK(all.find(f + ":6:18: error: value 'inf'") != std::string::npos);

  test::write_text(dir / "cols.csv", "checkpoint,prompt,metric,score\nA,p,m,1\n");
  dsl::Diagnostics d2;
  CHECK_FALSE(cli::read_scores_csv(dir / "cols.csv", d2));
  CHECK(d2.format_all().find(":1:1: error: the header has no 'seed' column") != std::string::npos);
  CHECK(d2.format_all().find("no 'value' column") != std::string::npos);

  auto r = test::run_command(std::string(GHX_BINARY) + " stats " + f + " 2>&1");
  CHECK(r.code == 2);
  CHECK(r.out.find(f + ":4:18: error:") != std::string::npos);
}
