#pragma once
// `ghx suite import FILE.csv -o OUT.toml [--name N] [--force] [--json]`: a GhostReview CSV prompt
// file as suite TOML (dsl/csv_import.h does the conversion; this writes it).
// Fails: bad input (an unreadable or malformed CSV, an OUT that exists without --force) is
// reported on stderr, "FILE:LINE:COL: error: ..." where a position exists, and returns 2 with
// nothing written. Warnings (unknown columns, ...) go to stderr and do not fail.
// Never: writes anything but OUT (atomically), creates the showcase images or their folders.
#include <string>

namespace CLI {
class App;
}

namespace ghx::cli {

struct SuiteImportArgs {
  std::string csv;
  std::string out;
  std::string name;  ///< [suite] name; default: OUT's file stem
  bool force = false;
  bool json = false;
};

/// Adds `suite import` (and its parent `suite`) to `app`; returns the `import` subcommand, which
/// is set after parsing when it was chosen.
CLI::App* add_suite_import(CLI::App& app, SuiteImportArgs& args);

/// Human: `wrote OUT: N prompts, M LoRAs (K showcase images to supply under DIR/targets/loras/)`.
/// JSON: {"output", "prompts", "loras", "showcase", "images": [paths of the images to supply,
/// as OUT's folder joined with the suite's relative paths]}. Returns 0, or 2 on bad input.
int cmd_suite_import(const SuiteImportArgs& args);

}  // namespace ghx::cli
