#pragma once
// Review bundles (docs/bundles.md): one deterministic tar that carries a finished review (its
// declarations as written, the resolved plan, the results, the report, a manifest and
// SHA256SUMS), and the checks `ghx verify` runs on one.
//
// Layout, everything under one top folder `<name>-v<version>/`:
//   declarations/...            experiment, suites, ComfyUI workflows, CLIP config.json: byte copies
//                               at their paths relative to the common ancestor folder of those files
//   review.json                 report/review_doc.h
//   plan.jsonl                  one step per line, plan order: key, kind, version, params, inputs
//   results/results.json        the report step's result as cached
//   results/aggregates/KEY.json every aggregate step's result as cached (the per-image values)
//   report/                     report.md, report.html, results.json, results.csv rendered from results
//   images/SECTION/PROMPT/CHECKPOINT_SEED.png   only with images
//   manifest.json               tool, libtorch, devices, OS, experiment path, hashes; no times
//   SHA256SUMS                  "<sha256>  <path>" for every other file, sorted by path
// The tar: pax restricted (ustar headers; a pax header only for long or non-ASCII names), entries
// sorted by path, every mtime k_bundle_mtime, uid/gid 0 without names, modes 0644 / 0755; gzip
// without a timestamp or name, zstd at its default level. Same review + cache => same bytes.
//
// Fails: write_bundle throws ghx::Error (a result missing from the cache, an unwritable folder);
// verify_bundle never throws for a bad bundle: every problem is a Mismatch, an unreadable file
// sets `unreadable`. Never: verify writes outside the temporary folder it creates (entries that
// would are rejected before a byte is written; no links, devices or archive_write_disk).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cache/cache.h"
#include "dsl/review.h"
#include "plan/plan.h"

namespace ghx::report {

/// Bump when the layout or a bundled file's format changes; verify refuses other formats.
constexpr int k_bundle_format = 1;
/// The mtime of every entry (the epoch): a bundle has no time in it.
constexpr int64_t k_bundle_mtime = 0;
/// verify refuses an entry larger than this, and stops writing past the total (absurd sizes).
constexpr uint64_t k_max_entry_bytes = uint64_t(4) << 30;   // 4 GiB
constexpr uint64_t k_max_total_bytes = uint64_t(16) << 30;  // 16 GiB

enum class Compression { none, gzip, zstd };

/// From the file name: .tar -> none, .tar.gz / .tgz -> gzip, .tar.zst / .tzst -> zstd; else nullopt.
std::optional<Compression> compression_from_name(const std::string& file);
/// "none", "gzip", "zstd"; else nullopt.
std::optional<Compression> parse_compression(const std::string& word);

struct BundleOptions {
  bool with_images = false;
  /// with_images: bundle without the images the cache lacks (failed or damaged) instead of
  /// refusing; the summary counts them.
  bool allow_missing = false;
  Compression compression = Compression::none;
  std::string templates;  ///< report templates folder (render.h templates_dir())
  std::string libtorch;   ///< "libtorch 1.13.1 (cpu)", or "not loaded"
};

struct BundleSummary {
  std::string top;   ///< the top folder's name
  size_t files = 0;  ///< regular files in the bundle, SHA256SUMS included
  size_t images = 0;
  size_t images_missing = 0;  ///< generate steps without a cached image (failed with --keep-going)
  uint64_t bytes = 0;         ///< size of the written file
  std::string sha256;         ///< of the written file
};

/// Writes the bundle of a review that has been run to `out` (a temporary file beside it, then
/// rename; an existing `out` is replaced). Throws ghx::Error.
BundleSummary write_bundle(const dsl::Review& review, const plan::Plan& plan, cache::Cache& cache,
                           const std::string& out, const BundleOptions& opts);

/// The report step's result (results.json as cached) from its key, its parameters and its
/// inputs' results (the aggregates, in input order): runs the report executor itself
/// (exec/executor.h), the code `ghx run` runs, so the two cannot drift. Throws ghx::Error.
std::string report_results(const plan::StepKey& key, const plan::Params& params,
                           const std::vector<std::string>& aggregates);

struct Mismatch {
  std::string check;  ///< archive, sums, results, report, keys, manifest
  std::string entry;  ///< the bundle path (relative to the top folder) or archive entry concerned
  std::string message;
};

struct VerifyResult {
  bool unreadable = false;  ///< not a tar (or a compression we do not read): exit 2
  std::string error;        ///< why, when unreadable
  std::string top;
  std::map<std::string, int64_t> checked;  ///< what was checked, counted
  std::vector<Mismatch> mismatches;
  std::vector<std::string> notes;  ///< not mismatches: e.g. results made by another ghx build
  bool ok() const { return !unreadable && mismatches.empty(); }
};

/// Extracts `file` into a fresh temporary folder (removed before returning) and runs every
/// check of docs/bundles.md, collecting every mismatch. `templates` as in BundleOptions.
VerifyResult verify_bundle(const std::string& file, const std::string& templates);

}  // namespace ghx::report
