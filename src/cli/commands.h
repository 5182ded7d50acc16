#pragma once
// The command line (docs/language.md): parses arguments with CLI11 and runs one command.
// Exit codes: 0 done; 1 some steps failed; 2 bad input or usage; 3 verify mismatch;
// 130 interrupted (SIGINT/SIGTERM) after the steps in flight were committed.
namespace ghx::cli {

int run_cli(int argc, char** argv);

}  // namespace ghx::cli
