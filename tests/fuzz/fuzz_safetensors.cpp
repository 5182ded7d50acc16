// safetensors files (models/safetensors.h): header JSON, offsets, dtypes, then every tensor read.
#include "fuzz.h"
#include "models/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ghx::fuzz::write_input("weights.safetensors", data, size);
  GHX_FUZZ_GUARD({
    auto f = ghx::models::SafetensorsFile::open(path);
    for (const auto& name : f.names()) GHX_FUZZ_GUARD((void)f.to_float(name));
  });
  return 0;
}
