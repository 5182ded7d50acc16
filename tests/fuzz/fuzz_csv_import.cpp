// GhostReview CSV prompt files (dsl/csv_import.h), converted to a suite.
#include "dsl/csv_import.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ghx::dsl::Diagnostics d;
  GHX_FUZZ_GUARD({
    auto r = ghx::dsl::import_csv_text(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.csv",
                                       "fuzz", d);
    (void)d.format_all();
  });
  return 0;
}
