// PNG text chunks (tEXt, zTXt, iTXt; util/png_text.h), and writing one into the same bytes.
#include "fuzz.h"
#include "util/png_text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string png = ghx::fuzz::as_string(data, size);
  GHX_FUZZ_GUARD({
    if (ghx::util::is_png(png)) {
      auto chunks = ghx::util::png_text_chunks(png, "fuzz input");
      (void)ghx::util::png_set_text(png, "parameters", "a prompt\nSteps: 20", "fuzz input");
    }
  });
  return 0;
}
