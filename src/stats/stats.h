#pragma once
// Review statistics: from per-image metric values (aggregate rows) to per-checkpoint numbers,
// per-prompt z-scores across checkpoints, a ranking, NoTM variants, a paired bootstrap over prompts
// and seeds (intervals that generalise over prompts), a variance split and a verdict for each step
// of the ranking with family-wise error control (Holm). Every reduction runs in a fixed order (rows
// in plan order, checkpoints in declaration order) and the bootstrap uses its own portable RNG, so
// the same inputs give the same bits on every platform. `ghx run`'s report step and `ghx stats`
// both come here. Formulas: docs/statistics.md. Fails: throws ghx::Error on malformed aggregate
// JSON or settings.
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace ghx::stats {

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

/// Bounds of [statistics] bootstrap (dsl/loader.cpp, `ghx stats --bootstrap`): 0 (no intervals,
/// every verdict "cannot tell") or k_min_bootstrap..k_max_bootstrap. A results document recomputed
/// from a bundle's plan.jsonl (ghx verify) takes the count from the file: compute_results checks it.
constexpr int64_t k_min_bootstrap = 200;
constexpr int64_t k_max_bootstrap = 1000000;
constexpr int64_t k_default_bootstrap = 2000;

struct ReviewInfo {
  std::string name;
  std::string version;
  std::string seed;
  std::vector<std::pair<std::string, std::string>> checkpoints;  ///< (name, identity), declared order
  int64_t bootstrap = k_default_bootstrap;  ///< bootstrap replicates; 0 = no confidence intervals
  double ci = 0.95;          ///< confidence level of the intervals, 1 - the verdicts' family-wise level
  uint64_t stat_seed = 0;    ///< seed of the bootstrap's RNG
  std::set<std::string> lower_better;  ///< metrics lower-is-better beyond ghx's own (ghx stats)
};

/// The results document (results.json) from the aggregates of every section.
nlohmann::json compute_results(const ReviewInfo& info, const std::vector<nlohmann::json>& aggregates);

/// true when lower values of `metric` are better (ghx's losses, their NoTM variants included).
bool lower_is_better(const std::string& metric);

/// Holm's step-down adjustment: adjusted p-values in the input order (ties sorted by position).
/// A family-wise test at level a rejects exactly the hypotheses whose adjusted p is <= a.
std::vector<double> holm_adjust(const std::vector<double>& p);

/// The standard normal quantile, 0 < q < 1 (Acklam's rational approximation, ~1e-9 relative).
double normal_quantile(double q);

/// Two-sided p-value of a change `delta` between two independent estimates with standard errors
/// se_a and se_b (normal approximation; `ghx diff` across two reviews). 1 when nothing moved;
/// NaN when the errors are unknown or zero while delta is not (nothing to judge by).
double difference_p(double delta, double se_a, double se_b);

/// The verdict words of docs/statistics.md, shared by the report, `ghx stats` and `ghx diff`.
constexpr const char* k_beyond_noise = "beyond noise";
constexpr const char* k_within_noise = "within noise";
constexpr const char* k_cannot_tell = "cannot tell";

}  // namespace ghx::stats
