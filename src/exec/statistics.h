#pragma once
// Review statistics: from per-image metric values (aggregate rows) to per-checkpoint numbers,
// per-prompt z-scores across checkpoints, a ranking, NoTM variants, seeded bootstrap confidence
// intervals over seeds, a variance split and how sure each step of the ranking is. Every reduction
// runs in a fixed order (rows in plan order, checkpoints in declaration order) and the bootstrap
// uses its own portable RNG, so the same inputs give the same bits on every platform.
// Formulas: docs/statistics.md. Fails: throws ghx::Error on malformed aggregate JSON or settings.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace ghx::exec {

struct AggregateRow {
  std::string checkpoint;
  std::string prompt;
  std::string group;  ///< the style id (style sections), the LoRA id (LoRA sections)
  std::string seed;
  double value = 0;   ///< NaN for a failed image (written as null)
};

/// {"section", "metric", "variant", "rows": [[checkpoint, prompt, group, seed, value], ...]}, plus
/// "notm_exclude": [[checkpoint, group], ...] when `notm_exclude` is given (even empty): the
/// (checkpoint, LoRA id) pairs that the NoTM rule leaves out of `<metric>_notm`.
nlohmann::json aggregate_json(const std::string& section, const std::string& metric, const std::string& variant,
                              const std::vector<AggregateRow>& rows,
                              const std::vector<std::pair<std::string, std::string>>* notm_exclude = nullptr);

/// The most bootstrap replicates compute_results() accepts: the bound of [statistics] bootstrap
/// in the review TOML (dsl/loader.cpp). A results document recomputed from a bundle's plan.jsonl
/// (ghx verify) takes the count from the file: it must not size the replicate arrays unchecked.
constexpr int64_t k_max_bootstrap = 1000000;

struct ReviewInfo {
  std::string name;
  std::string version;
  std::string seed;
  std::vector<std::pair<std::string, std::string>> checkpoints;  ///< (name, identity), declared order
  int64_t bootstrap = 1000;  ///< bootstrap replicates; 0 = no confidence intervals
  double ci = 0.95;          ///< confidence level of the percentile intervals, in (0, 1)
  uint64_t stat_seed = 0;    ///< seed of the bootstrap's RNG
};

/// The results document (results.json) from the aggregates of every section.
nlohmann::json compute_results(const ReviewInfo& info, const std::vector<nlohmann::json>& aggregates);

/// true when lower values of `metric` are better (losses, their NoTM variants included).
bool lower_is_better(const std::string& metric);

}  // namespace ghx::exec
