#include "cli/stats_cmd.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "dsl/csv_import.h"
#include "report/numbers.h"
#include "report/render.h"
#include "stats/stats.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strings.h"

namespace ghx::cli {

namespace {

using nlohmann::json;

constexpr const char* k_default_section = "scores";

std::string trimmed(const std::string& s) { return std::string(util::trim(s)); }

}  // namespace

std::optional<ScoreTable> read_scores_csv(const std::string& path, dsl::Diagnostics& d) {
  std::string text;
  try {
    text = util::read_file(path);
  } catch (const std::exception& e) {
    d.error(dsl::SourcePos{path, 0, 0}, e.what());
    return std::nullopt;
  }
  auto records = dsl::parse_csv(text, path, d);
  if (!records) return std::nullopt;
  if (records->empty()) {
    d.error(dsl::SourcePos{path, 1, 1}, "no header row: expected checkpoint,prompt,seed,metric,value");
    return std::nullopt;
  }
  const dsl::CsvRecord& header = records->front();
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < header.fields.size(); ++i)
    if (!col.emplace(trimmed(header.fields[i].text), i).second && !trimmed(header.fields[i].text).empty())
      d.error(header.fields[i].pos, "column '" + trimmed(header.fields[i].text) + "' appears twice in the header");
  const char* required[] = {"checkpoint", "prompt", "seed", "metric", "value"};
  for (const char* name : required)
    if (!col.count(name))
      d.error(header.pos, std::string("the header has no '") + name +
                              "' column (needed: checkpoint, prompt, seed, metric, value; optional: section, group)");
  if (d.has_errors()) return std::nullopt;
  auto index = [&](const char* name) { return col.count(name) ? static_cast<long>(col[name]) : -1L; };
  const long i_ck = index("checkpoint"), i_pr = index("prompt"), i_seed = index("seed"), i_metric = index("metric"),
             i_value = index("value"), i_section = index("section"), i_group = index("group");
  long needed = 0;
  for (long i : {i_ck, i_pr, i_seed, i_metric, i_value, i_section, i_group}) needed = std::max(needed, i + 1);

  ScoreTable t;
  std::map<std::pair<std::string, std::string>, size_t> aggregate_of;   // (section, metric)
  std::map<std::tuple<std::string, std::string, std::string, std::string, std::string>, size_t> seen;  // -> line
  std::set<std::string> known;
  for (size_t r = 1; r < records->size(); ++r) {
    const dsl::CsvRecord& rec = (*records)[r];
    if (static_cast<long>(rec.fields.size()) < needed) {
      d.error(rec.fields.empty() ? rec.pos : rec.fields.back().pos,
              "the row has " + std::to_string(rec.fields.size()) + " fields; the header's columns need " +
                  std::to_string(needed));
      continue;
    }
    auto field = [&](long i) { return i < 0 ? std::string() : trimmed(rec.fields[static_cast<size_t>(i)].text); };
    bool ok = true;
    for (long i : {i_ck, i_pr, i_seed, i_metric})
      if (field(i).empty()) {
        d.error(rec.fields[static_cast<size_t>(i)].pos,
                "empty '" + trimmed(header.fields[static_cast<size_t>(i)].text) + "'");
        ok = false;
      }
    const std::string value_text = field(i_value);
    double value = std::nan("");
    if (!value_text.empty()) {
      char* end = nullptr;
      errno = 0;
      value = std::strtod(value_text.c_str(), &end);
      if (end != value_text.c_str() + value_text.size() || !std::isfinite(value) || std::fabs(value) > 1e100) {
        d.error(rec.fields[static_cast<size_t>(i_value)].pos,
                "value '" + value_text + "' is not a number within +-1e100 (leave it empty for a failed image)");
        ok = false;
      }
    }
    if (!ok) continue;
    std::string section = field(i_section);
    if (section.empty()) section = k_default_section;
    const std::string ck = field(i_ck), prompt = field(i_pr), seed = field(i_seed), metric = field(i_metric);
    auto [it, fresh] = seen.emplace(std::make_tuple(ck, section, prompt, seed, metric), rec.pos.line);
    if (!fresh) {
      d.error(rec.pos, "duplicate of line " + std::to_string(it->second) + ": checkpoint '" + ck + "', prompt '" +
                           prompt + "', seed '" + seed + "', metric '" + metric + "'");
      continue;
    }
    if (known.insert(ck).second) t.checkpoints.push_back(ck);
    t.metrics.insert(metric);
    auto [ai, new_agg] = aggregate_of.emplace(std::make_pair(section, metric), t.aggregates.size());
    if (new_agg)
      t.aggregates.push_back({{"section", section}, {"metric", metric}, {"variant", "csv"}, {"rows", json::array()}});
    t.aggregates[ai->second]["rows"].push_back({ck, prompt, field(i_group), seed, value_text.empty() ? json() : json(value)});
    ++t.rows;
  }
  if (t.rows == 0 && !d.has_errors()) d.error(header.pos, "no rows of scores after the header");
  if (d.has_errors()) return std::nullopt;
  return t;
}

namespace {

std::string interval_text(const json& ci) {
  if (!ci.is_array() || ci.size() != 2) return "";
  return "[" + report::format_z(ci[0].get<double>()) + ", " + report::format_z(ci[1].get<double>()) + "]";
}

}  // namespace

CLI::App* add_stats(CLI::App& app, StatsArgs& a) {
  auto* s = app.add_subcommand("stats", "A review's statistics on a CSV of per-image scores you already have");
  s->add_option("csv", a.csv, "Scores: header checkpoint,prompt,seed,metric,value (section, group optional)")->required();
  s->add_option("--lower-better", a.lower_better, "A metric where lower is better (repeatable; ghx's losses are known)");
  s->add_option("--bootstrap", a.bootstrap, "Bootstrap replicates: 0 (none) or 200..1000000 (default 2000)");
  s->add_option("--ci", a.ci, "Interval level, 1 - the verdicts' family-wise error (default 0.95)");
  s->add_option("--seed", a.seed, "The bootstrap's seed (default 0)");
  s->add_flag("--json", a.json, "checkpoints, rank_gaps, statistics as in results.json");
  s->add_option("--out", a.out, "Write the report files (report.md, report.html, results.json, results.csv) here");
  return s;
}

int cmd_stats(const StatsArgs& a) {
  if (a.bootstrap != 0 && (a.bootstrap < stats::k_min_bootstrap || a.bootstrap > stats::k_max_bootstrap)) {
    std::cerr << "ghx: error: --bootstrap " << a.bootstrap << ": 0 (no intervals) or " << stats::k_min_bootstrap
              << " to " << stats::k_max_bootstrap << "\n";
    return 2;
  }
  if (!(a.ci >= 0.5 && a.ci <= 0.999)) {
    std::cerr << "ghx: error: --ci " << a.ci << ": a level in [0.5, 0.999]\n";
    return 2;
  }
  dsl::Diagnostics d;
  auto table = read_scores_csv(a.csv, d);
  std::cerr << d.format_all();
  if (!table) return 2;
  for (const auto& m : a.lower_better)
    if (!table->metrics.count(m)) {
      std::string all;
      for (const auto& k : table->metrics) all += (all.empty() ? "" : ", ") + k;
      std::cerr << "ghx: error: --lower-better " << m << ": " << a.csv << " has no metric '" << m << "' (it has: " << all
                << ")\n";
      return 2;
    }

  stats::ReviewInfo info;
  info.name = std::filesystem::path(a.csv).stem().string();
  info.version = "csv";
  info.seed = "";
  for (const auto& c : table->checkpoints) info.checkpoints.emplace_back(c, "");
  info.bootstrap = a.bootstrap;
  info.ci = a.ci;
  info.stat_seed = a.seed;
  info.lower_better.insert(a.lower_better.begin(), a.lower_better.end());
  json results = stats::compute_results(info, table->aggregates);

  if (!a.out.empty()) {
    report::check_report_folder(a.out);
    util::replace_dir(a.out, [&](const std::string& tmp) { report::write_report(results, tmp, report::templates_dir()); });
  }
  if (a.json) {
    json out = {{"checkpoints", results["checkpoints"]},
                {"rank_gaps", results["rank_gaps"]},
                {"statistics", results["statistics"]},
                {"notes", results["notes"]},
                {"metric_directions", results["metric_directions"]}};
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << table->rows << " scores, " << table->checkpoints.size() << " checkpoints, " << table->metrics.size()
            << (table->metrics.size() == 1 ? " metric" : " metrics") << "; " << a.bootstrap
            << " bootstrap replicates over prompts and seeds\n";
  for (const auto& c : results["checkpoints"]) {
    std::cout << "  " << c["rank"].get<int64_t>() << ". " << c["name"].get<std::string>() << "  score "
              << report::format_z(c["score"].get<double>());
    if (c.contains("ci")) std::cout << "  " << interval_text(c["ci"]["score"]);
    std::cout << "\n";
  }
  for (const auto& g : results["rank_gaps"]) {
    std::cout << "  " << g["rank"].get<int64_t>() << "-" << g["rank"].get<int64_t>() + 1 << ": "
              << g["upper"].get<std::string>() << " over " << g["lower"].get<std::string>() << " by "
              << report::format_z(g["diff"].get<double>()) << ": " << g["verdict"].get<std::string>();
    if (g["p_holm"].is_number()) std::cout << " (p " << util::fixed_double(g["p_holm"].get<double>(), 4) << ", Holm)";
    std::cout << "\n";
  }
  for (const auto& n : results["notes"]) std::cout << "note: " << n.get<std::string>() << "\n";
  if (!a.out.empty()) std::cout << "wrote " << a.out << "\n";
  return 0;
}

}  // namespace ghx::cli
