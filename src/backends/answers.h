#pragma once
// What the generation servers answer, read from the bytes alone (no HTTP, no steps): A1111's
// /sdapi/v1/txt2img and /sdapi/v1/sd-models, ComfyUI's POST /prompt, GET /history/{id},
// GET /object_info/NODE and its validation errors. Every body is untrusted outside data: the
// readers are fuzzed (tests/fuzz/fuzz_a1111_answer.cpp, fuzz_comfyui_answer.cpp).
// Fails: throws ghx::Error, one line, without the endpoint (callers put it in front):
//   "malformed answer: info.all_seeds[1] is a string, expected an integer"  (shape)
//   "malformed answer: not JSON (parse error at line 1, column 1: ...)"
//   "the server reported an error: OutOfMemoryError: CUDA out of memory"   (a 200 whose body is
//     the server's error object instead of the answer)
// Never: trusts a type or a count it has not checked; throws anything but ghx::Error.
#include <cstdint>
#include <string>
#include <vector>

namespace ghx::backends {

// ---- AUTOMATIC1111 (also Forge, SD.Next) ----

/// A txt2img answer: {"images": [base64...], "info": "<JSON string>" or {...}}.
struct Txt2ImgAnswer {
  std::vector<std::string> images;     ///< base64 PNGs from info.index_of_first_image on (no grid)
  std::vector<int64_t> seeds;          ///< info.all_seeds
  std::vector<std::string> infotexts;  ///< info.infotexts from index_of_first_image on ([] if absent)
  std::string model_name;              ///< info.sd_model_name ("" if absent)
  std::string model_hash;              ///< info.sd_model_hash ("" if absent)
};
Txt2ImgAnswer parse_txt2img_answer(const std::string& body);

struct ServerModel {
  std::string title;  ///< "name.safetensors [0123456789]"
  std::string model_name;
  std::string hash;    ///< AutoV2 (10 hex) or ""
  std::string sha256;  ///< or "" when the server has not computed it
  std::string filename;
};
/// GET /sdapi/v1/sd-models: an array of {title, model_name, hash, sha256, filename, ...}.
std::vector<ServerModel> parse_sd_models(const std::string& body);

// ---- ComfyUI ----

/// POST /prompt's {"prompt_id": "...", "number": n, "node_errors": {}}: the prompt id.
std::string parse_prompt_answer(const std::string& body);

struct ComfyImage {
  std::string filename, subfolder, type;  ///< as GET /view wants them; type "output" or "temp"
};
/// GET /history/{id} for one prompt.
struct HistoryEntry {
  enum class State { pending, failed, done } state = State::pending;
  std::string error;               ///< when failed: ComfyUI's exception message, or what is missing
  std::vector<ComfyImage> images;  ///< when done: saved outputs, or the previews when none is saved
};
HistoryEntry parse_history(const std::string& body, const std::string& prompt_id);

/// GET /object_info/NODE: the choices of NODE.input.required.INPUT[0] (checkpoint or LoRA files).
std::vector<std::string> parse_node_choices(const std::string& body, const std::string& node, const std::string& input);

/// A 400 from POST /prompt in one line: "node 4 (CheckpointLoaderSimple): Value not in list:
/// ckpt_name: 'x' not in [...]"; the start of the body when it has no such errors. Never throws.
std::string comfyui_validation_message(const std::string& body);

}  // namespace ghx::backends
