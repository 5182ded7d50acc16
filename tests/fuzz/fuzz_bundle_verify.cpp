// Review bundles (report/bundle.h verify_bundle): the input as a .tar file, extracted and checked.
#include "fuzz.h"
#include "report/bundle.h"
#include "report/render.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string templates = ghx::report::templates_dir();
  const std::string path = ghx::fuzz::write_input("bundle.tar", data, size);
  GHX_FUZZ_GUARD((void)ghx::report::verify_bundle(path, templates));
  return 0;
}
