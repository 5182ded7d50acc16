#pragma once
// Renders a review's results document into the report folder: report.md, report.html (mustache
// templates from reports_templates/), results.json and results.csv.
// Same results => same bytes: no timestamps, no absolute paths, numbers in fixed formats, keys
// in a fixed order. Text from TOML is escaped in HTML ({{x}}); the Markdown template uses
// raw text. Fails: throws ghx::Error (missing template, unwritable folder).
#include <string>

#include <nlohmann/json.hpp>

namespace ghx::report {

struct Rendered {
  std::string markdown;
  std::string html;
  std::string json;
  std::string csv;
};

/// The folder holding report.md.mustache and report.html.mustache: $GHX_TEMPLATES, else
/// <executable>/../reports_templates or <executable>/../../reports_templates, else the source tree's.
std::string templates_dir();

Rendered render(const nlohmann::json& results, const std::string& templates);

/// Writes the four files atomically; returns the folder.
std::string write_report(const nlohmann::json& results, const std::string& out_dir, const std::string& templates);

/// A report folder is replaced as a whole (util::replace_dir): `dir` must be absent, empty or a
/// report folder ghx wrote (it holds results.json, review.json or provenance.json). Throws
/// ghx::Error otherwise, before any work is done, so that `--out .` can never replace a folder
/// of the user's.
void check_report_folder(const std::string& dir);

}  // namespace ghx::report
