// A1111 infotext ("parameters" text of a PNG) and its "Lora hashes" field (backends/infotext.h).
#include "backends/infotext.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = ghx::fuzz::as_string(data, size);
  GHX_FUZZ_GUARD({
    auto t = ghx::backends::Infotext::parse(text);
    (void)ghx::backends::parse_lora_hashes(text);
  });
  return 0;
}
