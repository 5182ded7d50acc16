// The answers of a ComfyUI server (backends/answers.h): the input is read as a POST /prompt answer,
// a /history/{id} answer (for the id "p"), an /object_info/CheckpointLoaderSimple answer and a
// validation error.
#include "backends/answers.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body = ghx::fuzz::as_string(data, size);
  GHX_FUZZ_GUARD((void)ghx::backends::parse_prompt_answer(body));
  GHX_FUZZ_GUARD((void)ghx::backends::parse_history(body, "p"));
  GHX_FUZZ_GUARD((void)ghx::backends::parse_node_choices(body, "CheckpointLoaderSimple", "ckpt_name"));
  (void)ghx::backends::comfyui_validation_message(body);  // never throws
  return 0;
}
