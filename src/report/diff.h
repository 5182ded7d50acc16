#pragma once
// `ghx diff A B`: what changed between two versions of a review. A pure comparison of two review
// documents (review.json, report/review_doc.h) and their optional results documents
// (results.json): the declarations (experiment, checkpoints, models, metrics, statistics,
// sections, prompts, files by content), how many of B's steps A already computed, and per
// checkpoint and headline metric the change with both sides' intervals and a verdict (beyond /
// within noise, cannot tell) with Holm's family-wise control over every value compared. The diff is one JSON object; the terminal and Markdown renderings are made from it,
// so the three outputs never disagree. Choices and the JSON layout: docs/diff.md.
// Same inputs => same bytes: every list sorted or in a fixed order, numbers in fixed formats.
// Fails: never on well-formed documents; a key of the wrong type is read as absent.
#include <map>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

namespace ghx::report {

/// One side of a diff. Loading files and planning is the caller's business (cli/diff_cmd.h).
struct DiffSide {
  std::string source;        ///< the path as given on the command line
  std::string kind;          ///< "report_folder" or "experiment"
  nlohmann::json review;     ///< the review document
  nlohmann::json results;    ///< the results document, or null when not computed (yet)
  std::string results_note;  ///< why `results` is null ("not computed yet: ...")
  /// Experiment inputs only (from the plan): step key (hex) -> kind. Empty for report folders,
  /// whose review document has the keys but not their kinds.
  std::map<std::string, std::string> step_kinds;
  /// Experiment inputs only: the keys of this side's plan that the cache holds, and the cache
  /// folder; nullopt when there is no cache to ask.
  std::optional<std::set<std::string>> cached;
  std::string cache_dir;
};

/// The diff as one JSON object: {"a", "b", "declarations", "reuse", "results"} (docs/diff.md).
nlohmann::json diff_reviews(const DiffSide& a, const DiffSide& b);

/// Terminal text: sections with headers, only what changed ("no change" where nothing did).
std::string diff_text(const nlohmann::json& diff);
/// Markdown with tables; every text from the TOML escaped for table cells.
std::string diff_markdown(const nlohmann::json& diff);

}  // namespace ghx::report
