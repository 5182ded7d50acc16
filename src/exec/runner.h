#pragma once
// The runner: executes the steps of a plan that the cache does not hold, in dependency order.
// Owns: scheduling (levels of the DAG; within a level, batches of one kind, max_batch() each,
// on --jobs worker threads), committing each outcome to the cache as soon as its batch ends,
// failure propagation (a failed step skips its dependents only), interruption (stop handing
// out batches; batches in flight finish and commit).
// Cooperates: each step is claimed in the cache before it runs (cache/cache.h); a step another
// live run holds is left for the end of its level, then waited for (read when stored) or taken
// over (when given back or its holder died). Claims are kept alive by a heartbeat thread and
// given back when the run ends, however it ends.
// Fails: never throws for a step's failure (recorded in the summary and the cache). A corrupt
// cached input is dropped by the cache and recomputed here, inline, before its user runs.
#include <atomic>
#include <string>
#include <unordered_set>
#include <vector>

#include "cache/store.h"
#include "exec/executor.h"
#include "exec/progress.h"
#include "plan/plan.h"

namespace ghx::exec {

enum class KeepGoing { no, yes };

struct RunOptions {
  int jobs = 1;
  KeepGoing keep_going = KeepGoing::no;
  const std::atomic<bool>* interrupted = nullptr;
  Progress* progress = nullptr;
  std::string tool_version;
  /// When set, only the steps marked here run (a shard, plan/shard.h); the others are left alone
  /// and counted in RunSummary::others. Every input of a marked step must be marked or cached.
  const std::vector<bool>* only = nullptr;
  /// The store's done keys when the caller has read them already (read once per run: at 100k
  /// steps the read is a fifth of a no-op run); else the runner reads them.
  const plan::KeySet* done = nullptr;
};

struct FailedStep {
  std::string key;
  std::string label;
  std::string error;
};

struct RunSummary {
  int64_t total = 0;
  int64_t cached = 0;
  int64_t executed = 0;   ///< ran and succeeded (including inline recomputations)
  int64_t elsewhere = 0;  ///< stored meanwhile by another run on the same cache (not computed here)
  int64_t failed = 0;
  int64_t skipped = 0;    ///< not run: an input failed, or the run stopped early
  int64_t others = 0;     ///< not this run's (RunOptions::only): other shards' and the merge's
  bool interrupted = false;
  std::string storage_error;  ///< the cache could not store a result (disk full, read-only): the run stopped
  std::vector<FailedStep> failures;
};

/// `cache`: cache::Cache, or a test's fake (cache/store.h).
RunSummary run_plan(const plan::Plan& plan, cache::StepStore& cache, ExecutorSet& executors, const RunOptions& opts);

}  // namespace ghx::exec
