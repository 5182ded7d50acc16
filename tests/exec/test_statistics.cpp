// Mirrors src/exec/statistics.cpp against values worked out by hand and against an independent
// Python implementation of docs/statistics.md (tests/exec/make_stats_fixture.py, whose output is
// tests/data/stats/): means, spreads, z-scores, NoTM, variance split and the bootstrap.
#include <catch2/catch.hpp>

#include <cmath>

#include "exec/statistics.h"
#include "support.h"
#include "util/error.h"

using namespace ghx;
using nlohmann::json;

namespace {
json fixture() {
  // 3 checkpoints x 2 prompts (groups g1, g2) x 2 seeds
  std::vector<exec::AggregateRow> rows;
  auto add = [&](const char* c, const char* p, const char* g, double s1, double s2) {
    rows.push_back({c, p, g, "1", s1});
    rows.push_back({c, p, g, "2", s2});
  };
  add("A", "p1", "g1", 1, 3);
  add("A", "p2", "g2", 10, 14);
  add("B", "p1", "g1", 4, 6);
  add("B", "p2", "g2", 10, 10);
  add("C", "p1", "g1", 3, 3);
  add("C", "p2", "g2", 12, 12);
  return exec::aggregate_json("style", "style_loss", "ghostreview", rows);
}
exec::ReviewInfo info() { return {"t", "1", "1", {{"A", "id:a"}, {"B", "id:b"}, {"C", "id:c"}}}; }
const json& ck(const json& r, const std::string& name) {
  for (const auto& c : r["checkpoints"])
    if (c["name"] == name) return c;
  FAIL("no checkpoint " << name);
  return r;
}
}  // namespace

TEST_CASE("means, seed spread, per-prompt z-scores and ranking", "[statistics]") {
  json r = exec::compute_results(info(), {fixture()});
  const json& a = ck(r, "A")["metrics"];
  const json& b = ck(r, "B")["metrics"];
  const json& c = ck(r, "C")["metrics"];
  CHECK(a["style_loss"].get<double>() == Approx(7.0));
  CHECK(b["style_loss"].get<double>() == Approx(7.5));
  CHECK(c["style_loss"].get<double>() == Approx(7.5));
  CHECK(a["style_loss.g1"].get<double>() == Approx(2.0));
  CHECK(b["style_loss.g2"].get<double>() == Approx(10.0));
  // mean over prompts of the sample std over seeds
  CHECK(a["style_loss_std"].get<double>() == Approx((std::sqrt(2.0) + std::sqrt(8.0)) / 2));
  CHECK(b["style_loss_std"].get<double>() == Approx(std::sqrt(2.0) / 2));
  CHECK(c["style_loss_std"].get<double>() == Approx(0.0));
  // p1 means 2,5,3 and p2 means 12,10,12 standardised with the population std
  CHECK(a["z.style_loss"].get<double>() == Approx((-1.069045 + 0.707107) / 2).epsilon(1e-5));
  CHECK(b["z.style_loss"].get<double>() == Approx((1.336306 - 1.414214) / 2).epsilon(1e-4));
  CHECK(c["z.style_loss"].get<double>() == Approx((-0.267261 + 0.707107) / 2).epsilon(1e-5));
  CHECK(a["z.style_loss.g1"].get<double>() == Approx(-1.069045).epsilon(1e-5));
  // lower loss is better: A, B, C
  CHECK(ck(r, "A")["rank"] == 1);
  CHECK(ck(r, "B")["rank"] == 2);
  CHECK(ck(r, "C")["rank"] == 3);
  CHECK(r["checkpoints"][0]["name"] == "A");
  CHECK(r["sections"][0]["images"] == 12);
  CHECK(r["sections"][0]["prompts"] == 2);
}

TEST_CASE("results are bit-identical for the same input", "[statistics]") {
  CHECK(exec::compute_results(info(), {fixture()}).dump() == exec::compute_results(info(), {fixture()}).dump());
}

TEST_CASE("one checkpoint gets z = 0, not NaN", "[statistics]") {
  std::vector<exec::AggregateRow> rows = {{"A", "p", "g", "1", 2.0}, {"A", "p", "g", "2", 4.0}};
  json r = exec::compute_results({"t", "1", "1", {{"A", "x"}}}, {exec::aggregate_json("s", "style_loss", "v", rows)});
  CHECK(r["checkpoints"][0]["metrics"]["z.style_loss"].get<double>() == 0.0);
  CHECK(r["checkpoints"][0]["metrics"]["style_loss"].get<double>() == 3.0);
}

namespace {

/// Every difference between `got` and `want` (numbers to 1e-12 relative), as "path: got vs want".
void diff_json(const json& got, const json& want, const std::string& path, std::vector<std::string>& out) {
  if (want.is_number() && got.is_number()) {
    const double g = got.get<double>(), w = want.get<double>();
    if (!(std::abs(g - w) <= 1e-12 * std::max(std::abs(w), 1e-3)))
      out.push_back(path + ": " + got.dump() + " vs " + want.dump());
  } else if (want.is_object() && got.is_object()) {
    for (auto it = want.begin(); it != want.end(); ++it) {
      if (!got.contains(it.key())) out.push_back(path + "." + it.key() + ": missing");
      else diff_json(got[it.key()], it.value(), path + "." + it.key(), out);
    }
    for (auto it = got.begin(); it != got.end(); ++it)
      if (!want.contains(it.key())) out.push_back(path + "." + it.key() + ": unexpected");
  } else if (want.is_array() && got.is_array() && want.size() == got.size()) {
    for (size_t i = 0; i < want.size(); ++i) diff_json(got[i], want[i], path + "[" + std::to_string(i) + "]", out);
  } else if (got != want) {
    out.push_back(path + ": " + got.dump() + " vs " + want.dump());
  }
}

const std::string k_stats = std::string(GHX_TEST_DATA) + "/stats/";

exec::ReviewInfo fixture_info(const json& review) {
  exec::ReviewInfo info{"t", "1", "1", {}};
  for (const auto& c : review["checkpoints"]) info.checkpoints.emplace_back(c[0], c[1]);
  info.bootstrap = review["bootstrap"].get<int64_t>();
  info.ci = review["ci"].get<double>();
  info.stat_seed = review["seed"].get<uint64_t>();
  return info;
}

json fixture_results(int64_t bootstrap = -1, uint64_t seed = ~0ULL) {
  json expected = json::parse(test::read_text(k_stats + "expected.json"));
  exec::ReviewInfo info = fixture_info(expected["review"]);
  if (bootstrap >= 0) info.bootstrap = bootstrap;
  if (seed != ~0ULL) info.stat_seed = seed;
  return exec::compute_results(info, json::parse(test::read_text(k_stats + "aggregates.json")).get<std::vector<json>>());
}

/// Deterministic noise in [-0.5, 0.5) from an integer hash (murmur3's finaliser): no std RNG in tests either.
double noise(int k) {
  uint64_t h = static_cast<uint64_t>(k) + 0x9e3779b97f4a7c15ULL;
  h = (h ^ (h >> 33)) * 0xff51afd7ed558ccdULL;
  h = (h ^ (h >> 33)) * 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return static_cast<double>(h >> 11) / 9007199254740992.0 - 0.5;
}

/// One aggregate of `metric`: per checkpoint, `prompts` prompts x `seeds` seeds of base + spread * noise.
json generated(const std::vector<std::pair<std::string, double>>& bases, int prompts, int seeds, double spread,
               const std::string& metric = "aesthetic") {
  std::vector<exec::AggregateRow> rows;
  int k = 0;
  for (int p = 0; p < prompts; ++p)
    for (const auto& [ck, base] : bases)
      for (int s = 0; s < seeds; ++s)
        rows.push_back({ck, "p" + std::to_string(p), "", std::to_string(s), base + spread * noise(k++)});
  return exec::aggregate_json("q", metric, "v", rows);
}

exec::ReviewInfo info_of(const std::vector<std::string>& names, int64_t bootstrap = 1000) {
  exec::ReviewInfo info{"t", "1", "1", {}};
  for (const auto& n : names) info.checkpoints.emplace_back(n, "id:" + n);
  info.bootstrap = bootstrap;
  return info;
}

}  // namespace

TEST_CASE("results match the independent Python implementation", "[statistics]") {
  json expected = json::parse(test::read_text(k_stats + "expected.json"));
  json r = fixture_results();
  std::vector<std::string> diffs;
  diff_json(r["checkpoints"], expected["checkpoints"], "checkpoints", diffs);
  diff_json(r["variance"], expected["variance"], "variance", diffs);
  diff_json(r["rank_gaps"], expected["rank_gaps"], "rank_gaps", diffs);
  diff_json(r["statistics"], expected["statistics"], "statistics", diffs);
  std::string all;
  for (const auto& d : diffs) all += d + "\n";
  INFO(all);
  CHECK(diffs.empty());
  // the fixture exercises what it is meant to: NoTM, a failed image, both directions
  CHECK(r["metric_directions"]["lora_loss_notm"] == "lower");
  CHECK(r["metric_directions"]["aesthetic"] == "higher");
  CHECK(ck(r, "C")["notm_excluded"] == json::array({"L1", "L3"}));
  CHECK(ck(r, "B")["notm_excluded"] == json::array());
  CHECK(r["variance"]["aesthetic"]["n"] == 35);
}

TEST_CASE("NoTM: the _notm metric replaces the plain one in the score", "[statistics]") {
  json r = fixture_results(0);
  for (const auto& c : r["checkpoints"]) {
    const json& m = c["metrics"];
    CHECK(c["score"].get<double>() ==
          Approx((m["z.aesthetic"].get<double>() - m["z.lora_loss_notm"].get<double>()) / 2).epsilon(1e-12));
    CHECK(m["z.lora_loss_notm"] != m["z.lora_loss"]);
  }
  // A's excluded LoRA L1 is gone from its _notm numbers, kept in the plain ones
  CHECK(ck(r, "A")["metrics"].contains("lora_loss.L1"));
  CHECK_FALSE(ck(r, "A")["metrics"].contains("lora_loss_notm.L1"));
  CHECK(ck(r, "A")["metrics"].contains("lora_loss_notm.L2"));
}

TEST_CASE("aggregates without notm_exclude get no _notm metric", "[statistics]") {
  json r = exec::compute_results(info(), {fixture()});
  CHECK_FALSE(fixture().contains("notm_exclude"));
  for (const auto& c : r["checkpoints"]) {
    CHECK(c["notm_excluded"] == json::array());
    CHECK_FALSE(c["metrics"].contains("style_loss_notm"));
  }
  std::vector<std::pair<std::string, std::string>> none, some = {{"A", "g1"}};
  CHECK(exec::aggregate_json("s", "lora_loss", "v", {}, &none)["notm_exclude"] == json::array());
  CHECK(exec::aggregate_json("s", "lora_loss", "v", {}, &some)["notm_exclude"] == json::parse(R"([["A","g1"]])"));
}

TEST_CASE("variance shares sum to 1 on balanced data", "[statistics]") {
  json r = exec::compute_results(info(), {fixture()});
  const json& v = r["variance"]["style_loss"];
  double sum = 0;
  for (const char* k : {"checkpoint", "prompt", "checkpoint_x_prompt", "seed"}) sum += v[k].get<double>();
  CHECK(sum == Approx(1.0).epsilon(1e-12));
  CHECK(v["n"] == 12);
  // by hand: grand mean 22/3; SS_total = 864 - 12 (22/3)^2 = 656/3; checkpoint means 7, 7.5, 7.5 over 4
  // values each: 2/3; prompt means 10/3 and 34/3 over 6 each: 192; seed SS 2 + 8 + 2 = 12; rest 14
  const double total = v["total_ss"].get<double>();
  CHECK(total == Approx(656.0 / 3));
  CHECK(v["checkpoint"].get<double>() * total == Approx(2.0 / 3));
  CHECK(v["prompt"].get<double>() * total == Approx(192.0));
  CHECK(v["seed"].get<double>() * total == Approx(12.0));
  CHECK(v["checkpoint_x_prompt"].get<double>() * total == Approx(14.0));
}

TEST_CASE("variance: a negative interaction on unbalanced data is clamped at 0", "[statistics]") {
  // A has p1 only, B has p1 and p2: checkpoint and prompt effects overlap, SS_c + SS_p exceeds the total
  std::vector<exec::AggregateRow> rows = {{"A", "p1", "", "1", 0}, {"A", "p1", "", "2", 0},
                                          {"B", "p1", "", "1", 0}, {"B", "p1", "", "2", 0},
                                          {"B", "p2", "", "1", 10}, {"B", "p2", "", "2", 10}};
  json r = exec::compute_results(info_of({"A", "B"}), {exec::aggregate_json("s", "aesthetic", "v", rows)});
  const json& v = r["variance"]["aesthetic"];
  CHECK(v["total_ss"].get<double>() == Approx(400.0 / 3));
  CHECK(v["checkpoint"].get<double>() == Approx(0.25));
  CHECK(v["prompt"].get<double>() == Approx(1.0));
  CHECK(v["seed"].get<double>() == 0.0);
  CHECK(v["checkpoint_x_prompt"].get<double>() == 0.0);
}

TEST_CASE("bootstrap: same seed, same bytes; another seed, other intervals", "[statistics]") {
  json a = fixture_results(), b = fixture_results(), c = fixture_results(-1, 8);
  CHECK(a.dump() == b.dump());
  CHECK(a["checkpoints"][0]["ci"]["score"] != c["checkpoints"][0]["ci"]["score"]);
  CHECK(a["checkpoints"][0]["ci"]["aesthetic"] != c["checkpoints"][0]["ci"]["aesthetic"]);
  // the point estimates do not depend on the bootstrap
  CHECK(a["checkpoints"][0]["metrics"] == c["checkpoints"][0]["metrics"]);
  CHECK(c["statistics"]["seed"] == 8);
}

TEST_CASE("bootstrap intervals contain the point estimates", "[statistics]") {
  json r = fixture_results(1000);
  int checked = 0;
  for (const auto& c : r["checkpoints"]) {
    for (auto it = c["ci"].begin(); it != c["ci"].end(); ++it) {
      const double point = it.key() == "score" ? c["score"].get<double>() : c["metrics"][it.key()].get<double>();
      INFO(c["name"] << " " << it.key() << " " << point << " in " << it.value());
      CHECK(it.value()[0].get<double>() <= point);
      CHECK(point <= it.value()[1].get<double>());
      // zero width only where nothing can move: z on a prompt that one checkpoint alone still has
      if (it.value()[0] == it.value()[1]) CHECK(it.key() == "z.lora_loss_notm.L1");
      ++checked;
    }
  }
  CHECK(checked > 40);
}

TEST_CASE("bootstrap = 0: no intervals, rank gaps without them", "[statistics]") {
  json r = fixture_results(0), with = fixture_results();
  for (const auto& c : r["checkpoints"]) CHECK_FALSE(c.contains("ci"));
  REQUIRE(r["rank_gaps"].size() == 2);
  for (const auto& g : r["rank_gaps"]) {
    CHECK(g["ci"].is_null());
    CHECK(g["p_order"].is_null());
    CHECK(g["beyond_noise"] == false);
  }
  CHECK(r["rank_gaps"][0]["diff"] == with["rank_gaps"][0]["diff"]);
  CHECK(r["statistics"]["bootstrap"] == 0);
  CHECK(r["checkpoints"][0]["metrics"] == with["checkpoints"][0]["metrics"]);
}

TEST_CASE("rank gaps: far apart is beyond noise, overlapping is not", "[statistics]") {
  // A is far above B and C; B and C draw from the same noise
  json r = exec::compute_results(info_of({"A", "B", "C"}), {generated({{"A", 9}, {"B", 5}, {"C", 5.02}}, 6, 8, 2)});
  const json& gaps = r["rank_gaps"];
  REQUIRE(gaps.size() == 2);
  CHECK(gaps[0]["upper"] == "A");
  CHECK(gaps[0]["beyond_noise"] == true);
  CHECK(gaps[0]["p_order"] == 1.0);
  CHECK(gaps[0]["ci"][0].get<double>() > 0);
  CHECK(gaps[1]["beyond_noise"] == false);
  CHECK(gaps[1]["ci"][0].get<double>() < 0);
  CHECK(gaps[1]["p_order"].get<double>() > 0.05);
  CHECK(gaps[1]["p_order"].get<double>() < 1.0);
  CHECK(gaps[1]["diff"].get<double>() ==
        Approx(r["checkpoints"][1]["score"].get<double>() - r["checkpoints"][2]["score"].get<double>()));
}

TEST_CASE("bootstrap intervals narrow with more seeds and vanish when seeds agree", "[statistics]") {
  auto width = [](const json& r, const std::string& key) {
    const json& ci = r["checkpoints"][0]["ci"][key];
    return ci[1].get<double>() - ci[0].get<double>();
  };
  json few = exec::compute_results(info_of({"A", "B"}), {generated({{"A", 6}, {"B", 5}}, 4, 4, 2)});
  json many = exec::compute_results(info_of({"A", "B"}), {generated({{"A", 6}, {"B", 5}}, 4, 64, 2)});
  CHECK(width(many, "aesthetic") < 0.5 * width(few, "aesthetic"));
  CHECK(width(few, "aesthetic") > 0);

  json same = exec::compute_results(info_of({"A", "B", "C"}), {generated({{"A", 6}, {"B", 5}, {"C", 4}}, 3, 5, 0)});
  for (const auto& c : same["checkpoints"]) {
    CHECK(c["ci"]["aesthetic"][0] == c["metrics"]["aesthetic"]);
    CHECK(c["ci"]["aesthetic"][1] == c["metrics"]["aesthetic"]);
    CHECK(c["ci"]["score"][0] == c["score"]);
    CHECK(c["ci"]["score"][1] == c["score"]);
  }
  CHECK(same["variance"]["aesthetic"]["seed"] == 0.0);
  CHECK(same["variance"]["aesthetic"]["checkpoint"].get<double>() == Approx(1.0));
}

TEST_CASE("failed images (null values) are skipped, not propagated", "[statistics]") {
  std::vector<exec::AggregateRow> rows = {{"A", "p", "", "1", 2.0}, {"A", "p", "", "2", std::nan("")},
                                          {"A", "p", "", "3", 4.0}, {"B", "p", "", "1", 1.0}};
  json r = exec::compute_results(info_of({"A", "B"}), {exec::aggregate_json("s", "aesthetic", "v", rows)});
  CHECK(ck(r, "A")["metrics"]["aesthetic"].get<double>() == 3.0);
  CHECK(ck(r, "A")["metrics"]["aesthetic_std"].get<double>() == Approx(std::sqrt(2.0)));
  CHECK(ck(r, "A")["metrics"]["z.aesthetic"].get<double>() == 1.0);
  CHECK(r["variance"]["aesthetic"]["n"] == 3);
  CHECK(r["sections"][0]["images"] == 4);
}

TEST_CASE("statistics settings are checked", "[statistics]") {
  exec::ReviewInfo bad = info();
  bad.bootstrap = -1;
  CHECK_THROWS_AS(exec::compute_results(bad, {fixture()}), Error);
  bad = info();
  bad.ci = 1.0;
  CHECK_THROWS_AS(exec::compute_results(bad, {fixture()}), Error);
  json agg = fixture();
  agg["notm_exclude"] = json::array({"A"});
  CHECK_THROWS_AS(exec::compute_results(info(), {agg}), Error);
}


TEST_CASE("a metric in two sections: each section keeps its own mean and seed spread", "[statistics]") {
  std::vector<exec::AggregateRow> quality = {{"A", "q1", "", "1", 1}, {"A", "q1", "", "2", 3},
                                             {"B", "q1", "", "1", 5}, {"B", "q1", "", "2", 5}};
  std::vector<exec::AggregateRow> lora = {{"A", "l#0", "moxin", "1", 10}, {"A", "l#0", "moxin", "2", 20},
                                          {"B", "l#0", "moxin", "1", 30}, {"B", "l#0", "moxin", "2", std::nan("")}};
  json r = exec::compute_results({"t", "1", "1", {{"A", "a"}, {"B", "b"}}},
                                 {exec::aggregate_json("quality", "aesthetic", "", quality),
                                  exec::aggregate_json("lora", "aesthetic", "", lora)});
  const json& s0 = r["sections"][0]["by_checkpoint"];
  const json& s1 = r["sections"][1]["by_checkpoint"];
  CHECK(s0["A"]["mean"].get<double>() == 2.0);
  CHECK(s0["A"]["std"].get<double>() == Approx(std::sqrt(2.0)));
  CHECK(s0["B"]["mean"].get<double>() == 5.0);
  CHECK(s0["B"]["std"].get<double>() == 0.0);
  CHECK(s1["A"]["mean"].get<double>() == 15.0);
  CHECK(s1["B"]["mean"].get<double>() == 30.0);  // the failed image is left out
  // The merged metric covers both sections.
  CHECK(ck(r, "A")["metrics"]["aesthetic"].get<double>() == Approx(34.0 / 4));
}
