#pragma once
// `ghx bundle EXPERIMENT -o FILE [--cache DIR] [--with-images] [--compress none|gzip|zstd] [--force]`
// and `ghx verify FILE [--json]` (docs/bundles.md). The bundle and its checks are
// report/bundle.h; this file loads, plans and prints.
// bundle fails with exit 2 on bad input: a TOML error (FILE:LINE:COL diagnostics), an output that
// exists without --force, a name whose compression cannot be told, a review whose report is not
// in the cache ("run `ghx run EXPERIMENT` first (N steps not cached)"). It never runs a step and
// never asks a server: a checkpoint the run identified by its server's hash takes that identity
// from reports/<name>-v<version>/review.json.
// verify exits 0 when every check passes, 3 on any mismatch (each printed), 2 when FILE is no
// archive it reads. It never writes outside its temporary folder.
#include <string>

namespace CLI {
class App;
}

namespace ghx::cli {

struct BundleArgs {
  std::string experiment;
  std::string out;
  std::string cache = "cache";
  std::string compress;  ///< none|gzip|zstd; "" = from the output's extension
  bool with_images = false;
  bool allow_missing = false;
  bool force = false;
  bool json = false;
};

struct VerifyArgs {
  std::string file;
  bool json = false;
};

/// Add `bundle` and `verify` to `app`; each returns its subcommand, set after parsing when chosen.
CLI::App* add_bundle(CLI::App& app, BundleArgs& args);
CLI::App* add_verify(CLI::App& app, VerifyArgs& args);

/// Prints `wrote FILE: ...` and returns 0; 2 on bad input.
int cmd_bundle(const BundleArgs& args);
/// Prints what was checked and every mismatch (or, with --json, {"ok", "bundle", "checked",
/// "mismatches": [{"check", "entry", "message"}]}); returns 0, 3 or 2.
int cmd_verify(const VerifyArgs& args);

}  // namespace ghx::cli
