// The answers of a ComfyUI server (exec/answers.h): the input is read as a POST /prompt answer,
// a /history/{id} answer (for the id "p"), an /object_info/CheckpointLoaderSimple answer and a
// validation error.
#include "exec/answers.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body = ghx::fuzz::as_string(data, size);
  GHX_FUZZ_GUARD((void)ghx::exec::parse_prompt_answer(body));
  GHX_FUZZ_GUARD((void)ghx::exec::parse_history(body, "p"));
  GHX_FUZZ_GUARD((void)ghx::exec::parse_node_choices(body, "CheckpointLoaderSimple", "ckpt_name"));
  (void)ghx::exec::comfyui_validation_message(body);  // never throws
  return 0;
}
