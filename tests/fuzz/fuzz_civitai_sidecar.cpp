// Civitai JSON sidecars of the import backend (backends/import.h): the input is NAME.json beside a
// small PNG, read by scan_import_dir.
#include "backends/import.h"
#include "fuzz.h"
#include "util/fs.h"
#include "util/png.h"

#include <opencv2/core.hpp>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = [] {
    std::string d = ghx::fuzz::scratch_dir() + "/import";
    cv::Mat img(8, 8, CV_8UC3, cv::Scalar(10, 20, 30));
    ghx::util::write_file_atomic(d + "/img.png", ghx::util::encode_png(img));
    return d;
  }();
  ghx::fuzz::write_input("import/img.json", data, size);
  GHX_FUZZ_GUARD((void)ghx::backends::scan_import_dir(dir));
  return 0;
}
