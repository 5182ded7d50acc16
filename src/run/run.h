#pragma once
// The run layer: what `ghx plan`, `ghx run`, `ghx bundle` and `ghx diff` share between reading
// a review and printing their answer, as ninja's Builder is to ninja.cc. cli/ parses arguments,
// calls in here once and prints; this layer loads and plans a review, identifies checkpoints a
// server names, checks that the generation servers answer, runs the plan and writes the report
// folder.
// Owns: the order of a run (load -> identify -> plan -> probe -> match imports -> run ->
// report folder), and its messages to `err` (diagnostics, warnings, step failures).
// Fails: a review that cannot be run (bad TOML, a server that cannot identify a checkpoint, no
// endpoint answering, an unusable --out) prints why to `err` and throws Refused{2}; a damaged
// report result throws ghx::Error. Step failures are never exceptions: they are in the summary.
// Never: parses the command line or writes to stdout.
#include <atomic>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "backends/options.h"
#include "cache/cache.h"
#include "cache/remote.h"
#include "dsl/review.h"
#include "exec/executor.h"
#include "exec/progress.h"
#include "exec/runner.h"
#include "plan/plan.h"
#include "plan/shard.h"

namespace ghx::run {

/// Nothing was done; the reason is already printed. `code` is the exit code (2: bad input).
struct Refused {
  int code = 2;
};

/// Loads `path`, printing its diagnostics to `err`; on errors also "ghx: N errors, nothing
/// <what>" and nullopt.
std::optional<dsl::Review> load_review(const std::string& path, std::ostream& err, const std::string& what = "run");

/// Plans `r` (file hashes memoised in `cache` when there is one), diagnostics to `err`.
std::optional<plan::Plan> plan_review(const dsl::Review& r, cache::Cache* cache, std::ostream& err);

/// A checkpoint named only by backend_name on a server backend is identified by the hash the
/// server reports for it (docs/language.md): asks the first endpoint that answers. Throws
/// Refused when one cannot be identified.
void identify_server_checkpoints(dsl::Review& r, const backends::BackendOptions& b, std::ostream& err);

/// A review loaded, its server checkpoints identified, its cache open and its plan made.
struct Prepared {
  dsl::Review review;
  std::unique_ptr<cache::Cache> cache;
  plan::Plan plan;
};
/// For a command about to exit: moves the plan out of `p` into memory that is never freed (the
/// cache is left in `p`, to be closed as usual). Freeing 100k steps one by one costs a no-op run
/// about 3% of its time; the process ending frees them at once.
void keep_plan_until_exit(Prepared& p);
/// `ghx plan` and `ghx run`'s first half. Throws Refused.
Prepared prepare(const std::string& experiment, const std::string& cache_dir, const backends::BackendOptions& b,
                 std::ostream& err);
/// The same for a review loaded (load_review) and a cache opened.
Prepared prepare(dsl::Review review, std::unique_ptr<cache::Cache> cache, const backends::BackendOptions& b,
                 std::ostream& err);

struct RunRequest {
  std::string out;  ///< report folder; "" = reports/<name>-v<version>
  int jobs = 1;
  bool keep_going = false;
  bool import_json = false;  ///< the import summary as JSON (RunResult::import) instead of text to err
  backends::BackendOptions backends;
  const std::atomic<bool>* interrupted = nullptr;
  exec::Progress* progress = nullptr;
  std::string tool_version;
  /// Run one shard's part only (plan/shard.h); no report is written: it is the merge's.
  plan::ShardSpec shard;
  /// A shared remote cache URL (cache/remote.h); "" = the review's [cache] remote, if any.
  std::string remote;
};

struct RunResult {
  exec::RunSummary summary;
  std::string report_path;  ///< the report folder written, or "" (failures, interruption)
  nlohmann::json import;    ///< the import summary (RunRequest::import_json), else null
  std::optional<plan::Shard> shard;  ///< the shard's part, when RunRequest::shard was given
  std::optional<cache::RemoteStats> remote;  ///< what the remote cache did, when one was used
  std::string remote_url;
  /// False when unchanged_run() answered: nothing was planned or read but the run's record.
  bool planned = true;
  /// 0 done; 1 some steps failed; 130 interrupted.
  int exit_code() const { return summary.interrupted ? 130 : summary.failed > 0 ? 1 : 0; }
};

/// Runs what the cache does not hold and writes the report folder as a whole (util::replace_dir).
/// Throws Refused (no endpoint answers, --out is not a report folder) before any step runs.
RunResult run_review(Prepared& p, const RunRequest& req, std::ostream& err);

/// `ghx run`'s shortcut (docs/performance.md): the result of `r`'s last complete run as the
/// cache recorded it, when it still holds: the same ghx and numerics, the same inputs (every file
/// the review was loaded from, every path it checked and folder it listed, every file it hashed:
/// unchanged), no stored result deleted or changed since (the cache counts them, by trigger), and
/// the report folder as that run left it. Running the plan would then do nothing, so it is not
/// made: the result is the summary a full run with nothing to do gives. nullopt whenever any of
/// it is not known to hold, and for shards, a remote cache, import backends, checkpoints a server
/// identifies, or GHX_RUN_SHORTCUT=0: then run as usual. Never: writes anything.
std::optional<RunResult> unchanged_run(const dsl::Review& r, cache::Cache& cache, const RunRequest& req);

/// reports/<name>-v<version>
std::string default_out(const dsl::Review& r);

}  // namespace ghx::run
