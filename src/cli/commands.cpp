#include "cli/commands.h"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cache/cache.h"
#include "cli/bundle_cmd.h"
#include "cli/diff_cmd.h"
#include "cli/models_hash.h"
#include "cli/models_tokens.h"
#include "cli/score.h"
#include "cli/stats_cmd.h"
#include "cli/suite_import.h"
#include "exec/progress.h"
#include "exec/runner.h"
#include "models/clip.h"
#include "models/heads.h"
#include "models/style.h"
#include "models/tokenizer.h"
#include "plan/plan.h"
#include "run/run.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strings.h"
#include "util/version.h"

namespace ghx::cli {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::atomic<bool> g_interrupted{false};

extern "C" void on_signal(int sig) {
  if (g_interrupted.exchange(true)) {
    std::signal(sig, SIG_DFL);  // a second Ctrl-C ends at once (the cache stays consistent)
    std::raise(sig);
  }
}

std::string tool_version() { return std::string("ghx ") + GHX_VERSION + " (" + GHX_GIT_COMMIT + ")"; }

// ---- plan ----------------------------------------------------------------------------------

struct PlanArgs {
  std::string experiment, cache = "cache", explain;
  bool json = false;
  backends::BackendOptions backends;
};

json explain_json(const plan::Plan& p, const plan::Step& s, cache::Cache& c,
                  const plan::KeySet& done) {
  json j;
  j["key"] = s.key.hex();
  j["kind"] = plan::kind_name(s.kind);
  j["implementation_version"] = plan::kind_version(s.kind);
  j["key_schema"] = plan::k_key_schema;
  j["label"] = s.label();
  json params = json::array(), ctx = json::array(), ins = json::array();
  for (const auto& [n, v] : s.params) params.push_back({n, v});
  for (const auto& [n, v] : s.context) ctx.push_back({n, v});
  bool input_to_run = false;
  for (uint32_t i : s.inputs) {
    const auto& in = p.steps[i];
    bool cached = done.count(in.key) > 0;
    input_to_run |= !cached;
    ins.push_back({{"key", in.key.hex()}, {"kind", plan::kind_name(in.kind)}, {"label", in.label()}, {"cached", cached}});
  }
  j["parameters"] = params;
  j["context"] = ctx;
  j["inputs"] = ins;
  if (s.kind == plan::StepKind::generate) {
    // Where the prompt comes from: the suite's text, the fixup rules that rewrote it, and NoTM.
    const std::string* sec = s.find_context("section");
    const std::string* id = s.find_context("prompt_id");
    const std::string* ck = s.find_context("checkpoint.name");
    for (const auto& pr : p.prompts) {
      if (!sec || !id || pr.section != *sec || pr.id != *id) continue;
      if (pr.checkpoint.empty()) j["prompt"] = {{"original", pr.original}, {"final", pr.final_text}, {"rules", pr.rules}};
      else if (ck && pr.checkpoint == *ck) j["notm_excluded"] = true;
    }
  }
  auto rec = c.record(s.key);
  if (done.count(s.key)) {
    j["status"] = "cached";
    j["reason"] = "a result with this key is in the cache";
  } else if (rec && rec->status == 1) {
    j["status"] = "to_run";
    j["reason"] = "failed before: " + rec->error;
  } else {
    j["status"] = "to_run";
    j["reason"] = input_to_run ? "no result in the cache (and some inputs will run first)" : "no result in the cache";
  }
  if (rec) {
    j["provenance"] = {{"tool_version", rec->provenance.tool_version},
                       {"duration_s", rec->provenance.duration_s},
                       {"device", rec->provenance.device},
                       {"created_at", rec->created_at}};
  }
  return j;
}

void print_explain(const json& j) {
  std::cout << "step " << j["key"].get<std::string>() << "  " << j["label"].get<std::string>() << "\n";
  std::cout << "  kind: " << j["kind"].get<std::string>() << " (implementation v" << j["implementation_version"]
            << ", key schema " << j["key_schema"] << ")\n";
  std::cout << "  parameters (hashed, in order):\n";
  for (const auto& p : j["parameters"]) std::cout << "    " << p[0].get<std::string>() << " = " << p[1].get<std::string>() << "\n";
  if (!j["context"].empty()) {
    std::cout << "  context (not hashed):\n";
    for (const auto& p : j["context"]) std::cout << "    " << p[0].get<std::string>() << " = " << p[1].get<std::string>() << "\n";
  }
  if (j.contains("prompt")) {
    const auto& pr = j["prompt"];
    std::cout << "  prompt (suite): " << pr["original"].get<std::string>() << "\n";
    if (!pr["rules"].empty()) {
      std::string rules;
      for (const auto& r : pr["rules"]) rules += (rules.empty() ? "" : ", ") + r.get<std::string>();
      std::cout << "  prompt (final): " << pr["final"].get<std::string>() << "\n  fixups: " << rules << "\n";
    }
  }
  if (j.value("notm_excluded", false))
    std::cout << "  NoTM: this checkpoint made the LoRA's showcase images; left out of lora_loss_notm\n";
  std::cout << "  inputs (" << j["inputs"].size() << "):\n";
  size_t shown = 0;
  for (const auto& in : j["inputs"]) {
    if (++shown > 20) {
      std::cout << "    ... " << (j["inputs"].size() - 20) << " more\n";
      break;
    }
    std::cout << "    " << in["key"].get<std::string>() << "  " << in["label"].get<std::string>()
              << (in["cached"].get<bool>() ? "  [cached]" : "  [to run]") << "\n";
  }
  std::cout << "  status: " << j["status"].get<std::string>() << ": " << j["reason"].get<std::string>() << "\n";
  if (j.contains("provenance")) {
    const auto& pv = j["provenance"];
    std::cout << "  last result: " << pv["tool_version"].get<std::string>() << ", " << pv["device"].get<std::string>()
              << ", " << util::human_duration(pv["duration_s"].get<double>()) << "\n";
  }
}

int cmd_plan(const PlanArgs& a) {
  run::Prepared prep = run::prepare(a.experiment, a.cache, a.backends, std::cerr);
  struct Keep {
    run::Prepared& p;
    ~Keep() { run::keep_plan_until_exit(p); }
  } keep{prep};
  const dsl::Review& r = prep.review;
  const plan::Plan& p = prep.plan;
  cache::Cache* cache = prep.cache.get();
  auto done = cache->done_keys();

  if (!a.explain.empty()) {
    std::string prefix = a.explain;
    for (auto& ch : prefix) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    json all = json::array();
    for (const auto& s : p.steps)
      if (s.key.hex().compare(0, prefix.size(), prefix) == 0) all.push_back(explain_json(p, s, *cache, done));
    if (all.empty()) {
      std::cerr << "ghx: error: no step of this plan has a key starting with '" << a.explain << "'\n";
      return 2;
    }
    if (a.json) std::cout << json({{"steps", all}}).dump(2) << "\n";
    else
      for (const auto& j : all) print_explain(j);
    return 0;
  }

  std::map<std::string, std::pair<int64_t, int64_t>> by_kind;  // total, to_run
  int64_t cached = 0;
  for (const auto& s : p.steps) {
    auto& k = by_kind[plan::kind_name(s.kind)];
    ++k.first;
    if (done.count(s.key)) ++cached;
    else ++k.second;
  }
  int64_t total = static_cast<int64_t>(p.steps.size());
  if (a.json) {
    json bk = json::object();
    for (const auto& [k, v] : by_kind) bk[k] = {{"total", v.first}, {"to_run", v.second}};
    json prompts = json::array();
    for (const auto& pr : p.prompts) {
      json o = {{"section", pr.section}, {"id", pr.id}, {"original", pr.original}, {"final", pr.final_text}, {"rules", pr.rules}};
      if (!pr.checkpoint.empty()) o["checkpoint"] = pr.checkpoint;
      prompts.push_back(o);
    }
    json out = {{"experiment", {{"name", r.name}, {"version", r.version}}},
                {"steps", {{"total", total}, {"cached", cached}, {"to_run", total - cached}, {"by_kind", bk}}},
                {"prompts", prompts}};
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << r.name << " v" << r.version << ": " << total << " steps, " << cached << " cached, " << (total - cached)
              << " to run\n";
    for (const auto& [k, v] : by_kind)
      std::printf("  %-16s %8lld total %8lld to run\n", k.c_str(), static_cast<long long>(v.first),
                  static_cast<long long>(v.second));
  }
  return 0;
}

// ---- run -----------------------------------------------------------------------------------

struct RunArgs {
  std::string experiment, cache = "cache", out, shard, remote;
  bool keep_going = false, json = false;
  int jobs = 1;
  backends::BackendOptions backends;
};

int cmd_run(const RunArgs& a) {
  std::optional<dsl::Review> loaded = run::load_review(a.experiment, std::cerr);
  if (!loaded) throw run::Refused{2};
  auto cache = cache::Cache::open(a.cache);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  exec::ConsoleProgress progress(stderr, exec::ConsoleProgress::is_smart_terminal(stderr));
  run::RunRequest req;
  req.out = a.out;
  req.jobs = a.jobs;
  req.keep_going = a.keep_going;
  req.import_json = a.json;
  req.backends = a.backends;
  req.interrupted = &g_interrupted;
  req.progress = &progress;
  req.tool_version = tool_version();
  req.remote = a.remote;
  if (!a.shard.empty()) {
    std::string why;
    plan::parse_shard(a.shard, &req.shard, &why);  // checked by the option's validator
  }
  // Nothing new since the last complete run: its summary, without planning (run/run.h).
  std::optional<run::RunResult> quick = run::unchanged_run(*loaded, *cache, req);
  std::optional<run::Prepared> prep;
  if (!quick) {
    prep.emplace(run::prepare(std::move(*loaded), std::move(cache), a.backends, std::cerr));
    quick = run::run_review(*prep, req, std::cerr);
    run::keep_plan_until_exit(*prep);
  }
  const run::RunResult& res = *quick;
  const exec::RunSummary& sum = res.summary;
  const dsl::Review& r = prep ? prep->review : *loaded;
  if (a.json) {
    json j = {{"executed", sum.executed}, {"cached", sum.cached},      {"failed", sum.failed}, {"elsewhere", sum.elsewhere},
              {"skipped", sum.skipped},   {"total", sum.total},        {"interrupted", sum.interrupted},
              {"report", res.report_path.empty() ? json(nullptr) : json(res.report_path)}, {"planned", res.planned}};
    if (!res.import.is_null()) j["import"] = res.import;
    if (!sum.storage_error.empty()) j["storage_error"] = sum.storage_error;
    if (res.shard) {
      const plan::Shard& sh = *res.shard;
      j["shard"] = {{"index", req.shard.index},
                    {"count", req.shard.count},
                    {"steps", sh.steps},
                    {"units", sh.units},
                    {"shared", sh.shared},
                    {"cost", sh.cost},
                    {"cost_of_share", sh.cost_total > 0 ? sh.cost / (sh.cost_total / req.shard.count) : 0.0},
                    {"left_to_other_shards", sum.others - sh.left_to_merge},
                    {"left_to_merge", sh.left_to_merge}};
    }
    if (res.remote) {
      const cache::RemoteStats& rs = *res.remote;
      j["remote"] = {{"url", res.remote_url}, {"hits", rs.hits},         {"misses", rs.misses},
                     {"uploads", rs.uploads}, {"errors", rs.errors},     {"bytes_in", rs.bytes_in},
                     {"bytes_out", rs.bytes_out}, {"lookup_s", rs.lookup_s}};
    }
    std::cout << j.dump() << "\n";
  } else {
    std::cout << r.name << " v" << r.version;
    if (res.shard)
      std::cout << " shard " << req.shard.index << "/" << req.shard.count << " (" << res.shard->steps << " steps: "
                << res.shard->units << " images' chains, " << res.shard->shared << " shared inputs)";
    std::cout << ": " << sum.executed << " executed, " << sum.cached << " cached, ";
    if (sum.elsewhere) std::cout << sum.elsewhere << " stored by other runs, ";
    std::cout << sum.failed << " failed";
    if (sum.skipped) std::cout << ", " << sum.skipped << " not run";
    std::cout << "\n";
    if (res.remote)
      std::cout << "remote cache " << res.remote_url << ": " << res.remote->hits << " fetched, " << res.remote->uploads
                << " stored" << (res.remote->errors ? ", " + std::to_string(res.remote->errors) + " failed exchanges" : "")
                << "\n";
    if (res.shard)
      std::cout << "left: " << sum.others - res.shard->left_to_merge << " steps to the other shards, "
                << res.shard->left_to_merge << " aggregate and report steps to the merge (ghx cache merge, then ghx run)\n";
    if (!res.report_path.empty()) std::cout << "report: " << res.report_path << "/report.html\n";
  }
  return res.exit_code();
}

// ---- cache ---------------------------------------------------------------------------------

int cmd_cache(const std::string& what, const std::string& dir, bool as_json, bool repair) {
  if (!fs::exists(dir + "/ghx.db")) throw Error(dir + ": no ghx cache here");
  auto c = cache::Cache::open(dir);
  if (what == "stats") {
    cache::Stats s = c->stats();
    if (as_json) {
      json bk = json::object();
      for (const auto& [k, v] : s.by_kind) bk[k] = {{"done", v.done}, {"failed", v.failed}, {"bytes", v.bytes}};
      std::cout << json({{"by_kind", bk}, {"blobs", s.blobs}, {"blob_bytes", s.blob_bytes}, {"db_bytes", s.db_bytes},
                         {"file_hashes", s.file_hashes}})
                       .dump()
                << "\n";
    } else {
      std::cout << "cache " << dir << ": " << s.blobs << " blobs, " << s.blob_bytes << " bytes; index " << s.db_bytes
                << " bytes; " << s.file_hashes << " memoised file hashes\n";
      for (const auto& [k, v] : s.by_kind)
        std::printf("  %-16s %8lld done %6lld failed %12lld bytes\n", k.c_str(), static_cast<long long>(v.done),
                    static_cast<long long>(v.failed), static_cast<long long>(v.bytes));
    }
    return 0;
  }
  if (what == "verify") {
    exec::ConsoleProgress progress(stderr, !as_json && exec::ConsoleProgress::is_smart_terminal(stderr));
    bool started = false;
    cache::VerifyReport v = c->verify(repair ? cache::Repair::yes : cache::Repair::no, [&](int64_t d, int64_t t) {
      if (!started) {
        progress.start(t);
        started = true;
      }
      progress.advance(1, "verify");
      (void)d;
    });
    if (started) progress.finish();
    if (as_json) {
      json bad = json::array();
      for (const auto& [k, why] : v.bad) bad.push_back({{"key", k}, {"problem", why}});
      std::cout << json({{"checked", v.checked}, {"bad", bad}, {"repaired", v.repaired}}).dump() << "\n";
    } else {
      for (const auto& [k, why] : v.bad) std::cout << k << ": " << why << (repair ? " (dropped)" : "") << "\n";
      std::cout << v.checked << " entries checked, " << v.bad.size() << " bad";
      if (repair) std::cout << ", " << v.repaired << " dropped (they will be recomputed)";
      else if (!v.bad.empty()) std::cout << "; run 'ghx cache verify --repair' to drop them";
      std::cout << "\n";
    }
    return v.bad.empty() || repair ? 0 : 3;
  }
  cache::GcReport g = c->gc();
  if (as_json) {
    std::cout << json({{"orphan_blobs", g.orphan_blobs}, {"temp_files", g.temp_files}, {"failed_rows", g.failed_rows},
                       {"bytes_freed", g.bytes_freed}, {"live_runs", g.live_runs}, {"temp_files_kept", g.temp_files_kept}})
                     .dump()
              << "\n";
  } else {
    std::cout << "removed " << g.orphan_blobs << " unreferenced blobs, " << g.temp_files << " temporary files, "
              << g.failed_rows << " failure records; " << g.bytes_freed << " bytes freed\n";
    if (g.live_runs)
      std::cout << g.live_runs << " run(s) at work on this cache: kept " << g.temp_files_kept
                << " temporary file(s) they may be writing\n";
  }
  return 0;
}

int cmd_cache_merge(const std::string& dir, const std::vector<std::string>& sources, bool as_json) {
  auto c = cache::Cache::open(dir);
  exec::ConsoleProgress progress(stderr, !as_json && exec::ConsoleProgress::is_smart_terminal(stderr));
  bool started = false;
  cache::MergeReport m = c->merge_from(sources, [&](int64_t, int64_t total) {
    if (!started) {
      progress.start(total);
      started = true;
    }
    progress.advance(1, "merge");
  });
  if (started) progress.finish();
  if (as_json) {
    json ch = json::array();
    for (const auto& x : m.choices) ch.push_back({{"key", x.key}, {"kept", x.kept}, {"left", x.left}});
    std::cout << json({{"sources", m.sources},
                       {"rows", m.rows},
                       {"copied", m.copied},
                       {"present", m.present},
                       {"bytes", m.bytes},
                       {"failures_left", m.failures_left},
                       {"dependents_left", m.dependents_left},
                       {"corrupt_left", m.corrupt_left},
                       {"generation_choices", ch},
                       {"seconds", m.seconds}})
                     .dump()
              << "\n";
  } else {
    char mb[32];
    std::snprintf(mb, sizeof mb, "%.1f MB in %.1f s", static_cast<double>(m.bytes) / 1e6, m.seconds);
    std::cout << "merged " << m.sources.size() << " cache(s) into " << dir << ": " << m.copied << " steps copied (" << mb
              << "), " << m.present
              << " already there\n";
    for (const auto& x : m.choices)
      std::cout << "  generate " << x.key << ": two images (GPU non-determinism); kept " << x.kept << "'s, left "
                << x.left << "'s\n";
    if (m.dependents_left)
      std::cout << "  " << m.dependents_left << " step(s) made from a left-out image not copied: the next run recomputes them\n";
    if (m.failures_left) std::cout << "  " << m.failures_left << " failed step(s) not copied: the next run retries them\n";
    if (m.corrupt_left) std::cout << "  " << m.corrupt_left << " step(s) with a damaged blob not copied: the next run recomputes them\n";
  }
  return 0;
}

// ---- models --------------------------------------------------------------------------------

int cmd_models_tiny(const std::string& dir) {
  std::cout << models::write_tiny_vgg19(dir) << "\n";
  std::string vocab = dir + "/bpe_vocab.txt.gz";
  int merges = models::write_tiny_bpe_vocab(vocab);
  std::cout << vocab << "\n";
  std::string clip = models::write_tiny_clip(dir, 512 + merges + 2);
  std::cout << clip << "\n" << dir << "/clip_config.json\n";
  std::cout << models::write_tiny_aesthetic(dir, models::clip_config(dir + "/clip_config.json").projection_dim) << "\n";
  return 0;
}

}  // namespace

namespace {

/// Every option of every command takes one value per use; a list is the option repeated
/// (`--target a --target b`), so `--target t.png a.png` leaves a.png to the positionals.
void one_value_per_use(CLI::App& app) {
  for (CLI::Option* o : app.get_options())
    if (!o->get_positional()) o->allow_extra_args(false);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) one_value_per_use(*sub);
}

}  // namespace

namespace {
int run_or_inspect(int argc, char** argv, const std::function<int(CLI::App&)>& inspect);
}

int run_cli(int argc, char** argv) { return run_or_inspect(argc, argv, nullptr); }

int inspect_cli(const std::function<int(CLI::App&)>& inspect) { return run_or_inspect(0, nullptr, inspect); }

namespace {
int run_or_inspect(int argc, char** argv, const std::function<int(CLI::App&)>& inspect) {
  CLI::App app{"ghx: reviews Stable Diffusion checkpoints (docs/language.md)", "ghx"};
  app.require_subcommand(0, 1);
  bool show_version = false;
  app.add_flag("--version", show_version, "Print the version");

  PlanArgs pa;
  auto* plan_cmd = app.add_subcommand("plan", "Expand a review into keyed steps; counts cached and to-run");
  plan_cmd->add_option("experiment", pa.experiment, "Experiment TOML")->required();
  plan_cmd->add_option("--cache", pa.cache, "Cache folder (default ./cache)");
  plan_cmd->add_flag("--json", pa.json, "Machine-readable output");
  plan_cmd->add_option("--explain", pa.explain, "Explain the steps whose key starts with this prefix");

  RunArgs ra;
  auto* run_cmd = app.add_subcommand("run", "Run what the cache does not hold, then write the report");
  run_cmd->add_option("experiment", ra.experiment, "Experiment TOML")->required();
  run_cmd->add_option("--cache", ra.cache, "Cache folder (default ./cache)");
  run_cmd->add_option("--out", ra.out, "Report folder (default ./reports/<name>-v<version>)");
  run_cmd->add_flag("--keep-going", ra.keep_going, "Go on after a failed step (its dependents are skipped)");
  run_cmd->add_option("--jobs", ra.jobs, "Batches run at once")->check(CLI::Range(1, 256));
  run_cmd->add_flag("--json", ra.json, "Machine-readable summary on stdout");
  run_cmd->add_option("--remote", ra.remote, "Shared remote cache (Bazel HTTP protocol: /cas/, /ac/); overrides [cache] remote");
  run_cmd->add_option("--shard", ra.shard, "Run only shard I of N (I/N): images with their features and metrics; no report")
      ->check(CLI::Validator(
          [](std::string& v) {
            plan::ShardSpec spec;
            std::string why;
            return plan::parse_shard(v, &spec, &why) ? std::string() : why;
          },
          "I/N"));
  for (auto* c : {plan_cmd, run_cmd}) {
    backends::BackendOptions& b = c == plan_cmd ? pa.backends : ra.backends;
    c->add_option("--endpoint", b.endpoints, "Generation server URL (repeatable); replaces the review's endpoints");
    c->add_option("--connect-timeout", b.connect_timeout_s, "Seconds to wait for a server connection (default 10)");
  }
  run_cmd->add_option("--timeout", ra.backends.timeout_s,
                      "Seconds one generation request may take, whole answer included (default 600)")
      ->check(CLI::Range(0.001, backends::k_max_deadline_s));
  run_cmd->add_option("--max-image-mb", ra.backends.max_image_mb,
                      "Largest image a server may send, in MB; a larger answer fails its step (default 64)")
      ->check(CLI::Range(0.01, backends::k_max_image_mb));
  run_cmd->add_option("--retries", ra.backends.retries, "Retries on connection errors and 5xx (default 4)")
      ->check(CLI::Range(0, 100));
  run_cmd->add_option("--backoff", ra.backends.backoff_s, "First retry delay in seconds, doubled each time (default 0.5)");

  std::string cache_dir = "cache";
  bool cache_json = false, repair = false;
  auto* cache_cmd = app.add_subcommand("cache", "Inspect and maintain the cache");
  cache_cmd->require_subcommand(1);
  for (const char* name : {"stats", "verify", "gc"}) {
    auto* sc = cache_cmd->add_subcommand(name, std::string(name) == "stats"    ? "Entries and sizes by kind"
                                               : std::string(name) == "verify" ? "Re-hash every blob; --repair drops bad entries"
                                                                               : "Remove unreferenced blobs and temporary files");
    sc->add_option("--cache", cache_dir, "Cache folder (default ./cache)");
    sc->add_flag("--json", cache_json, "Machine-readable output");
    if (std::string(name) == "verify") sc->add_flag("--repair", repair, "Drop corrupt entries so they are recomputed");
  }

  std::vector<std::string> merge_sources;
  auto* merge_cmd = cache_cmd->add_subcommand("merge", "Copy the done steps of other caches (shards' caches) into --cache");
  merge_cmd->add_option("--cache", cache_dir, "Destination cache folder (default ./cache; created if missing)");
  merge_cmd->add_option("sources", merge_sources, "Cache folders to copy from (read only)")->required();
  merge_cmd->add_flag("--json", cache_json, "Machine-readable output");

  std::string tiny_dir;
  auto* models_cmd = app.add_subcommand("models", "Model files");
  models_cmd->require_subcommand(1);
  auto* tiny_cmd = models_cmd->add_subcommand("tiny", "Write tiny random weights in the real layouts (demo, tests)");
  tiny_cmd->add_option("dir", tiny_dir, "Output folder")->required();
  std::vector<std::string> hash_files;
  bool hash_json = false;
  auto* hash_cmd = models_cmd->add_subcommand("hash", "SHA-256, AutoV2, AutoV1 and LoRA hashes of model files");
  hash_cmd->add_option("files", hash_files, "Model files")->required();
  hash_cmd->add_flag("--json", hash_json, "Machine-readable output");
  TokensArgs tokens_args;
  auto* tokens_cmd = models_cmd->add_subcommand("tokens", "What CLIP's text encoder sees of texts: tokens, chunks, the cut");
  tokens_cmd->add_option("--tokenizer", tokens_args.tokenizer, "bpe_simple_vocab_16e6.txt.gz, or a HF vocab.json")->required();
  tokens_cmd->add_option("--context", tokens_args.context, "Context length (default 77: start, 75 tokens, end)")
      ->check(CLI::Range(3, 4096));
  tokens_cmd->add_flag("--json", tokens_args.json, "Machine-readable output");
  tokens_cmd->add_option("texts", tokens_args.texts, "Texts; - reads texts from stdin, one per line")->required();

  SuiteImportArgs suite_import_args;
  auto* suite_import_cmd = add_suite_import(app, suite_import_args);

  DiffArgs diff_args;
  auto* diff_cmd = add_diff(app, diff_args);

  BundleArgs bundle_args;
  auto* bundle_cmd = add_bundle(app, bundle_args);
  VerifyArgs verify_args;
  auto* verify_cmd = add_verify(app, verify_args);

  ScoreArgs sa;
  auto* score_cmd = app.add_subcommand("score", "Score image files (PNG, JPEG, WebP) you already have");
  score_cmd->require_subcommand(1);
  auto* style_cmd = score_cmd->add_subcommand("style", "VGG19 style loss against target images");
  style_cmd->add_option("--vgg19", sa.vgg19, "VGG19 weights (safetensors or .pth)")->required();
  style_cmd->add_option("--target", sa.targets, "Target images or folders")->required();
  style_cmd->add_option("--variant", sa.variant, "ghostreview (default) or normalized");
  style_cmd->add_option("--layers", sa.layers, "ghostreview (default), gatys or tutorial: the VGG19 layers read");
  style_cmd->add_option("--size", sa.size, "WIDTHxHEIGHT images and targets are resized to (default 512x512)");
  auto* aes_cmd = score_cmd->add_subcommand("aesthetic", "Aesthetic head over the CLIP image embedding");
  auto* clip_cmd = score_cmd->add_subcommand("clip", "CLIP score between a prompt and each image");
  for (auto* c : {aes_cmd, clip_cmd}) {
    c->add_option("--clip", sa.clip, "CLIP weights (safetensors, .pth or TorchScript .pt; HF or OpenAI layout)")->required();
    c->add_option("--arch", sa.arch, "ViT-B/32, ViT-L/14 (default), ViT-H/14, ViT-L/14-laion2b or a HF config.json");
    c->add_option("--layout", sa.layout, "hf or openai (default: from the keys)");
    c->add_option("--activation", sa.activation, "quick_gelu or gelu (default: the architecture's)");
  }
  aes_cmd->add_option("--head", sa.head, "Aesthetic head weights")->required();
  clip_cmd->add_option("--tokenizer", sa.tokenizer, "bpe_simple_vocab_16e6.txt.gz, or a HF vocab.json")->required();
  clip_cmd->add_option("--prompt", sa.prompt, "The prompt")->required();
  clip_cmd->add_option("--variant", sa.clip_variant, "raw (default), hessel or x100");
  for (auto* c : {style_cmd, aes_cmd, clip_cmd}) {
    c->add_option("images", sa.images, "Images or folders")->required();
    c->add_flag("--json", sa.json, "Machine-readable output");
  }

  StatsArgs stats_args;
  auto* stats_cmd = add_stats(app, stats_args);
  one_value_per_use(app);
  if (inspect) return inspect(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    if (show_version) {
      std::cout << tool_version() << "\n";
      return 0;
    }
    if (*plan_cmd) return cmd_plan(pa);
    if (*run_cmd) return cmd_run(ra);
    if (*cache_cmd) {
      for (const char* name : {"stats", "verify", "gc"})
        if (*cache_cmd->get_subcommand(name)) return cmd_cache(name, cache_dir, cache_json, repair);
      if (*merge_cmd) return cmd_cache_merge(cache_dir, merge_sources, cache_json);
    }
    if (*tiny_cmd) return cmd_models_tiny(tiny_dir);
    if (*hash_cmd) return cmd_models_hash(hash_files, hash_json);
    if (*tokens_cmd) return cmd_models_tokens(tokens_args);
    if (*suite_import_cmd) return cmd_suite_import(suite_import_args);
    if (*diff_cmd) return cmd_diff(diff_args);
    if (*stats_cmd) return cmd_stats(stats_args);
    if (*bundle_cmd) return cmd_bundle(bundle_args);
    if (*verify_cmd) return cmd_verify(verify_args);
    if (*style_cmd) return score_style(sa);
    if (*aes_cmd) return score_clip_family(sa, true);
    if (*clip_cmd) return score_clip_family(sa, false);
    std::cout << app.help();
    return 2;
  } catch (const run::Refused& e) {
    return e.code;
  }
}

}  // namespace

}  // namespace ghx::cli
