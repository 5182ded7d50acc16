// The answers of an AUTOMATIC1111 server (backends/answers.h): the input is read as a txt2img answer
// and as a /sdapi/v1/sd-models answer.
#include "backends/answers.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body = ghx::fuzz::as_string(data, size);
  GHX_FUZZ_GUARD((void)ghx::backends::parse_txt2img_answer(body));
  GHX_FUZZ_GUARD((void)ghx::backends::parse_sd_models(body));
  return 0;
}
