#pragma once
// `ghx diff A B [--json|--md] [--cache DIR]`: what changed between two versions of a review
// (docs/diff.md). A and B are experiment files or report folders (which hold review.json, and
// results.json). An experiment file is loaded and planned like `ghx plan` does, without asking a
// server; its results come from the cache (DIR, default ./cache), when computed there.
// The comparison itself is report/diff.h; this file loads the inputs and prints.
// Fails: exit 2 on bad input (a path that is neither, a folder without review.json, a TOML
// error: the loader's FILE:LINE:COL diagnostics). Never: runs steps, creates or writes a cache.
#include <string>

namespace CLI {
class App;
}

namespace ghx::cli {

struct DiffArgs {
  std::string a, b;
  std::string cache = "cache";
  bool json = false;
  bool md = false;
};

/// Adds `diff` to `app`; returns the subcommand, which is set after parsing when it was chosen.
CLI::App* add_diff(CLI::App& app, DiffArgs& args);

/// Prints the diff (terminal text, Markdown or JSON) and returns 0, whatever differs; 2 on bad input.
int cmd_diff(const DiffArgs& args);

}  // namespace ghx::cli
