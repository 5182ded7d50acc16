#include "run/run.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cctype>
#include <filesystem>
#include <functional>
#include <mutex>
#include <unordered_set>

#include "dsl/loader.h"
#include "backends/backends.h"
#include "models/numerics.h"
#include "models/torch_build.h"
#include "plan/file_hasher.h"
#include "report/gallery.h"
#include "report/render.h"
#include "report/review_doc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/version.h"

namespace ghx::run {

using nlohmann::json;

namespace {

bool uses_server_backend(const dsl::Review& r) {
  for (const auto& s : r.sections)
    if (s.generation.backend == "a1111") return true;
  return false;
}

/// The endpoints of the review's sections on `backend`, or --endpoint's.
std::vector<std::string> backend_endpoints(const dsl::Review& r, const backends::BackendOptions& b, const std::string& backend) {
  if (!b.endpoints.empty()) return b.endpoints;
  std::vector<std::string> eps;
  for (const auto& s : r.sections)
    if (s.generation.backend == backend)
      for (const auto& e : s.generation.endpoints)
        if (std::find(eps.begin(), eps.end(), e) == eps.end()) eps.push_back(e);
  return eps;
}

/// Generation on a server: no endpoint answering is bad input (Refused, nothing run). Returns
/// the jobs to run with: at least one request in flight per endpoint that answers.
int probe_servers(const Prepared& p, const plan::KeySet& done,
                  const std::vector<bool>* only, const backends::BackendOptions& b, int jobs, std::ostream& err) {
  for (const std::string backend : {"a1111", "comfyui"}) {
    bool needs_server = false;
    for (size_t i = 0; i < p.plan.steps.size(); ++i) {
      const auto& s = p.plan.steps[i];
      needs_server |= s.kind == plan::StepKind::generate && s.param("backend") == backend && !done.count(s.key) &&
                      (!only || (*only)[i]);
    }
    if (!needs_server) continue;
    std::vector<std::string> errors;
    std::vector<std::string> eps = backend_endpoints(p.review, b, backend);
    std::vector<std::string> alive = backends::probe(backend, eps, b.connect_timeout_s, &errors);
    if (alive.empty()) {
      err << "ghx: error: no generation endpoint answers" << (eps.empty() ? " (none configured: [generation] endpoints or --endpoint)" : "");
      for (const auto& e : errors) err << "\n  " << e;
      err << "\n";
      throw Refused{2};
    }
    for (const auto& e : errors) err << "ghx: warning: endpoint left out: " << e << "\n";
    jobs = std::max<int>(jobs, static_cast<int>(alive.size()));
  }
  return jobs;
}

/// The built-in executors, made when the runner first asks for one.
class LazyExecutors : public exec::ExecutorSet {
 public:
  explicit LazyExecutors(std::function<std::unique_ptr<exec::ExecutorSet>()> make) : m_make(std::move(make)) {}
  exec::Executor* get(plan::StepKind kind) override {
    std::call_once(m_once, [&] { m_set = m_make(); });
    return m_set ? m_set->get(kind) : nullptr;
  }

 private:
  std::function<std::unique_ptr<exec::ExecutorSet>()> m_make;
  std::once_flag m_once;
  std::unique_ptr<exec::ExecutorSet> m_set;
};

/// What a report folder is made from, but its files: the report step's key (which every step
/// key feeds), the review document without its keys, this build, the templates. With the
/// folder's listing after it, the stamp that lets a run with nothing new leave the folder be.
std::string report_stamp_head(const std::string& report_key, const std::string& review_doc, const std::string& templates) {
  return std::string("ghx report stamp 1\n") + GHX_VERSION + " " + GHX_GIT_COMMIT + "\n" + report_key + "\n" +
         review_doc + "\ntemplates\n" + util::tree_listing(templates) + "folder\n";
}

/// The review document without keys, hashed: what a report folder's review.json says but keys.
std::string review_doc_hash(const Prepared& p) {
  return util::xxh3_128(report::review_document(p.review, p.plan, /*with_keys=*/false).dump()).hex();
}

std::string report_stamp_head(const Prepared& p, uint32_t ri, const std::string& templates) {
  return report_stamp_head(p.plan.steps[ri].key.hex(), review_doc_hash(p), templates);
}

// ---- the shortcut of a run with nothing new (unchanged_run) ------------------------------------

std::string absolute_path(const std::string& path) { return std::filesystem::absolute(path).lexically_normal().string(); }

/// Which record of the cache's plan_stamps a run reads and writes: its review and report folder.
std::string run_id(const dsl::Review& r, const std::string& out_dir) {
  return absolute_path(r.file) + "\n" + absolute_path(out_dir);
}

/// This executable, as built: a build from changed sources keeps its version and commit.
std::string executable_identity() {
  struct stat st {};
  if (::stat("/proc/self/exe", &st) != 0) return "unknown";
  return std::to_string(st.st_size) + " " + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

/// What the plan is a function of, but the files it hashes (listed in the stamp beside it).
std::string plan_digest(const dsl::Review& r) {
  return util::xxh3_128(std::string("ghx plan stamp 1\n") + GHX_VERSION + " " + GHX_GIT_COMMIT + " " +
                        executable_identity() + "\n" + r.inputs_digest + "\n" +
                        (r.numerics.empty() ? models::numerics_key() : r.numerics))
      .hex();
}

/// Reviews whose plan depends on more than their files: a server's answers, an import folder's
/// listing (run_review prints what it matched), shards and remotes (their own bookkeeping).
bool shortcut_allowed(const dsl::Review& r, const RunRequest& req) {
  if (const char* e = std::getenv("GHX_RUN_SHORTCUT"))
    if (std::string(e) == "0") return false;
  if (req.shard.active() || !req.remote.empty() || !r.cache_remote.empty() || !r.numerics.empty()) return false;
  for (const auto& s : r.sections)
    if (s.generation.backend == "import") return false;
  if (uses_server_backend(r))
    for (const auto& c : r.checkpoints)
      if (c.file.empty() && c.sha256.empty()) return false;  // identify_server_checkpoints asks
  return true;
}

struct PlanStamp {
  std::string digest, report_key, review_doc;
  std::string cwd;  ///< the files' paths are the plan's, relative to this folder where not absolute
  int64_t removals = -1;
  int64_t total = 0;
  std::vector<std::pair<std::string, std::string>> files;  ///< path, sha256
};

std::string format_stamp(const PlanStamp& st) {
  std::string s = "ghx plan stamp 1\ndigest " + st.digest + "\nremovals " + std::to_string(st.removals) + "\ntotal " +
                  std::to_string(st.total) + "\nreport_key " + st.report_key + "\nreview_doc " + st.review_doc + "\ncwd " + st.cwd + "\n";
  for (const auto& [path, sha] : st.files) s += "file " + sha + " " + path + "\n";
  return s;
}

std::optional<PlanStamp> parse_stamp(const std::string& text) {
  PlanStamp st;
  size_t at = 0;
  int line_no = 0;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) return std::nullopt;
    const std::string line = text.substr(at, nl - at);
    at = nl + 1;
    const size_t sp = line.find(' ');
    const std::string word = line.substr(0, sp);
    const std::string rest = sp == std::string::npos ? "" : line.substr(sp + 1);
    if (line_no++ == 0) {
      if (line != "ghx plan stamp 1") return std::nullopt;
    } else if (word == "digest") st.digest = rest;
    else if (word == "removals") st.removals = std::strtoll(rest.c_str(), nullptr, 10);
    else if (word == "total") st.total = std::strtoll(rest.c_str(), nullptr, 10);
    else if (word == "report_key") st.report_key = rest;
    else if (word == "review_doc") st.review_doc = rest;
    else if (word == "cwd") st.cwd = rest;
    else if (word == "file" && rest.size() > 65 && rest[64] == ' ') st.files.emplace_back(rest.substr(65), rest.substr(0, 64));
    else return std::nullopt;
  }
  if (st.digest.empty() || st.report_key.empty() || st.review_doc.empty() || st.cwd.empty() || st.removals < 0 ||
      st.total <= 0)
    return std::nullopt;
  return st;
}

/// Writes the report folder of report step `ri` from its cached result, as a whole; leaves it
/// as it is when its stamp says it holds exactly that already (no file changed since).
std::string write_report_folder(const Prepared& p, uint32_t ri, const std::string& out_dir, const std::string& templates,
                                std::ostream& err) {
  cache::Cache& cache = *p.cache;
  const std::string abs_out = std::filesystem::absolute(out_dir).lexically_normal().string();
  const std::string head = report_stamp_head(p, ri, templates);
  const std::string stored = cache.report_stamp(abs_out);
  if (!stored.empty() && stored == head + util::tree_listing(abs_out)) return out_dir;
  auto bytes = cache.get(p.plan.steps[ri].key);
  if (!bytes) return "";
  json results;
  try {
    results = json::parse(*bytes);
  } catch (const std::exception& e) {
    // The blob is intact (get() checked its hash) but is not a results document: the index row
    // points at another step's data. Drop it so the next run recomputes it.
    cache.forget(p.plan.steps[ri].key);
    throw Error("cache " + cache.dir() + ": the stored report result " + p.plan.steps[ri].key.hex().substr(0, 12) +
                " is not a results document (a damaged index): dropped it; run again to recompute it");
  }
  // The folder is replaced as a set (util::replace_dir): a reader, or a crash, never sees one
  // run's results.json beside another's report.html.
  size_t missing = 0;
  util::replace_dir(out_dir, [&](const std::string& tmp) {
    report::write_report(results, tmp, templates);
    missing = report::write_gallery(results, tmp, [&](const std::string& hex) -> std::optional<std::string> {
      plan::StepKey key;
      if (!plan::StepKey::from_hex(hex, &key)) return std::nullopt;
      return cache.get(key);
    }, out_dir);
    // What was declared and planned, for `ghx diff` and bundles (no files needed).
    util::write_file_atomic(tmp + "/review.json", report::review_document(p.review, p.plan).dump(2) + "\n");
    // Which ghx wrote this folder: differs between machines, so outside the reproducible files
    // (docs/cache-keys.md); the numerics are in the step keys and in results.json.
    const json prov = {{"ghx", GHX_VERSION},
                       {"git_commit", GHX_GIT_COMMIT},
                       {"libtorch_built_against", GHX_TORCH_VERSION},
                       {"numerics", models::numerics_key()},
                       {"report_key", p.plan.steps[ri].key.hex()}};
    util::write_file_atomic(tmp + "/provenance.json", prov.dump(2) + "\n");
  });
  if (missing) err << "ghx: warning: " << missing << " contact-sheet image(s) could not be written\n";
  else cache.set_report_stamp(abs_out, head + util::tree_listing(abs_out));
  return out_dir;
}

}  // namespace

void keep_plan_until_exit(Prepared& p) {
  static auto* kept = new std::vector<plan::Plan*>;  // never destroyed: reachable, no leak to checkers
  kept->push_back(new plan::Plan(std::move(p.plan)));
}

std::string default_out(const dsl::Review& r) { return "reports/" + r.name + "-v" + r.version; }

namespace {
Prepared prepare(dsl::Review review, std::unique_ptr<cache::Cache> cache, const backends::BackendOptions& b,
                 std::ostream& err, const std::string& cache_dir);
}  // namespace

std::optional<dsl::Review> load_review(const std::string& path, std::ostream& err, const std::string& what) {
  dsl::Diagnostics d;
  auto r = dsl::load_review(path, d);
  err << d.format_all();
  if (!r) err << "ghx: " << d.error_count() << (d.error_count() == 1 ? " error" : " errors") << ", nothing " << what << "\n";
  return r;
}

std::optional<plan::Plan> plan_review(const dsl::Review& r, cache::Cache* cache, std::ostream& err) {
  dsl::Diagnostics d;
  plan::FileHasher hasher(cache);
  auto p = plan::build_plan(r, hasher, d);
  err << d.format_all();
  return p;
}

void identify_server_checkpoints(dsl::Review& r, const backends::BackendOptions& b, std::ostream& err) {
  bool needed = false;
  for (const auto& c : r.checkpoints) needed |= c.file.empty() && c.sha256.empty();
  if (!needed || !uses_server_backend(r)) return;
  std::vector<std::string> errors;
  std::vector<std::string> alive = backends::probe_a1111(backend_endpoints(r, b, "a1111"), b.connect_timeout_s, &errors);
  if (alive.empty()) {
    err << "ghx: error: no generation endpoint answers (needed to identify checkpoints named by backend_name)";
    for (const auto& e : errors) err << "\n  " << e;
    err << "\n";
    throw Refused{2};
  }
  std::vector<backends::ServerModel> models = backends::a1111_models(alive[0], b.connect_timeout_s);
  dsl::Diagnostics d;
  for (auto& c : r.checkpoints) {
    if (!c.file.empty() || !c.sha256.empty()) continue;
    const backends::ServerModel* hit = nullptr;
    for (const auto& m : models) {
      std::string base = std::filesystem::path(m.filename).filename().string();
      if (m.title == c.backend_name || m.model_name == c.backend_name || base == c.backend_name ||
          m.title.rfind(c.backend_name + " [", 0) == 0)
        hit = &m;
    }
    if (!hit) {
      std::string known;
      for (const auto& m : models) known += (known.empty() ? "" : ", ") + m.title;
      d.error(c.pos, "checkpoint '" + c.name + "': " + alive[0] + " has no model named '" + c.backend_name + "' (it has: " + known + ")");
    } else {
      // The identity is always the full SHA-256: the server's; else the file it names, where this
      // machine can read it; else ask the server to load the model (A1111 hashes a file when it
      // loads it) and list again. An AutoV2 alone would give the same checkpoint another key.
      std::string sha = hit->sha256;
      std::string problem;
      // The path is the server's: it names this machine's file only when the server runs here.
      const std::string& url = alive[0];
      const std::string host = url.find("://") == std::string::npos ? url : url.substr(url.find("://") + 3);
      const bool local = host.rfind("127.", 0) == 0 || host.rfind("localhost", 0) == 0 || host.rfind("[::1]", 0) == 0;
      if (sha.empty() && local && !hit->filename.empty() && ::access(hit->filename.c_str(), R_OK) == 0) {
        try {
          plan::FileHasher hasher(nullptr);
          sha = hasher.sha256(hit->filename);
        } catch (const std::exception& e) {
          problem = e.what();
        }
      }
      if (sha.empty()) {
        try {
          backends::a1111_load_model(alive[0], hit->title, b.connect_timeout_s, b.timeout_s);
          for (const auto& m : backends::a1111_models(alive[0], b.connect_timeout_s))
            if (m.title == hit->title || (!hit->filename.empty() && m.filename == hit->filename)) sha = m.sha256;
        } catch (const std::exception& e) {
          problem = e.what();
        }
      }
      for (char& ch : sha) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (sha.size() == 64 && sha.find_first_not_of("0123456789abcdef") == std::string::npos)
        c.server_identity = "sha256:" + sha;
      else
        d.error(c.pos, "checkpoint '" + c.name + "': " + alive[0] + " reports no SHA-256 for '" + hit->title +
                           "', even after loading it" + (problem.empty() ? "" : " (" + problem + ")") +
                           "; give the checkpoint's `file` (or `sha256`) in the review");
    }
  }
  err << d.format_all();
  if (d.has_errors()) throw Refused{2};
}


Prepared prepare(const std::string& experiment, const std::string& cache_dir, const backends::BackendOptions& b,
                 std::ostream& err) {
  std::optional<dsl::Review> r = load_review(experiment, err);
  if (!r) throw Refused{2};
  return prepare(std::move(*r), nullptr, b, err, cache_dir);
}

Prepared prepare(dsl::Review review, std::unique_ptr<cache::Cache> cache, const backends::BackendOptions& b,
                 std::ostream& err) {
  return prepare(std::move(review), std::move(cache), b, err, "");
}

namespace {
Prepared prepare(dsl::Review review, std::unique_ptr<cache::Cache> cache, const backends::BackendOptions& b,
                 std::ostream& err, const std::string& cache_dir) {
  identify_server_checkpoints(review, b, err);
  if (!cache) cache = cache::Cache::open(cache_dir);
  std::optional<plan::Plan> p = plan_review(review, cache.get(), err);
  if (!p) throw Refused{2};
  return Prepared{std::move(review), std::move(cache), std::move(*p)};
}
}  // namespace

std::optional<RunResult> unchanged_run(const dsl::Review& r, cache::Cache& cache, const RunRequest& req) {
  if (!shortcut_allowed(r, req)) return std::nullopt;
  const std::string out_dir = req.out.empty() ? default_out(r) : req.out;
  std::optional<PlanStamp> st = parse_stamp(cache.plan_stamp(run_id(r, out_dir)));
  if (!st || st->digest != plan_digest(r) || st->cwd != absolute_path(".") || st->removals != cache.done_removals())
    return std::nullopt;
  plan::FileHasher hasher(&cache);
  for (const auto& [path, sha] : st->files) {
    try {
      if (hasher.sha256(path) != sha) return std::nullopt;
    } catch (const std::exception&) {
      return std::nullopt;  // the full run says what is wrong with it
    }
  }
  const std::string abs_out = absolute_path(out_dir);
  const std::string folder = cache.report_stamp(abs_out);
  if (folder.empty() ||
      folder != report_stamp_head(st->report_key, st->review_doc, report::templates_dir()) + util::tree_listing(abs_out))
    return std::nullopt;
  RunResult res;
  res.summary.total = res.summary.cached = st->total;
  res.report_path = out_dir;
  res.planned = false;
  return res;
}

RunResult run_review(Prepared& p, const RunRequest& req, std::ostream& err) {
  RunResult res;
  if (req.shard.active()) res.shard = plan::shard_of(p.plan, req.shard);
  const std::vector<bool>* only = res.shard ? &res.shard->mine : nullptr;
  const int64_t removals = p.cache->done_removals();  // before the done keys: see below
  const auto done = p.cache->done_keys();  // what this run need not do, read once
  const int jobs = probe_servers(p, done, only, req.backends, req.jobs, err);
  const std::string out_dir = req.out.empty() ? default_out(p.review) : req.out;
  if (!only) report::check_report_folder(out_dir);  // before any work: it will be replaced whole
  const std::string templates = report::templates_dir();

  {
    // Import backend: say what the folders hold before running (matched, unmatched, missing).
    bool has_import = false;
    for (const auto& s : p.plan.steps) has_import |= s.kind == plan::StepKind::generate && s.param("backend") == "import";
    if (has_import) {
      backends::ImportReport ir = backends::match_import(p.plan, [&](uint32_t i) { return done.count(p.plan.steps[i].key) > 0; });
      if (req.import_json) res.import = json::parse(backends::import_summary(ir, p.plan, true));
      else err << backends::import_summary(ir, p.plan, false);
    }
  }

  exec::RunOptions opts;
  opts.jobs = jobs;
  opts.keep_going = req.keep_going ? exec::KeepGoing::yes : exec::KeepGoing::no;
  opts.interrupted = req.interrupted;
  opts.progress = req.progress;
  opts.tool_version = req.tool_version;
  opts.only = only;
  opts.done = &done;
  // Made on the first step that runs: the executors live in libghx_heavy.so (heavy/heavy.h),
  // which a run with nothing to do never loads.
  LazyExecutors executors([&] { return exec::ExecutorSet::builtin(backends::make_generators(req.backends)); });
  // A shared remote cache in front of the local one: steps it holds are fetched, not computed.
  // Held as a StepStore: the class is the module's (so are its type's details).
  std::unique_ptr<cache::StepStore> remote;
  const std::string remote_url = !req.remote.empty() ? req.remote : p.review.cache_remote;
  if (!remote_url.empty()) {
    remote = cache::open_remote_store(*p.cache, remote_url);
    std::string why;
    if (!cache::remote_reachable(*remote, &why)) {
      err << "ghx: warning: remote cache " << remote_url << " does not answer (" << why
          << "): running without it\n";
      remote.reset();
    }
  }
  cache::StepStore& store = remote ? *remote : static_cast<cache::StepStore&>(*p.cache);
  res.summary = exec::run_plan(p.plan, store, executors, opts);
  if (remote) {
    res.remote = cache::remote_stats(*remote);
    res.remote_url = remote_url;
  }
  const exec::RunSummary& sum = res.summary;

  if (!sum.interrupted && sum.failed == 0 && !only)
    for (uint32_t ri : p.plan.report_steps) {
      std::string written = write_report_folder(p, ri, out_dir, templates, err);
      if (!written.empty()) res.report_path = written;
    }
  // A complete run leaves the record unchanged_run() reads: every step done (then or before),
  // the report folder stamped. The count of removed results is the one read before the done
  // keys, so a result removed while this run went on makes the record stale, never wrong.
  if (!remote && sum.failed == 0 && !sum.interrupted && sum.skipped == 0 && sum.storage_error.empty() &&
      sum.executed + sum.cached + sum.elsewhere == sum.total && p.plan.report_steps.size() == 1 &&
      !res.report_path.empty() && shortcut_allowed(p.review, req) && removals >= 0) {
    PlanStamp st;
    st.digest = plan_digest(p.review);
    st.removals = removals;
    st.total = sum.total;
    st.report_key = p.plan.steps[p.plan.report_steps[0]].key.hex();
    st.review_doc = review_doc_hash(p);
    st.cwd = absolute_path(".");
    bool plain = st.cwd.find('\n') == std::string::npos;
    for (const auto& [path, sha] : p.plan.file_sha256) {
      plain &= path.find('\n') == std::string::npos && sha.size() == 64;
      st.files.emplace_back(path, sha);
    }
    const std::string abs_out = absolute_path(out_dir);
    if (plain && p.cache->report_stamp(abs_out) == report_stamp_head(st.report_key, st.review_doc, templates) +
                                                      util::tree_listing(abs_out))
      p.cache->set_plan_stamp(run_id(p.review, out_dir), format_stamp(st));
  }
  if (!sum.storage_error.empty()) {
    // One message for the cause; the steps it failed are not the steps' fault.
    err << "ghx: error: cache " << p.cache->dir() << " cannot store results: " << sum.storage_error
        << "\n  the run stopped; every step it finished is kept: fix the storage (space, permissions) and run again\n";
  }
  for (const auto& f : sum.failures)
    if (sum.storage_error.empty() || f.error.rfind("cannot store result: ", 0) != 0)
      err << "ghx: error: step " << f.key.substr(0, 12) << " (" << f.label << ") failed: " << f.error << "\n";
  if (sum.interrupted) err << "ghx: interrupted; finished steps are in the cache, run again to continue\n";
  return res;
}

}  // namespace ghx::run
