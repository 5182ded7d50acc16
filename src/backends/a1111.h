#pragma once
// The AUTOMATIC1111 backend (also Forge and SD.Next): txt2img over HTTP.
// Owns: turning a batch of generate steps (one checkpoint, prompt and settings; consecutive seeds)
// into /sdapi/v1/txt2img requests of at most batch_size images; choosing the checkpoint per
// request (override_settings) and VERIFYING it: the answer's sd_model_hash must be the AutoV2 of
// the checkpoint asked for (A1111 silently ignores an unknown checkpoint name and uses the loaded
// model); checking each image's seed against info.all_seeds; never storing the grid image; writing
// the infotext into the PNG's `parameters` chunk when the server left it out; retries with
// exponential backoff on connection errors and 5xx; several endpoints (one request in flight
// each, shared by the runner's workers, a dead endpoint dropped while the others go on).
// LoRAs: A1111 also silently generates without a LoRA it cannot find, so every tag of the prompt
// that A1111 reads must show in the image's infotext "Lora hashes" (name with ':' and ','
// removed, as A1111 writes it); where the review names the LoRA's file (context lora.file), the
// hash shown must be that file's LoRA hash (a1111_lora_hash().lora); and no other LoRA may show (A1111's
// "Add network to prompt" setting appends one to every prompt). Else the image's step fails.
// Fails: per step (an Outcome with the error), never by throwing out of run().
// Never: guesses a seed, a model or a LoRA; stores an image it could not verify.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backends/answers.h"
#include "backends/options.h"
#include "exec/executor.h"

namespace ghx::backends {

std::unique_ptr<exec::Executor> make_a1111_executor(const BackendOptions& options);

/// GET /sdapi/v1/sd-models. Throws ghx::Error naming the endpoint.
std::vector<ServerModel> a1111_models(const std::string& url, double timeout_s);

/// POST /sdapi/v1/options {"sd_model_checkpoint": title}: the server loads the checkpoint, and
/// A1111 computes (and then lists) its SHA-256 when it loads a file. Throws ghx::Error.
void a1111_load_model(const std::string& url, const std::string& title, double connect_timeout_s, double timeout_s);

/// A LoRA file's hashes: `lora`, what A1111 shows in "Lora hashes" (12 hex digits: SHA-256 of a
/// safetensors file's data after its header, of the whole file otherwise), and the whole file's
/// `sha256`. Each file is read once per process (memoised by path). Throws ghx::Error naming an
/// unreadable file.
struct LoraFileHashes {
  std::string lora;
  std::string sha256;
};
LoraFileHashes a1111_lora_hash(const std::string& path);

/// A LoRA a step's prompt loads, as A1111 reads tags: its name as A1111 writes it in "Lora
/// hashes" (the tag's name without ':' and ','), and the review's file for it (context
/// lora.file) or "". Each name once, in prompt order.
struct PromptLora {
  std::string name;
  std::string file;
};
std::vector<PromptLora> a1111_prompt_loras(const plan::Step& s);

/// Why the image of step `s` (its infotext `infotext`) may not be stored for its LoRAs, or "".
/// `file_hash` gives a LoRA file's hash (a1111_lora_hash().lora). `checked`
/// (when given) gets one {name, hash, file?, verified} object per tag checked.
std::string a1111_check_loras(const plan::Step& s, const std::string& infotext,
                              const std::function<std::string(const std::string&)>& file_hash,
                              std::vector<std::map<std::string, std::string>>* checked = nullptr);

/// The endpoints that answer /sdapi/v1/sd-models; one line per one that does not in `errors`.
std::vector<std::string> probe_a1111(const std::vector<std::string>& urls, double timeout_s,
                                     std::vector<std::string>* errors);

/// The AutoV2 hash (10 hex digits) a checkpoint identity stands for ("sha256:..." or
/// "autov2:..."), or "" when it names no hash (synthetic "backend_name:...").
std::string expected_autov2(const std::string& identity);

}  // namespace ghx::backends
