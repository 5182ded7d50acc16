// torch .pth state dicts (models/torch_zip.h): the zip directory, then data.pkl's pickle.
#include "fuzz.h"
#include "models/torch_zip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  GHX_FUZZ_GUARD({
    if (ghx::models::looks_like_zip(data, size)) {
      (void)ghx::models::read_zip_directory("fuzz.pth", data, size);
      (void)ghx::models::read_torch_zip("fuzz.pth", data, size);
    }
  });
  return 0;
}
