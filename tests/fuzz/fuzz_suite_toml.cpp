// Suite TOML (dsl/loader.h load_suite): prompts, styles, LoRAs.
#include "dsl/loader.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ghx::fuzz::write_input("suite.toml", data, size);
  ghx::dsl::Diagnostics d;
  GHX_FUZZ_GUARD({
    auto s = ghx::dsl::load_suite(path, d);
    (void)d.format_all();
  });
  return 0;
}
