#include "cli/diff_cmd.h"

#include <filesystem>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cache/cache.h"
#include "dsl/loader.h"
#include "plan/plan.h"
#include "report/diff.h"
#include "report/review_doc.h"
#include "run/run.h"
#include "util/error.h"
#include "util/fs.h"

namespace ghx::cli {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

/// Bad input found after the loader's diagnostics were printed: exit 2, nothing more to say.
struct BadInput {};

json read_json(const std::string& path) {
  try {
    return json::parse(util::read_file(path));
  } catch (const json::exception& e) {
    throw Error(path + ": not valid JSON (" + e.what() + ")");
  }
}

report::DiffSide load_folder(const std::string& dir) {
  report::DiffSide s;
  s.source = dir;
  s.kind = "report_folder";
  std::string review = dir + "/review.json";
  if (!fs::is_regular_file(review))
    throw Error(dir + ": no review.json in this folder (a report folder written by 'ghx run' holds one)");
  s.review = read_json(review);
  if (!s.review.is_object()) throw Error(review + ": not a review document");
  std::string results = dir + "/results.json";
  if (fs::is_regular_file(results))
    s.results = read_json(results);
  else
    s.results_note = "no results.json in " + dir;
  return s;
}

/// Loads and plans an experiment file, as `ghx plan` does but without asking a server for the
/// identity of checkpoints named only by backend_name (they keep "backend_name:..."); the
/// cache, when there is one, only memoises file hashes and answers which steps it holds.
report::DiffSide load_experiment(const std::string& path, cache::Cache* cache, const std::string& cache_dir) {
  report::DiffSide s;
  s.source = path;
  s.kind = "experiment";
  auto r = run::load_review(path, std::cerr, "compared");
  if (!r) throw BadInput{};
  auto p = run::plan_review(*r, cache, std::cerr);
  if (!p) throw BadInput{};
  s.review = report::review_document(*r, *p);
  for (const auto& st : p->steps) s.step_kinds[st.key.hex()] = plan::kind_name(st.kind);
  s.cache_dir = cache_dir;
  if (!cache) {
    s.results_note = "not computed yet: no cache at " + cache_dir + " (--cache DIR)";
    return s;
  }
  auto done = cache->done_keys();
  s.cached.emplace();
  for (const auto& st : p->steps)
    if (done.count(st.key)) s.cached->insert(st.key.hex());
  if (!p->report_steps.empty()) {
    if (auto bytes = cache->get(p->steps[p->report_steps.front()].key)) s.results = json::parse(*bytes);
  }
  if (s.results.is_null())
    s.results_note = "not computed yet in the cache at " + cache_dir + " (run: ghx run " + path + ")";
  return s;
}

}  // namespace

CLI::App* add_diff(CLI::App& app, DiffArgs& a) {
  auto* c = app.add_subcommand("diff", "What changed between two experiment files or two report folders");
  c->add_option("a", a.a, "Experiment file or report folder (the old version)")->required();
  c->add_option("b", a.b, "Experiment file or report folder (the new version)")->required();
  c->add_option("--cache", a.cache, "Cache folder for experiment-file inputs (default ./cache)");
  auto* as_json = c->add_flag("--json", a.json, "Machine-readable output");
  c->add_flag("--md", a.md, "Markdown output")->excludes(as_json);
  return c;
}

int cmd_diff(const DiffArgs& a) {
  for (const std::string& p : {a.a, a.b}) {
    if (!fs::is_directory(p) && !fs::is_regular_file(p)) throw Error(p + ": no such experiment file or report folder");
  }
  // Opened only if it exists: a diff never creates a cache. Without one, files are hashed
  // again and nothing counts as computed.
  std::unique_ptr<cache::Cache> cache;
  bool any_experiment = !fs::is_directory(a.a) || !fs::is_directory(a.b);
  if (any_experiment && fs::exists(a.cache + "/ghx.db")) cache = cache::Cache::open(a.cache);
  try {
    auto load = [&](const std::string& p) {
      return fs::is_directory(p) ? load_folder(p) : load_experiment(p, cache.get(), a.cache);
    };
    report::DiffSide sa = load(a.a);
    report::DiffSide sb = load(a.b);
    json d = report::diff_reviews(sa, sb);
    if (a.json)
      std::cout << d.dump(2) << "\n";
    else if (a.md)
      std::cout << report::diff_markdown(d);
    else
      std::cout << report::diff_text(d);
  } catch (const BadInput&) {
    return 2;
  }
  return 0;
}

}  // namespace ghx::cli
