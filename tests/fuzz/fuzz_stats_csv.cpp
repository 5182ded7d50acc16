// `ghx stats` score tables (cli/stats_cmd.h read_scores_csv).
#include "cli/stats_cmd.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ghx::fuzz::write_input("scores.csv", data, size);
  ghx::dsl::Diagnostics d;
  GHX_FUZZ_GUARD({
    auto t = ghx::cli::read_scores_csv(path, d);
    (void)d.format_all();
  });
  return 0;
}
