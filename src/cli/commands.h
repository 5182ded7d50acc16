#pragma once
// The command line (docs/language.md): parses arguments with CLI11 and runs one command.
// Exit codes: 0 done; 1 some steps failed; 2 bad input or usage; 3 verify mismatch;
// 130 interrupted (SIGINT/SIGTERM) after the steps in flight were committed.
#include <functional>

namespace CLI {
class App;
}

namespace ghx::cli {

int run_cli(int argc, char** argv);

/// Builds the whole command line as run_cli does and hands it to `inspect` instead of parsing
/// argv (tests walk every command's options this way); returns what `inspect` returns.
int inspect_cli(const std::function<int(CLI::App&)>& inspect);

}  // namespace ghx::cli
