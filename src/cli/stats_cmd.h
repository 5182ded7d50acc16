#pragma once
// `ghx stats SCORES.csv [--lower-better METRIC]... [--bootstrap N] [--ci LEVEL] [--seed S]
// [--json] [--out DIR]`: a review's statistics (stats/stats.h, the very code of `ghx run`'s report
// step) on a table of per-image scores the user already has, e.g. GhostReview's published scores.
// Columns (header row, any order, others ignored): checkpoint, prompt, seed, metric, value;
// optional section (the bootstrap's strata; default one section "scores") and group (a style or
// LoRA id). An empty value is a failed image (skipped, as null in a review).
// Fails: a missing column, a non-number value, a duplicate (checkpoint, section, prompt, seed,
// metric), a row with too few fields, an unreadable file, bad options: "FILE:LINE:COL: error:"
// where there is a position, every problem at once, exit 2, nothing written.
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsl/diagnostics.h"

namespace CLI {
class App;
}

namespace ghx::cli {

struct StatsArgs {
  std::string csv;
  std::vector<std::string> lower_better;
  int64_t bootstrap = 2000;  ///< stats::k_default_bootstrap
  double ci = 0.95;
  uint64_t seed = 0;
  bool json = false;
  std::string out;  ///< report folder to write (report.md, report.html, results.json, results.csv)
};

/// A scores table as the report step's aggregates: one per (section, metric) in first-seen order,
/// rows in file order; checkpoints in first-seen order.
struct ScoreTable {
  std::vector<nlohmann::json> aggregates;
  std::vector<std::string> checkpoints;
  std::set<std::string> metrics;
  size_t rows = 0;
};

/// Reads SCORES.csv; std::nullopt after reporting every problem to `d` (FILE:LINE:COL).
std::optional<ScoreTable> read_scores_csv(const std::string& path, dsl::Diagnostics& d);

/// Adds `stats` to `app`; returns the subcommand, set after parsing when it was chosen.
CLI::App* add_stats(CLI::App& app, StatsArgs& args);

/// Human: the ranking with score intervals, the adjacent-rank verdicts and the notes. JSON:
/// {"checkpoints", "rank_gaps", "statistics", "notes", "metric_directions"} as in results.json.
/// Returns 0, or 2 on bad input.
int cmd_stats(const StatsArgs& args);

}  // namespace ghx::cli
