// Experiment TOML (dsl/loader.h): any bytes as an experiment file; its errors are diagnostics.
#include "dsl/loader.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ghx::fuzz::write_input("experiment.toml", data, size);
  ghx::dsl::Diagnostics d;
  GHX_FUZZ_GUARD({
    auto r = ghx::dsl::load_review(path, d);
    (void)d.format_all();
  });
  return 0;
}
