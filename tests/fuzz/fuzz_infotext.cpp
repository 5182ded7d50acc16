// A1111 infotext ("parameters" text of a PNG) and its "Lora hashes" field (exec/infotext.h).
#include "exec/infotext.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = ghx::fuzz::as_string(data, size);
  GHX_FUZZ_GUARD({
    auto t = ghx::exec::Infotext::parse(text);
    (void)ghx::exec::parse_lora_hashes(text);
  });
  return 0;
}
