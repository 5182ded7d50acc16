#pragma once
// The ComfyUI backend: one API-format workflow template, filled per image and run over HTTP.
// Owns: turning ONE generate step into one POST /prompt: the workflow file (what ComfyUI's
// "Save (API)" writes) with its string placeholders replaced -- "{{checkpoint}}" (the
// checkpoint's server name), "{{prompt}}", "{{negative}}", "{{seed}}", "{{steps}}", "{{cfg}}",
// "{{sampler}}", "{{scheduler}}", "{{width}}", "{{height}}", "{{batch_size}}" (a string that is
// exactly a numeric placeholder becomes a number); polling GET /history/{id} until the outputs
// appear (0.05 s, growing to 1 s, bounded by BackendOptions::timeout_s); fetching the image with
// GET /view, checking it is a PNG and writing A1111-style infotext into its `parameters` chunk
// (ComfyUI's own `prompt` chunk is kept).
// One image per request: ComfyUI draws a batch's noise from one seed (comfy/sample.py
// prepare_noise), so image i of a batch from seed s is NOT the image of seed s + i alone; to
// keep "image i gets seed + i" exact every request has batch_size 1 (batch_limit 1).
// Checkpoint: ComfyUI reports no model hash. The checkpoint's server name must be listed by
// GET /object_info/CheckpointLoaderSimple (cached per endpoint) before anything is submitted;
// the provenance meta records that the model identity was checked by name only.
// LoRA: ComfyUI does not read <lora:...> prompt tags (CLIPTextEncode would encode them as text),
// so ghx applies them as A1111 does: every tag is cut out of {{prompt}} (the text around it is
// left as written) and becomes a LoraLoader node, chained in prompt order between the template's
// one CheckpointLoaderSimple and everything that read its MODEL (output 0) or CLIP (output 1);
// the VAE link is untouched. Weights: <lora:n> 1/1, <lora:n:w> w/w, <lora:n:te:unet>
// strength_clip te, strength_model unet (A1111's order). The tag names the LoRA by file stem, as
// A1111 does: the endpoint's GET /object_info/LoraLoader list (cached) must hold exactly one
// lora_name whose file stem is the tag (exact case first, else ignoring case), else the step
// fails naming the tag and the list. ComfyUI reports no LoRA hash: identity by name only, as
// the meta records. The plan adds a key parameter to comfyui steps whose prompt has tags.
// Not supported (the step fails rather than silently differ): hires fix parameters.
// Fails: per step (an Outcome with the error), never by throwing out of run(); a validation
// error (400 with node_errors) fails the step with ComfyUI's message and is not retried;
// connection errors and 5xx are retried with backoff, dead endpoints dropped (http_backend.h).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "backends/options.h"
#include "exec/executor.h"

namespace ghx::backends {

std::unique_ptr<exec::Executor> make_comfyui_executor(const BackendOptions& options);

/// A1111 sampler name -> ComfyUI (sampler_name, scheduler). Table:
///   Euler a -> euler_ancestral/normal     Euler -> euler/normal        Heun -> heun/normal
///   LMS -> lms/normal                     LMS Karras -> lms/karras     DPM2 -> dpm_2/normal
///   DPM2 Karras -> dpm_2/karras           DPM2 a -> dpm_2_ancestral/normal
///   DPM2 a Karras -> dpm_2_ancestral/karras
///   DPM++ 2S a -> dpmpp_2s_ancestral/normal   DPM++ 2S a Karras -> dpmpp_2s_ancestral/karras
///   DPM++ 2M -> dpmpp_2m/normal           DPM++ 2M Karras -> dpmpp_2m/karras
///   DPM++ SDE -> dpmpp_sde/normal         DPM++ SDE Karras -> dpmpp_sde/karras
///   DPM++ 2M SDE -> dpmpp_2m_sde/normal   DPM++ 2M SDE Karras -> dpmpp_2m_sde/karras
///   DPM++ 2M SDE Exponential -> dpmpp_2m_sde/exponential
///   DPM++ 3M SDE -> dpmpp_3m_sde/normal   DPM++ 3M SDE Karras -> dpmpp_3m_sde/karras
///   DPM fast -> dpm_fast/normal           DPM adaptive -> dpm_adaptive/normal
///   DDIM -> ddim/ddim_uniform             UniPC -> uni_pc/normal       LCM -> lcm/normal
/// Throws ghx::Error for any other name (listing the known ones).
std::pair<std::string, std::string> comfyui_sampler(const std::string& a1111_name);

/// One <lora:...> tag of a step's prompt as a LoraLoader.
struct ComfyLora {
  std::string tag;        ///< the name in the tag
  std::string lora_name;  ///< LoraLoader's lora_name (the server's file name)
  double strength_model = 1, strength_clip = 1;
};

/// The LoRA tags of `prompt` in order, with lora_name left empty; `*stripped` (when given) is the
/// prompt with the tags cut out. Throws ghx::Error for a tag whose parameters are not 0-2 plain
/// numbers (e.g. A1111's named `te=` / `dyn` forms, which have no LoraLoader equivalent).
std::vector<ComfyLora> comfyui_loras(const std::string& prompt, std::string* stripped = nullptr);

/// The server file for LoRA tag `tag` among `names` (LoraLoader's lora_name list): the one name
/// whose file stem equals the tag, exactly, else ignoring ASCII case. Throws ghx::Error naming
/// the tag when none or several match.
std::string comfyui_lora_name(const std::string& tag, const std::vector<std::string>& names);

/// The template with every placeholder replaced (see above) and, when the prompt has LoRA tags,
/// a LoraLoader chain after the checkpoint loader; `lora_names` is the server's LoraLoader list
/// (null: "<tag>.safetensors"). Throws ghx::Error for an unknown "{{name}}", a template without
/// {{checkpoint}}, {{prompt}} or {{seed}}, or LoRA tags with not exactly one
/// CheckpointLoaderSimple in the template.
nlohmann::json fill_comfyui_workflow(const nlohmann::json& workflow, const plan::Step& step,
                                     const std::vector<std::string>* lora_names = nullptr);

/// The endpoints that answer GET /system_stats; one line per one that does not in `errors`.
std::vector<std::string> probe_comfyui(const std::vector<std::string>& urls, double timeout_s,
                                       std::vector<std::string>* errors);

}  // namespace ghx::backends
