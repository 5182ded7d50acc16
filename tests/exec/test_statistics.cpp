// Mirrors src/exec/statistics.cpp against values worked out by hand (docs/statistics.md).
#include <catch2/catch.hpp>

#include "exec/statistics.h"

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
