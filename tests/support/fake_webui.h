#pragma once
// In-process fakes of the two image-generation servers ghx talks to, for tests:
//
//   FakeA1111    AUTOMATIC1111 webui API (also what Forge and SD.Next serve): /sdapi/v1/...
//   FakeComfyUI  ComfyUI: POST /prompt, GET /history/{id}, GET /view, /object_info, /system_stats
//
// Each one is a cpp-httplib server bound to 127.0.0.1 on a free port, serving from its own
// thread from construction until stop() or destruction (stop() closes the listening socket and
// joins the thread; both are idempotent and quick, even while a delayed request is sleeping).
// Images are not diffused: fake_render() draws them deterministically from
// (model hash, prompt, seed, width, height), so tests can predict every pixel.
//
// Build note: Debian's cpp-httplib 0.11.4 is NOT header-only: /usr/include/httplib.h only declares,
// the code is in libcpp-httplib.so, which was built with CPPHTTPLIB_OPENSSL_SUPPORT (also
// ZLIB/BROTLI). Those macros change the layout of httplib::Request and httplib::ClientImpl, so
// every file that includes httplib.h must be compiled with them: CMakeLists.txt takes them from
// pkg-config (PkgConfig::HTTPLIB, linked PUBLIC by ghx_core).
//
// ---- FakeA1111 -------------------------------------------------------------------------------
//   GET  /sdapi/v1/sd-models  [{title "name.safetensors [hash10]", model_name (name without
//                             extension), hash (10 hex = AutoV2), sha256, filename, config null}]
//   GET  /sdapi/v1/options    {sd_model_checkpoint: title of the loaded model, sd_vae, return_grid,
//                             CLIP_stop_at_last_layers, samples_format "png", ...}
//   POST /sdapi/v1/options    Sets options. sd_model_checkpoint may be any alias A1111 accepts
//                             (title, name, model_name, hash10, sha256, "model_name [hash10]");
//                             an unknown one answers 500 {"error": "RuntimeError", "detail": "",
//                             "body": "", "errors": "model 'x' not found"} and changes nothing,
//                             like A1111 >= 1.6 (modules/api/api.py set_config). Answers `null`.
//   GET  /sdapi/v1/loras      [{name, alias, path, metadata {}}] of the configured LoRAs.
//   GET  /sdapi/v1/samplers, /sdapi/v1/schedulers, /sdapi/v1/sd-vae, /sdapi/v1/progress,
//        POST /sdapi/v1/refresh-checkpoints: small static answers.
//   POST /sdapi/v1/txt2img    The generation endpoint (the one faults apply to). Fields and
//                             defaults as A1111's StableDiffusionProcessingTxt2Img; wrongly typed
//                             fields answer 422 like FastAPI. Answers {"images": [base64 PNG],
//                             "parameters": request over defaults, "info": "<JSON string>"}.
//     Model: override_settings.sd_model_checkpoint when it is a known alias (restored afterwards
//       unless override_settings_restore_afterwards is false), else -- THE TRAP, as in A1111's
//       process_images -- silently the currently loaded model.
//     Seeds: seed -1 (or absent) -> random in [0, 4294967294); image i of batch_size*n_iter gets
//       seed + i; subseeds alike. info.all_seeds/all_prompts/... list the real images only.
//     Size: enable_hr renders at width*hr_scale x height*hr_scale (or hr_resize_x/y); the
//       infotext's "Size" stays the first-pass width x height, as in A1111.
//     LoRA: <lora:name:w> of a configured LoRA adds "Lora hashes"; an unknown one is silently
//       ignored (A1111 only logs it).
//     Infotext (also in info.infotexts): "<prompt>\nNegative prompt: <neg>\nSteps: .., Sampler: ..,
//       [Schedule type: ..,] CFG scale: .., Seed: .., Size: WxH, Model hash: <hash10>, Model:
//       <model_name>, [VAE: ..,] [Denoising strength: .., [Clip skip: ..,] Hires upscale: ..,
//       Hires steps: .., Hires upscaler: ..,] [Lora hashes: "..",] Version: fake-a1111"; values
//       with ',' ':' or '"' are JSON-quoted. Each PNG carries it in a "parameters" tEXt chunk
//       (iTXt when the text is not Latin-1, like PIL) right after IHDR.
//     Grid: as A1111 (processing.py): only when the "return_grid" option is on (default true, as
//       in A1111), save_images is true (the API sets do_not_save_grid = not save_images) and there
//       are >= 2 images: a grid (round(sqrt(n)) rows) is inserted at images[0], its infotext (that
//       of the first image) at infotexts[0], and index_of_first_image = 1; all_seeds,
//       all_prompts, all_subseeds ... stay per real image.
//     send_images false -> "images": [].
//
// ---- FakeComfyUI -----------------------------------------------------------------------------
//   POST /prompt {prompt: <API-format graph>, client_id, [prompt_id], [extra_data]} -- the
//     generation endpoint. Validates like ComfyUI's execution.validate_prompt (known node
//     classes, required inputs, ckpt_name / lora_name / sampler_name / scheduler in their lists)
//     and answers 400 {"error": {type "prompt_outputs_failed_validation", ...}, "node_errors":
//     {node_id: {errors: [{type "value_not_in_list", message "Value not in list", details
//     "ckpt_name: 'x' not in [...]", extra_info {input_name, input_config, received_value}}],
//     dependent_outputs: [...], class_type}}}; other failures: "invalid_prompt" (unknown
//     class_type / bad link), "prompt_no_outputs", "no_prompt". Success: {prompt_id, number,
//     node_errors {}}; the graph "runs" at once.
//     Known classes: CheckpointLoaderSimple, LoraLoader, CLIPSetLastLayer, CLIPTextEncode,
//     EmptyLatentImage, KSampler, VAELoader, VAEDecode, SaveImage, PreviewImage. Each SaveImage /
//     PreviewImage traces images <- VAEDecode.samples <- KSampler (model through LoraLoader to
//     CheckpointLoaderSimple; positive / negative to CLIPTextEncode; latent_image to
//     EmptyLatentImage) and renders batch_size images; image i uses seed + i. NOTE: real ComfyUI
//     draws ONE noise tensor for the whole batch from `seed` (comfy/sample.py prepare_noise:
//     torch.manual_seed(seed); torch.randn(full batch shape)), so image i of a real batch is not
//     the image of seed + i; the fake uses seed + i only so tests can tell images apart. The
//     rendering key is (checkpoint hash10, positive text + applied LoRAs, seed + i, width, height).
//     Other graph shapes (e.g. a second KSampler pass) validate but end with history status_str
//     "error", completed false and an "execution_error" message, as a failing node would.
//     Files: "<prefix>_<counter:05>_.png" (counter per prefix from 1), subfolder = the prefix's
//     directory part, type "output" (PreviewImage: "temp"). PNGs carry a "prompt" tEXt chunk
//     with the graph JSON (and "workflow" when extra_data.extra_pnginfo.workflow is given).
//   GET /history/{id}  {} for unknown ids and for the first history_delay_polls polls of each
//     prompt ("still running"), then {id: {prompt: [number, id, graph, extra_data, output ids],
//     outputs: {node_id: {images: [{filename, subfolder, type}]}}, status: {status_str
//     "success", completed true, messages [...]}, meta {...}}}. GET /history: every finished one.
//   GET /view?filename=&subfolder=&type=  image/png bytes; 404 when unknown (type defaults to
//     "output", subfolder to "").
//   GET /object_info[/Class]  input lists (input.required.ckpt_name[0] = known checkpoints, ...);
//     {} for an unknown class. GET /system_stats, GET /queue, POST /interrupt: small answers.
//   No websocket: clients must poll /history.
//
// ---- Faults (FakeFaults, both servers, thread-safe, settable at any time) ---------------------
//   Order for a generation request: it is counted and recorded, then delayed (set_delay_s), then
//   drop_next, else fail_next, else served; die_after counts it whatever its outcome.
//   fail_next(n, status)    the next n generation requests answer `status` (body: A1111's or
//                           ComfyUI's error JSON, naming the injected fault).
//   drop_next(n)            the next n generation requests get no answer: the handler finds its
//                           own accepted socket (the fd whose local port is the server's and
//                           whose peer port is req.remote_port) and shutdown()s it, so the client
//                           sees the connection closed with no status line (httplib: Error::Read).
//   die_after(n)            after n more generation requests (answered or faulted), the server
//                           closes its listening socket: later connections are refused. n = 0:
//                           at once.
//   set_delay_s(s)          generation requests sleep s seconds before answering (interrupted
//                           by stop()).
//   set_wrong_model_hash(h) A1111 reports h as info.sd_model_hash and infotext "Model hash"
//                           (pixels still come from the real model). "" = off.
//   set_omit_infotext(on)   PNGs carry no text chunk (A1111 "parameters", ComfyUI "prompt");
//                           info.infotexts is still filled.
//   set_return_grid(on)     A1111's "return_grid" option (also POST /sdapi/v1/options).
//   set_history_delay_polls(n)  ComfyUI /history/{id} answers {} to the first n polls of each
//                           prompt (the value at poll time counts).
//   hostile_next(n, kind)   the next n generation requests get a hostile answer (after drop_next
//                           and fail_next, which win), with status 200:
//     trickle       the real answer, 1 byte per set_trickle_s seconds (default 1)
//     huge          a body of set_huge_mb MB (default 200) that starts like the answer
//                   ({"images": ["AAAA...) and never ends it; streamed, never held in memory;
//                   with its Content-Length (huge) or chunked, length unsaid (huge_chunked)
//     wrong_types   A1111: info.all_seeds as strings; ComfyUI: /history lists the image with
//                   a number as its filename
//     error_inside  A1111: {"error": "OutOfMemoryError", "detail": "", "body": "", "errors":
//                   "CUDA out of memory. ..."} (the shape of A1111's API errors); ComfyUI:
//                   POST /prompt answers {"error": {type, message, details}, "node_errors": {}}
//     not_image     A1111: each image is base64 of an HTML page; ComfyUI: /view sends the page
//     truncated_png the first half of each PNG
//                   For ComfyUI, trickle, huge(_chunked), not_image and truncated_png apply to the GET
//                   /view of that prompt's image; the prompt itself is answered normally.
//   reset()                 everything off (return_grid back to true).
//
// Recording: requests(path) counts every request received whose path is `path` or under
// `path` + "/" (so requests("/history") counts every /history/{id}), faulted ones included;
// txt2img_requests() / prompts() hold the parsed JSON body of every generation request, in
// arrival order, faulted ones included (a body that is not JSON is recorded as a string).
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

namespace ghx::test {

struct FakeCheckpoint {
  std::string name;    ///< file name, e.g. "ghostmix_v20.safetensors"
  std::string sha256;  ///< 64 hex digits; AutoV2 "Model hash" = the first 10
};

struct FakeLora {
  std::string name;    ///< A1111: the name in <lora:name:w>; ComfyUI: lora_name = name + ".safetensors"
  std::string sha256;  ///< 64 hex digits; A1111's "Lora hashes" shows the first 12
};

enum class Hostile { none, trickle, huge, huge_chunked, wrong_types, error_inside, not_image, truncated_png };

class FakeFaults {
 public:
  void fail_next(int n, int status = 500);
  void drop_next(int n);
  void die_after(int n);
  void set_delay_s(double seconds);
  void set_wrong_model_hash(const std::string& hash);
  void set_omit_infotext(bool on);
  void set_return_grid(bool on);
  void set_history_delay_polls(int n);
  void hostile_next(int n, Hostile kind);
  void set_trickle_s(double seconds);
  void set_huge_mb(int mb);
  void reset();

  double delay_s() const;
  std::string wrong_model_hash() const;
  bool omit_infotext() const;
  bool return_grid() const;
  int history_delay_polls() const;
  double trickle_s() const;
  int huge_mb() const;

  // ---- used by the servers ----
  enum class Verdict { Serve, Fail, Drop };
  struct Decision {
    Verdict verdict = Verdict::Serve;
    int status = 200;
    bool die = false;  ///< stop listening once this request is answered
    Hostile hostile = Hostile::none;  ///< when Serve
  };
  /// Consumes the counted faults for one generation request.
  Decision next_generation();
  /// Called (outside the lock) when die_after(0) is set.
  void on_die(std::function<void()> hook);

 private:
  mutable std::mutex m_mutex;
  int m_fail_count = 0;
  int m_fail_status = 500;
  int m_drop_count = 0;
  int m_die_after = -1;  ///< -1: off
  double m_delay_s = 0;
  std::string m_wrong_model_hash;
  bool m_omit_infotext = false;
  bool m_return_grid = true;
  int m_history_delay_polls = 0;
  int m_hostile_count = 0;
  Hostile m_hostile = Hostile::none;
  double m_trickle_s = 1;
  int m_huge_mb = 200;
  std::function<void()> m_on_die;
};

class FakeA1111 {
 public:
  /// The first checkpoint is loaded at start (none: sd_model_checkpoint null, hash "").
  explicit FakeA1111(std::vector<FakeCheckpoint> checkpoints, std::vector<FakeLora> loras = {});
  ~FakeA1111();
  FakeA1111(const FakeA1111&) = delete;
  FakeA1111& operator=(const FakeA1111&) = delete;

  std::string url() const;  ///< "http://127.0.0.1:PORT"
  int port() const;
  FakeFaults& faults();
  /// Bodies of every POST /sdapi/v1/txt2img, in order.
  std::vector<nlohmann::json> txt2img_requests() const;
  /// Bodies of every POST /sdapi/v1/options, in order.
  std::vector<nlohmann::json> options_posts() const;
  int requests(const std::string& path) const;
  /// Name (FakeCheckpoint::name) of the loaded checkpoint, "" when none.
  std::string current_model() const;
  /// Loads a checkpoint by any alias, as POST /sdapi/v1/options would; false if unknown.
  bool set_current_model(const std::string& alias);
  /// As a checkpoint A1111 has listed but never loaded: /sdapi/v1/sd-models shows hash and
  /// sha256 null until a request or POST /sdapi/v1/options loads it. false if unknown.
  bool set_unhashed(const std::string& alias);
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

class FakeComfyUI {
 public:
  explicit FakeComfyUI(std::vector<FakeCheckpoint> checkpoints, std::vector<FakeLora> loras = {});
  ~FakeComfyUI();
  FakeComfyUI(const FakeComfyUI&) = delete;
  FakeComfyUI& operator=(const FakeComfyUI&) = delete;

  std::string url() const;  ///< "http://127.0.0.1:PORT"
  int port() const;
  FakeFaults& faults();
  /// Bodies of every POST /prompt ({prompt, client_id, ...}), in order.
  std::vector<nlohmann::json> prompts() const;
  int requests(const std::string& path) const;
  /// "subfolder/filename" of every image stored so far (what /view serves), in order.
  std::vector<std::string> stored_images() const;
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

/// The fake's "diffusion": a BGR CV_8UC3 image drawn from a hash of the arguments (background
/// from the model hash, shapes from prompt and seed). Same arguments, same pixels.
cv::Mat fake_render(const std::string& model_hash, const std::string& prompt, int64_t seed, int width, int height);

/// Standard base64 (A1111's images); throws std::invalid_argument on bad input.
std::string fake_base64_decode(const std::string& text);
std::string fake_base64_encode(const std::string& bytes);

/// Text chunks of a PNG, keyword -> text (tEXt as Latin-1 converted to UTF-8; uncompressed iTXt
/// as UTF-8). Throws std::invalid_argument for bytes that are not a PNG.
std::map<std::string, std::string> fake_png_text(const std::string& png);

}  // namespace ghx::test
