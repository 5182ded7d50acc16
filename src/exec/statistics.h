#pragma once
// Review statistics: from per-image metric values (aggregate rows) to per-checkpoint numbers,
// per-prompt z-scores across checkpoints and a ranking. Every reduction runs in a fixed order
// (rows in plan order, checkpoints in declaration order) so the same inputs give the same bits.
// Formulas: docs/statistics.md. Fails: throws ghx::Error on malformed aggregate JSON.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ghx::exec {

struct AggregateRow {
  std::string checkpoint;
  std::string prompt;
  std::string group;  ///< the style id (style sections)
  std::string seed;
  double value = 0;
};

/// {"section", "metric", "variant", "rows": [[checkpoint, prompt, group, seed, value], ...]}
nlohmann::json aggregate_json(const std::string& section, const std::string& metric, const std::string& variant,
                              const std::vector<AggregateRow>& rows);

struct ReviewInfo {
  std::string name;
  std::string version;
  std::string seed;
  std::vector<std::pair<std::string, std::string>> checkpoints;  ///< (name, identity), declared order
};

/// The results document (results.json) from the aggregates of every section.
nlohmann::json compute_results(const ReviewInfo& info, const std::vector<nlohmann::json>& aggregates);

/// true when lower values of `metric` are better (losses).
bool lower_is_better(const std::string& metric);

}  // namespace ghx::exec
