#pragma once
// Shards: a plan's work cut into N parts for N hosts (`ghx run --shard I/N`, docs/cluster.md).
// Owns: the partition. It is a function of the plan alone (never of a cache), so every shard of
// a review computes the same partition wherever it runs, and a resubmitted shard redoes exactly
// its own unfinished steps.
//   - A unit is a connected chain of steps: a generate step with its image features and metrics.
//     Steps are joined to their inputs, except to shared inputs (steps with no inputs that are
//     not generation: style targets' and prompts' features), which are not units: every shard
//     whose units use one computes it too, so a shard never needs another shard's results.
//   - Aggregates and the report are in no shard: they are left to the merge.
//   - Units are dealt by expected cost, largest first, each to the least loaded shard (ties: the
//     lower shard); units of equal cost in the order of their smallest step key.
// Never: reads the cache, runs anything.
#include <cstdint>
#include <string>
#include <vector>

#include "plan/plan.h"

namespace ghx::plan {

struct ShardSpec {
  int index = 0;  ///< 1-based; 0 = no sharding
  int count = 0;
  bool active() const { return count > 0; }
};

/// "I/N" with 1 <= I <= N <= 100000; false with `why` otherwise.
bool parse_shard(const std::string& text, ShardSpec* out, std::string* why);

/// Relative expected cost of one step: a generation is a GPU job, far above the rest.
double step_cost(const Step& s);

struct Shard {
  std::vector<bool> mine;     ///< per plan step: this shard runs it
  int64_t steps = 0;          ///< steps in this shard (its units' and their shared inputs)
  int64_t units = 0;          ///< units dealt to this shard
  int64_t shared = 0;         ///< shared input steps this shard computes too
  int64_t left_to_merge = 0;  ///< aggregates and report steps (in no shard)
  double cost = 0;            ///< expected cost of this shard's steps
  double cost_total = 0;      ///< expected cost of every step of every shard (shared ones once)
};

/// The part of `p` that shard `spec` runs. `spec` must be active and valid.
Shard shard_of(const Plan& p, const ShardSpec& spec);

}  // namespace ghx::plan
