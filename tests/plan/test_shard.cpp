// Mirrors src/plan/shard.cpp: the partition of a plan into shards (`ghx run --shard I/N`).
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>

#include "plan/shard.h"
#include "support.h"
#include "support/plan_support.h"

using namespace ghx;
namespace fs = std::filesystem;

namespace {

/// The demo review (three sections: prompts with CLIP metrics, styles, LoRAs), planned.
const plan::Plan& demo_plan() {
  static test::TempDir t;
  static plan::Plan p = [] {
    fs::copy(std::string(GHX_SOURCE_DIR) + "/experiments", t / "experiments", fs::copy_options::recursive);
    fs::copy(std::string(GHX_SOURCE_DIR) + "/suites", t / "suites", fs::copy_options::recursive);
    auto tiny = test::run_command("cd " + t.path() + " && " + GHX_BINARY + " models tiny models/tiny");
    REQUIRE(tiny.code == 0);
    return test::load_and_plan(t / "experiments/demo.toml").plan;
  }();
  return p;
}

bool merge_only(const plan::Step& s) { return s.kind == plan::StepKind::aggregate || s.kind == plan::StepKind::report; }
bool shared(const plan::Step& s) { return s.kind != plan::StepKind::generate && s.inputs.empty() && !merge_only(s); }

}  // namespace

TEST_CASE("shards: I/N parsed strictly", "[plan][shard]") {
  plan::ShardSpec s;
  std::string why;
  CHECK(plan::parse_shard("2/4", &s, &why));
  CHECK(s.index == 2);
  CHECK(s.count == 4);
  CHECK(plan::parse_shard("1/1", &s, &why));
  for (const char* bad : {"0/4", "5/4", "4", "/4", "1/", "a/b", "-1/4", "1/0", "1/4/2", "1 /4", "1/1000000"}) {
    INFO(bad);
    CHECK_FALSE(plan::parse_shard(bad, &s, &why));
    CHECK_FALSE(why.empty());
  }
}

TEST_CASE("shards: disjoint chains that cover every step but the merge's, each closed under its inputs", "[plan][shard]") {
  const plan::Plan& p = demo_plan();
  for (int n : {1, 2, 3, 4, 7}) {
    INFO(n << " shards");
    std::vector<int> owner(p.steps.size(), 0);  // for steps that are not shared inputs
    std::vector<int> users(p.steps.size(), 0);  // shards computing a shared input
    double largest = 0, total = 0;
    for (int i = 1; i <= n; ++i) {
      plan::Shard s = plan::shard_of(p, {i, n});
      total = s.cost_total;
      largest = std::max(largest, s.cost);
      int64_t counted = 0;
      for (size_t k = 0; k < p.steps.size(); ++k) {
        if (!s.mine[k]) continue;
        ++counted;
        const plan::Step& st = p.steps[k];
        CHECK_FALSE(merge_only(st));
        // Every input of a step in the shard is in the shard: it never needs another's blobs.
        for (uint32_t in : st.inputs) CHECK(s.mine[in]);
        if (shared(st)) {
          ++users[k];
        } else {
          CHECK(owner[k] == 0);  // in one shard only
          owner[k] = i;
        }
      }
      CHECK(counted == s.steps);
      CHECK(s.left_to_merge == 5);  // 4 aggregates and the report
    }
    for (size_t k = 0; k < p.steps.size(); ++k) {
      const plan::Step& st = p.steps[k];
      if (merge_only(st)) continue;
      if (shared(st)) CHECK(users[k] >= 1);
      else CHECK(owner[k] != 0);  // covered
    }
    // An image's features and metrics go with its generation.
    for (size_t k = 0; k < p.steps.size(); ++k)
      if (!merge_only(p.steps[k]) && !shared(p.steps[k]))
        for (uint32_t in : p.steps[k].inputs)
          if (!shared(p.steps[in])) CHECK(owner[in] == owner[k]);
    // Balanced by expected cost: the largest shard at most 1.5x its share.
    CHECK(largest <= 1.5 * total / n);
  }
}

TEST_CASE("shards: the partition is the plan's alone, the same in every process", "[plan][shard]") {
  const plan::Plan& p = demo_plan();
  plan::Shard a = plan::shard_of(p, {3, 4});
  plan::Shard b = plan::shard_of(p, {3, 4});
  CHECK(a.mine == b.mine);
  // Different shards of one review differ; a generation weighs more than a metric.
  CHECK(plan::shard_of(p, {1, 4}).mine != a.mine);
  const plan::Step* gen = nullptr;
  const plan::Step* met = nullptr;
  for (const auto& s : p.steps) {
    if (s.kind == plan::StepKind::generate) gen = &s;
    if (s.kind == plan::StepKind::metric) met = &s;
  }
  REQUIRE(gen);
  REQUIRE(met);
  CHECK(plan::step_cost(*gen) > 10 * plan::step_cost(*met));
}
