#include "cli/bundle_cmd.h"

#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cache/cache.h"
#include "dsl/loader.h"
#include "run/run.h"
#include "models/style.h"
#include "plan/plan.h"
#include "report/bundle.h"
#include "report/render.h"
#include "util/error.h"
#include "util/fs.h"

namespace ghx::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

/// Checkpoints named only by backend_name on an A1111 server were identified by the hash the
/// server reported at run time (commands.cpp). bundle asks no server: it takes the identity the
/// run wrote into the default report folder's review.json. Returns "" or why it cannot.
std::string server_identities(dsl::Review& r) {
  bool server = false;
  for (const auto& s : r.sections) server |= s.generation.backend == "a1111";
  bool needed = false;
  for (const auto& c : r.checkpoints) needed |= c.file.empty() && c.sha256.empty();
  if (!server || !needed) return "";
  std::string doc_path = "reports/" + r.name + "-v" + r.version + "/review.json";
  json doc;
  try {
    doc = json::parse(util::read_file(doc_path));
  } catch (const std::exception&) {
    return "its checkpoints named by backend_name are identified by the hash their server reported at run time, "
           "read from " +
           doc_path + ", which is missing or unreadable (run `ghx run " + r.file + "` from this folder first)";
  }
  for (auto& c : r.checkpoints) {
    if (!c.file.empty() || !c.sha256.empty()) continue;
    for (const auto& dc : doc.value("checkpoints", json::array()))
      if (dc.value("name", "") == c.name && dc.value("backend_name", "") == c.backend_name)
        c.server_identity = dc.value("identity", "");
    if (c.server_identity.empty()) return "checkpoint '" + c.name + "' has no identity in " + doc_path;
  }
  return "";
}

std::string libtorch_version() {
  try {
    return models::torch_description();
  } catch (const std::exception&) {
    return "not loaded";  // a bundle never fails for want of libtorch
  }
}

std::string count(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

CLI::App* add_bundle(CLI::App& app, BundleArgs& a) {
  auto* c = app.add_subcommand("bundle", "Pack a finished review into one deterministic tar (docs/bundles.md)");
  c->add_option("experiment", a.experiment, "Experiment TOML (run first)")->required();
  c->add_option("-o,--output", a.out, "Bundle file: .tar, .tar.gz / .tgz or .tar.zst")->required();
  c->add_option("--cache", a.cache, "Cache folder (default ./cache)");
  c->add_flag("--with-images", a.with_images, "Include every generated image (PNG)");
  c->add_flag("--allow-missing", a.allow_missing,
              "With --with-images: bundle without the images the cache lacks instead of refusing");
  c->add_option("--compress", a.compress, "none, gzip or zstd (default: from the file name)")
      ->check(CLI::IsMember({"none", "gzip", "zstd"}));
  c->add_flag("--force", a.force, "Replace the output file if it exists");
  c->add_flag("--json", a.json, "Machine-readable summary on stdout");
  return c;
}

CLI::App* add_verify(CLI::App& app, VerifyArgs& a) {
  auto* c = app.add_subcommand("verify", "Check a bundle: sums, results, report, step keys (exit 3 on a mismatch)");
  c->add_option("file", a.file, "Bundle file")->required();
  c->add_flag("--json", a.json, "Machine-readable output");
  return c;
}

int cmd_bundle(const BundleArgs& a) {
  std::optional<report::Compression> comp =
      a.compress.empty() ? report::compression_from_name(a.out) : report::parse_compression(a.compress);
  if (!comp) {
    std::cerr << "ghx: error: cannot tell the compression from '" << a.out
              << "': name it .tar, .tar.gz, .tgz or .tar.zst, or pass --compress none|gzip|zstd\n";
    return 2;
  }
  std::error_code ec;
  if (fs::is_directory(a.out, ec)) {
    std::cerr << "ghx: error: " << a.out << " is a folder; -o names the bundle file to write\n";
    return 2;
  }
  if (fs::exists(a.out, ec) && !a.force) {
    std::cerr << "ghx: error: " << a.out << " exists; use --force to replace it\n";
    return 2;
  }

  auto r = run::load_review(a.experiment, std::cerr, "bundled");
  if (!r) return 2;
  if (std::string why = server_identities(*r); !why.empty()) {
    std::cerr << "ghx: error: cannot bundle " << a.experiment << ": " << why << "\n";
    return 2;
  }
  // Never create a cache here: no cache means the review was not run (with this --cache).
  if (!fs::exists(a.cache + "/ghx.db", ec)) {
    std::cerr << "ghx: error: no ghx cache in " << a.cache << ": run `ghx run " << a.experiment << "` first\n";
    return 2;
  }
  auto cache = cache::Cache::open(a.cache);
  auto p = run::plan_review(*r, cache.get(), std::cerr);
  if (!p) return 2;
  auto done = cache->done_keys();
  bool report_done = !p->report_steps.empty();
  for (uint32_t i : p->report_steps) report_done &= done.count(p->steps[i].key) > 0;
  if (!report_done) {
    size_t missing = 0;
    for (const auto& s : p->steps) missing += done.count(s.key) ? 0 : 1;
    std::cerr << "ghx: error: the review's report is not in " << a.cache << ": run `ghx run " << a.experiment
              << "` first (" << count(missing, "step", "steps") << " not cached)\n";
    return 2;
  }

  report::BundleOptions opts;
  opts.with_images = a.with_images;
  opts.allow_missing = a.allow_missing;
  opts.compression = *comp;
  opts.templates = report::templates_dir();
  opts.libtorch = libtorch_version();
  report::BundleSummary s = report::write_bundle(*r, *p, *cache, a.out, opts);
  if (a.json) {
    std::cout << json({{"bundle", a.out},
                       {"top", s.top},
                       {"files", s.files},
                       {"images", s.images},
                       {"images_missing", s.images_missing},
                       {"bytes", s.bytes},
                       {"sha256", s.sha256}})
                     .dump()
              << "\n";
  } else {
    std::cout << "wrote " << a.out << ": " << s.top << "/, " << count(s.files, "file", "files");
    if (a.with_images) std::cout << " (" << count(s.images, "image", "images") << ")";
    std::cout << ", " << s.bytes << " bytes, sha256 " << s.sha256 << "\n";
  }
  if (s.images_missing)
    std::cerr << "ghx: warning: " << count(s.images_missing, "image is", "images are")
              << " not in the cache (failed or damaged steps); bundled without them (--allow-missing)\n";
  return 0;
}

int cmd_verify(const VerifyArgs& a) {
  report::VerifyResult v = report::verify_bundle(a.file, report::templates_dir());
  if (v.unreadable) {
    std::cerr << "ghx: error: " << v.error << "\n";
    if (a.json) std::cout << json({{"ok", false}, {"error", v.error}}).dump() << "\n";
    return 2;
  }
  if (a.json) {
    json mism = json::array();
    for (const auto& m : v.mismatches) mism.push_back({{"check", m.check}, {"entry", m.entry}, {"message", m.message}});
    std::cout
        << json({{"ok", v.ok()}, {"bundle", v.top}, {"checked", v.checked}, {"mismatches", mism}, {"notes", v.notes}})
               .dump(2, ' ', false, json::error_handler_t::replace)
        << "\n";
    return v.ok() ? 0 : 3;
  }
  auto n = [&](const char* key) {
    auto it = v.checked.find(key);
    return it == v.checked.end() ? int64_t(0) : it->second;
  };
  std::cout << a.file << ": bundle " << v.top << "/\n"
            << "  " << n("entries") << " entries, " << n("files") << " files; " << n("sums") << " SHA-256 sums match; "
            << n("aggregates") << " aggregates, results " << (n("results") ? "recomputed identically" : "not confirmed")
            << "; " << n("report_files") << " of 4 report files re-rendered identically\n"
            << "  " << n("steps") << " step keys recomputed from plan.jsonl, " << n("rederived_steps")
            << " re-derived from the declarations; " << n("hashes") << " manifest hashes match review.json\n";
  for (const auto& n : v.notes) std::cout << "  note: " << n << "\n";
  for (const auto& m : v.mismatches)
    std::cout << "  mismatch [" << m.check << "] " << (m.entry.empty() ? "" : m.entry + ": ") << m.message << "\n";
  std::cout << (v.ok() ? "ok\n" : count(v.mismatches.size(), "mismatch", "mismatches") + "\n");
  return v.ok() ? 0 : 3;
}

}  // namespace ghx::cli
