// Every option of every command takes one value per use (issue #16.1): the real command line,
// built as run_cli builds it, parses `COMMAND... --opt 7 8 [its other required options]` for
// each value option of each command and must give the option "7" alone (8 is left to the
// positionals, or is an error); list options take a value per repetition.
#include <catch2/catch.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace {

struct Leaf {
  std::vector<std::string> path;  // subcommand names from the top
  CLI::App* app;
};

void leaves(CLI::App* app, std::vector<std::string> path, std::vector<Leaf>& out) {
  auto subs = app->get_subcommands([](CLI::App*) { return true; });
  if (subs.empty() && !path.empty()) out.push_back({path, app});
  for (CLI::App* s : subs) {
    std::vector<std::string> p = path;
    p.push_back(s->get_name());
    leaves(s, p, out);
  }
}

// Parses `words` (in order) on the top-level app; CLI11's errors (a required option missing, a
// value its check refuses, an extra positional) are part of what is tested, not failures.
void parse(CLI::App& top, std::vector<std::string> words) {
  top.clear();
  std::reverse(words.begin(), words.end());  // CLI11 takes the arguments reversed
  try {
    top.parse(words);
  } catch (const CLI::Error&) {
  }
}

}  // namespace

TEST_CASE("every option of every command takes one value per use, lists repeat", "[cli][options]") {
  const int checked = ghx::cli::inspect_cli([](CLI::App& top) {
    std::vector<Leaf> all;
    leaves(&top, {}, all);
    int options = 0;
    for (const Leaf& leaf : all) {
      for (CLI::Option* o : leaf.app->get_options()) {
        if (o->get_positional() || o->get_expected_max() == 0) continue;  // positionals and flags
        const std::string name = o->get_name();
        // The option under test first, then the command's other required options, as a user
        // writes them (CLI11 lets a greedy list option take every word up to the next option).
        std::vector<std::string> required;
        for (CLI::Option* r : leaf.app->get_options())
          if (r != o && !r->get_positional() && r->get_required()) required.insert(required.end(), {r->get_name(), "x"});
        std::vector<std::string> words = leaf.path;
        words.insert(words.end(), {name, "7", "8"});
        words.insert(words.end(), required.begin(), required.end());
        INFO("ghx " << CLI::detail::join(words, " "));
        parse(top, words);
        REQUIRE(o->count() == 1);
        CHECK(o->results() == std::vector<std::string>{"7"});
        if (o->get_expected_max() > 1) {  // a list: the option repeated
          words = leaf.path;
          words.insert(words.end(), {name, "7", name, "8"});
          words.insert(words.end(), required.begin(), required.end());
          parse(top, words);
          CHECK(o->results() == std::vector<std::string>{"7", "8"});
        }
        ++options;
      }
    }
    return options;
  });
  // plan, run, cache x3, models x3, suite import, diff, stats, bundle, verify, score x3: dozens
  CHECK(checked >= 40);
}
