// Mirrors src/stats/stats.cpp against values worked out by hand and against an independent
// Python implementation of docs/statistics.md (tests/stats/make_stats_fixture.py, whose output is
// tests/data/stats/): means, spreads, z-scores, NoTM, variance split, the paired bootstrap over
// prompts and seeds, and the Holm-corrected verdicts. Calibration: test_calibration.cpp.
#include <catch2/catch.hpp>

#include <cmath>

#include "stats/stats.h"
#include "support.h"
#include "util/error.h"

using namespace ghx;
using nlohmann::json;

namespace {
json fixture() {
  // 3 checkpoints x 2 prompts (groups g1, g2) x 2 seeds
  std::vector<stats::AggregateRow> rows;
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
  return stats::aggregate_json("style", "style_loss", "ghostreview", rows);
}
stats::ReviewInfo info() { return {"t", "1", "1", {{"A", "id:a"}, {"B", "id:b"}, {"C", "id:c"}}}; }
const json& ck(const json& r, const std::string& name) {
  for (const auto& c : r["checkpoints"])
    if (c["name"] == name) return c;
  FAIL("no checkpoint " << name);
  return r;
}
}  // namespace

TEST_CASE("means, seed spread, per-prompt z-scores and ranking", "[statistics]") {
  json r = stats::compute_results(info(), {fixture()});
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
  CHECK(stats::compute_results(info(), {fixture()}).dump() == stats::compute_results(info(), {fixture()}).dump());
}

TEST_CASE("one checkpoint gets z = 0, not NaN", "[statistics]") {
  std::vector<stats::AggregateRow> rows = {{"A", "p", "g", "1", 2.0}, {"A", "p", "g", "2", 4.0}};
  json r = stats::compute_results({"t", "1", "1", {{"A", "x"}}}, {stats::aggregate_json("s", "style_loss", "v", rows)});
  CHECK(r["checkpoints"][0]["metrics"]["z.style_loss"].get<double>() == 0.0);
  CHECK(r["checkpoints"][0]["metrics"]["style_loss"].get<double>() == 3.0);
}

namespace {

/// Every difference between `got` and `want` (numbers to 1e-12 relative, 1e-12 absolute near 0:
/// a z mean of +-(1 - eps) pairs is rounding noise around 0), as "path: got vs want".
void diff_json(const json& got, const json& want, const std::string& path, std::vector<std::string>& out) {
  if (want.is_number() && got.is_number()) {
    const double g = got.get<double>(), w = want.get<double>();
    if (!(std::abs(g - w) <= 1e-12 * std::max(std::abs(w), 1.0)))
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

stats::ReviewInfo fixture_info(const json& review) {
  stats::ReviewInfo info{"t", "1", "1", {}};
  for (const auto& c : review["checkpoints"]) info.checkpoints.emplace_back(c[0], c[1]);
  info.bootstrap = review["bootstrap"].get<int64_t>();
  info.ci = review["ci"].get<double>();
  info.stat_seed = review["seed"].get<uint64_t>();
  return info;
}

json fixture_results(int64_t bootstrap = -1, uint64_t seed = ~0ULL) {
  json expected = json::parse(test::read_text(k_stats + "expected.json"));
  stats::ReviewInfo info = fixture_info(expected["review"]);
  if (bootstrap >= 0) info.bootstrap = bootstrap;
  if (seed != ~0ULL) info.stat_seed = seed;
  return stats::compute_results(info, json::parse(test::read_text(k_stats + "aggregates.json")).get<std::vector<json>>());
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
  std::vector<stats::AggregateRow> rows;
  int k = 0;
  for (int p = 0; p < prompts; ++p)
    for (const auto& [ck, base] : bases)
      for (int s = 0; s < seeds; ++s)
        rows.push_back({ck, "p" + std::to_string(p), "", std::to_string(s), base + spread * noise(k++)});
  return stats::aggregate_json("q", metric, "v", rows);
}

stats::ReviewInfo info_of(const std::vector<std::string>& names, int64_t bootstrap = 1000) {
  stats::ReviewInfo info{"t", "1", "1", {}};
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
  json r = stats::compute_results(info(), {fixture()});
  CHECK_FALSE(fixture().contains("notm_exclude"));
  for (const auto& c : r["checkpoints"]) {
    CHECK(c["notm_excluded"] == json::array());
    CHECK_FALSE(c["metrics"].contains("style_loss_notm"));
  }
  std::vector<std::pair<std::string, std::string>> none, some = {{"A", "g1"}};
  CHECK(stats::aggregate_json("s", "lora_loss", "v", {}, &none)["notm_exclude"] == json::array());
  CHECK(stats::aggregate_json("s", "lora_loss", "v", {}, &some)["notm_exclude"] == json::parse(R"([["A","g1"]])"));
}

TEST_CASE("variance shares sum to 1 on balanced data", "[statistics]") {
  json r = stats::compute_results(info(), {fixture()});
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
  std::vector<stats::AggregateRow> rows = {{"A", "p1", "", "1", 0}, {"A", "p1", "", "2", 0},
                                          {"B", "p1", "", "1", 0}, {"B", "p1", "", "2", 0},
                                          {"B", "p2", "", "1", 10}, {"B", "p2", "", "2", 10}};
  json r = stats::compute_results(info_of({"A", "B"}), {stats::aggregate_json("s", "aesthetic", "v", rows)});
  const json& v = r["variance"]["aesthetic"];
  CHECK(v["total_ss"].get<double>() == Approx(400.0 / 3));
  CHECK(v["checkpoint"].get<double>() == Approx(0.25));
  CHECK(v["prompt"].get<double>() == Approx(1.0));
  CHECK(v["seed"].get<double>() == 0.0);
  CHECK(v["checkpoint_x_prompt"].get<double>() == 0.0);
}

TEST_CASE("bootstrap: same seed, same bytes, another seed, other intervals", "[statistics]") {
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

TEST_CASE("bootstrap = 0: no intervals, every verdict 'cannot tell'", "[statistics]") {
  json r = fixture_results(0), with = fixture_results();
  for (const auto& c : r["checkpoints"]) CHECK_FALSE(c.contains("ci"));
  for (const auto& c : r["checkpoints"]) CHECK_FALSE(c.contains("se"));
  REQUIRE(r["rank_gaps"].size() == 2);
  for (const auto& g : r["rank_gaps"]) {
    CHECK(g["ci"].is_null());
    CHECK(g["p"].is_null());
    CHECK(g["p_holm"].is_null());
    CHECK(g["verdict"] == "cannot tell");
    CHECK(g["beyond_noise"] == false);
  }
  CHECK(r["rank_gaps"][0]["diff"] == with["rank_gaps"][0]["diff"]);
  CHECK(r["statistics"]["bootstrap"] == 0);
  CHECK(r["checkpoints"][0]["metrics"] == with["checkpoints"][0]["metrics"]);
}

TEST_CASE("rank gaps: far apart is beyond noise, overlapping is not", "[statistics]") {
  // A is far above B and C; B and C draw from the same noise
  json r = stats::compute_results(info_of({"A", "B", "C"}), {generated({{"A", 9}, {"B", 5}, {"C", 5.02}}, 6, 8, 2)});
  const json& gaps = r["rank_gaps"];
  REQUIRE(gaps.size() == 2);
  CHECK(gaps[0]["upper"] == "A");
  CHECK(gaps[0]["verdict"] == "beyond noise");
  CHECK(gaps[0]["beyond_noise"] == true);
  CHECK(gaps[0]["p"].get<double>() == Approx(2.0 / 1001));  // no replicate reverses them
  CHECK(gaps[0]["p_holm"].get<double>() == Approx(4.0 / 1001));
  CHECK(gaps[0]["ci"][0].get<double>() > 0);
  CHECK(gaps[1]["verdict"] == "within noise");
  CHECK(gaps[1]["beyond_noise"] == false);
  CHECK(gaps[1]["ci"][0].get<double>() < 0);
  CHECK(gaps[1]["p"].get<double>() > 0.05);
  CHECK(gaps[1]["p_holm"].get<double>() >= gaps[1]["p"].get<double>());
  CHECK(gaps[1]["diff"].get<double>() ==
        Approx(r["checkpoints"][1]["score"].get<double>() - r["checkpoints"][2]["score"].get<double>()));
  CHECK(r["notes"] == json::array());
}

TEST_CASE("checkpoint x prompt interaction is not a difference", "[statistics]") {
  // A wins half the prompts by 2, B the other half, with almost no seed noise: the old bootstrap
  // over seeds alone called the small net difference beyond noise; over prompts it is not.
  std::vector<stats::AggregateRow> rows;
  for (int p = 0; p < 10; ++p)
    for (int s = 0; s < 16; ++s) {
      const double tiny = 0.001 * noise(p * 100 + s);
      const double a = p % 2 ? 2.0 : 0.0, b = p % 2 ? 0.0 : 2.0;
      rows.push_back({"A", "p" + std::to_string(p), "", std::to_string(s), a + (p == 0 ? 0.5 : 0.0) + tiny});
      rows.push_back({"B", "p" + std::to_string(p), "", std::to_string(s), b + 0.001 * noise(p * 100 + s + 50)});
    }
  json r = stats::compute_results(info_of({"A", "B"}), {stats::aggregate_json("q", "clip_score", "raw", rows)});
  CHECK(r["checkpoints"][0]["metrics"]["clip_score"].get<double>() >
        r["checkpoints"][1]["metrics"]["clip_score"].get<double>());
  CHECK(r["rank_gaps"][0]["verdict"] == "within noise");
  CHECK(r["rank_gaps"][0]["p"].get<double>() > 0.5);
  // and the variance split says where the spread is
  CHECK(r["variance"]["clip_score"]["checkpoint_x_prompt"].get<double>() > 0.9);
}

TEST_CASE("one prompt: 'cannot tell' however many seeds or images per cell", "[statistics]") {
  for (int seeds : {1, 32}) {
    json r = stats::compute_results(info_of({"A", "B", "C"}), {generated({{"A", 9}, {"B", 5}, {"C", 1}}, 1, seeds, 1)});
    for (const auto& g : r["rank_gaps"]) {
      INFO(seeds << " seeds: " << g.dump());
      CHECK(g["verdict"] == "cannot tell");
      CHECK(g["p"].is_null());
      CHECK(g["beyond_noise"] == false);
    }
  }
  // A second section with a single prompt is enough to make every gap 'cannot tell' (its part of
  // the score cannot be generalised), even beside a well-replicated one.
  json many = generated({{"A", 9}, {"B", 5}}, 8, 4, 1);
  std::vector<stats::AggregateRow> one = {{"A", "only", "", "0", 1.0}, {"B", "only", "", "0", 2.0}};
  json r = stats::compute_results(info_of({"A", "B"}), {many, stats::aggregate_json("style", "style_loss", "v", one)});
  CHECK(r["rank_gaps"][0]["verdict"] == "cannot tell");
  json alone = stats::compute_results(info_of({"A", "B"}), {many});
  CHECK(alone["rank_gaps"][0]["verdict"] == "beyond noise");
}

TEST_CASE("one image per cell over many prompts: verdicts stand on the prompts", "[statistics]") {
  json near = stats::compute_results(info_of({"A", "B"}), {generated({{"A", 5.1}, {"B", 5}}, 20, 1, 2)});
  CHECK(near["rank_gaps"][0]["verdict"] == "within noise");
  json far = stats::compute_results(info_of({"A", "B"}), {generated({{"A", 9}, {"B", 5}}, 20, 1, 2)});
  CHECK(far["rank_gaps"][0]["verdict"] == "beyond noise");
}

TEST_CASE("the bootstrap is paired: a seed's shared noise cancels between checkpoints", "[statistics]") {
  // Every image of seed s of prompt p carries the same large noise for both checkpoints (the same
  // starting latent); B is 0.2 lower everywhere. Unpaired draws would drown 0.2 in that noise.
  std::vector<stats::AggregateRow> rows;
  for (int p = 0; p < 6; ++p)
    for (int s = 0; s < 8; ++s) {
      const double shared = 10 * noise(p * 31 + s) + 0.05 * p;
      rows.push_back({"A", "p" + std::to_string(p), "", std::to_string(s), shared + 0.2 + 0.01 * noise(1000 + p * 8 + s)});
      rows.push_back({"B", "p" + std::to_string(p), "", std::to_string(s), shared + 0.01 * noise(2000 + p * 8 + s)});
    }
  json r = stats::compute_results(info_of({"A", "B"}), {stats::aggregate_json("q", "aesthetic", "v", rows)});
  CHECK(r["rank_gaps"][0]["upper"] == "A");
  CHECK(r["rank_gaps"][0]["verdict"] == "beyond noise");
  // while A's own interval is wide: most of that noise is shared, not A's alone
  const json& ci = r["checkpoints"][0]["ci"]["aesthetic"];
  CHECK(ci[1].get<double>() - ci[0].get<double>() > 1.0);
}

TEST_CASE("equal cell means give z = 0 and not +-1 from rounding", "[statistics]") {
  // 0.1 + 0.2 + 0.3 style sums: three identical means whose population std is ~1e-17, not 0
  std::vector<stats::AggregateRow> rows;
  for (const char* c : {"A", "B", "C"})
    for (int s = 0; s < 3; ++s) rows.push_back({c, "p", "", std::to_string(s), 0.1 * (s + 1)});
  rows.push_back({"C", "p", "", "3", 0.2});
  rows.push_back({"A", "p", "", "3", 0.2});
  rows.push_back({"B", "p", "", "3", 0.2});
  json r = stats::compute_results(info_of({"A", "B", "C"}), {stats::aggregate_json("q", "aesthetic", "v", rows)});
  for (const auto& c : r["checkpoints"]) CHECK(c["metrics"]["z.aesthetic"].get<double>() == 0.0);
  for (const auto& c : r["checkpoints"]) CHECK(c["score"].get<double>() == 0.0);
}

TEST_CASE("notes: two checkpoints make z-scores votes, too few replicates for Holm", "[statistics]") {
  json two = stats::compute_results(info_of({"A", "B"}), {generated({{"A", 6}, {"B", 5}}, 4, 4, 2)});
  REQUIRE(two["notes"].size() == 1);
  CHECK(two["notes"][0].get<std::string>().find("-1, 0 or +1") != std::string::npos);
  std::vector<std::pair<std::string, double>> twelve;
  std::vector<std::string> names;
  for (int i = 0; i < 12; ++i) {
    twelve.emplace_back("c" + std::to_string(i), i);
    names.push_back("c" + std::to_string(i));
  }
  json r = stats::compute_results(info_of(names, 200), {generated(twelve, 4, 2, 0.1)});
  REQUIRE(r["notes"].size() == 1);
  // 11 gaps at 5%: 2 / (B + 1) <= 0.05 / 11 needs B >= 439
  CHECK(r["notes"][0] == "bootstrap = 200 is too few for 11 adjacent-rank tests at 5%: no gap can be shown beyond "
                         "noise; bootstrap = 439 or more would do.");
  for (const auto& g : r["rank_gaps"]) CHECK(g["verdict"] == "within noise");
  json enough = stats::compute_results(info_of(names, 439), {generated(twelve, 4, 2, 0.1)});
  CHECK(enough["notes"] == json::array());
  CHECK(enough["rank_gaps"][0]["verdict"] == "beyond noise");
}

TEST_CASE("Holm's adjustment", "[statistics]") {
  // p = 0.01, 0.04, 0.03, 0.005 -> sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1, running max
  const std::vector<double> adj = stats::holm_adjust({0.01, 0.04, 0.03, 0.005});
  REQUIRE(adj.size() == 4);
  CHECK(adj[3] == Approx(0.02));
  CHECK(adj[0] == Approx(0.03));
  CHECK(adj[2] == Approx(0.06));
  CHECK(adj[1] == Approx(0.06));  // 0.04 * 1 = 0.04, raised to the running maximum
  CHECK(stats::holm_adjust({0.6, 0.7})[0] == 1.0);
  CHECK(stats::holm_adjust({}).empty());
}

TEST_CASE("bootstrap intervals narrow with more seeds and vanish when seeds agree", "[statistics]") {
  auto width = [](const json& r, const std::string& key) {
    const json& ci = r["checkpoints"][0]["ci"][key];
    return ci[1].get<double>() - ci[0].get<double>();
  };
  json few = stats::compute_results(info_of({"A", "B"}), {generated({{"A", 6}, {"B", 5}}, 4, 4, 2)});
  json many = stats::compute_results(info_of({"A", "B"}), {generated({{"A", 6}, {"B", 5}}, 4, 64, 2)});
  CHECK(width(many, "aesthetic") < 0.5 * width(few, "aesthetic"));
  CHECK(width(few, "aesthetic") > 0);

  json same = stats::compute_results(info_of({"A", "B", "C"}), {generated({{"A", 6}, {"B", 5}, {"C", 4}}, 3, 5, 0)});
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
  std::vector<stats::AggregateRow> rows = {{"A", "p", "", "1", 2.0}, {"A", "p", "", "2", std::nan("")},
                                          {"A", "p", "", "3", 4.0}, {"B", "p", "", "1", 1.0}};
  json r = stats::compute_results(info_of({"A", "B"}), {stats::aggregate_json("s", "aesthetic", "v", rows)});
  CHECK(ck(r, "A")["metrics"]["aesthetic"].get<double>() == 3.0);
  CHECK(ck(r, "A")["metrics"]["aesthetic_std"].get<double>() == Approx(std::sqrt(2.0)));
  CHECK(ck(r, "A")["metrics"]["z.aesthetic"].get<double>() == 1.0);
  CHECK(r["variance"]["aesthetic"]["n"] == 3);
  CHECK(r["sections"][0]["images"] == 4);
}

TEST_CASE("statistics settings are checked", "[statistics]") {
  stats::ReviewInfo bad = info();
  for (int64_t b : {-1, 1, 199, 1000001}) {
    bad.bootstrap = b;
    CHECK_THROWS_AS(stats::compute_results(bad, {fixture()}), Error);
  }
  bad.bootstrap = 200;
  CHECK_NOTHROW(stats::compute_results(bad, {fixture()}));
  bad = info();
  bad.ci = 1.0;
  CHECK_THROWS_AS(stats::compute_results(bad, {fixture()}), Error);
  json agg = fixture();
  agg["notm_exclude"] = json::array({"A"});
  CHECK_THROWS_AS(stats::compute_results(info(), {agg}), Error);
}


TEST_CASE("a metric in two sections: each section keeps its own mean and seed spread", "[statistics]") {
  std::vector<stats::AggregateRow> quality = {{"A", "q1", "", "1", 1}, {"A", "q1", "", "2", 3},
                                             {"B", "q1", "", "1", 5}, {"B", "q1", "", "2", 5}};
  std::vector<stats::AggregateRow> lora = {{"A", "l#0", "moxin", "1", 10}, {"A", "l#0", "moxin", "2", 20},
                                          {"B", "l#0", "moxin", "1", 30}, {"B", "l#0", "moxin", "2", std::nan("")}};
  json r = stats::compute_results({"t", "1", "1", {{"A", "a"}, {"B", "b"}}},
                                 {stats::aggregate_json("quality", "aesthetic", "", quality),
                                  stats::aggregate_json("lora", "aesthetic", "", lora)});
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

TEST_CASE("hostile aggregates: no data, colliding keys, non-numbers, huge values", "[statistics]") {
  // two checkpoints without a single value: nothing to judge by
  std::vector<stats::AggregateRow> none = {{"A", "p1", "", "1", std::nan("")}, {"B", "p1", "", "1", std::nan("")},
                                           {"A", "p2", "", "1", std::nan("")}, {"B", "p2", "", "1", std::nan("")}};
  json r = stats::compute_results(info_of({"A", "B"}), {stats::aggregate_json("q", "aesthetic", "v", none)});
  CHECK(r["rank_gaps"][0]["verdict"] == "cannot tell");
  // section "a" prompt "b/c" and section "a/b" prompt "c" are two prompts in two sections
  std::vector<stats::AggregateRow> one = {{"A", "b/c", "", "1", 1.0}, {"B", "b/c", "", "1", 2.0}};
  std::vector<stats::AggregateRow> two = {{"A", "c", "", "1", 5.0}, {"B", "c", "", "1", 3.0}};
  json k = stats::compute_results(info_of({"A", "B"}), {stats::aggregate_json("a", "aesthetic", "v", one),
                                                        stats::aggregate_json("a/b", "aesthetic", "v", two)});
  CHECK(ck(k, "A")["metrics"]["aesthetic"].get<double>() == 3.0);
  CHECK(ck(k, "A")["metrics"]["z.aesthetic"].get<double>() == 0.0);  // -1 on one prompt, +1 on the other
  CHECK(k["variance"]["aesthetic"]["n"] == 4);
  json bad = stats::aggregate_json("q", "aesthetic", "v", {{"A", "p", "", "1", 1.0}});
  bad["rows"][0][4] = "1.0";
  CHECK_THROWS_AS(stats::compute_results(info_of({"A"}), {bad}), Error);
  bad["rows"][0][4] = 1e300;
  CHECK_THROWS_AS(stats::compute_results(info_of({"A"}), {bad}), Error);
  bad["rows"][0][4] = nullptr;
  CHECK_NOTHROW(stats::compute_results(info_of({"A"}), {bad}));
  // replicates that would not fit in memory are an error naming a bootstrap that would
  std::vector<std::string> many;
  many.push_back("A");
  for (int i = 1; i < 300; ++i) many.push_back("c" + std::to_string(i));
  CHECK_THROWS_WITH(stats::compute_results(info_of(many, 1000000), {bad}), Catch::Contains("use bootstrap ="));
  CHECK_THROWS_AS(stats::holm_adjust({0.1, std::nan("")}), Error);
}
