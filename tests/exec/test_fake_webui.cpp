// Self-tests of the fake A1111 / ComfyUI servers (tests/support/fake_webui.h), through a real
// HTTP client: seeds, PNG infotext, A1111's unknown-checkpoint trap, grids, every fault, and
// ComfyUI's prompt -> history -> view flow and validation errors.
#include <catch2/catch.hpp>

// Must match how Debian's libcpp-httplib.so was built (see fake_webui.h).
#include <httplib.h>

#include <chrono>

#include <opencv2/imgcodecs.hpp>

#include "support/fake_webui.h"

using ghx::test::FakeA1111;
using ghx::test::FakeCheckpoint;
using ghx::test::FakeComfyUI;
using ghx::test::FakeLora;
using json = nlohmann::json;

namespace {

const std::string k_sha_ghost = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string k_sha_other = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
const std::string k_sha_lora = "aaaabbbbccccddddeeeeffff00001111aaaabbbbccccddddeeeeffff00001111";

std::vector<FakeCheckpoint> checkpoints() {
  return {{"ghostmix_v20.safetensors", k_sha_ghost}, {"other_v1.safetensors", k_sha_other}};
}

std::unique_ptr<httplib::Client> client(const std::string& url, double read_timeout_s = 5) {
  auto c = std::make_unique<httplib::Client>(url);
  c->set_connection_timeout(2, 0);
  c->set_read_timeout(std::chrono::milliseconds(int(read_timeout_s * 1000)));
  return c;
}

json post_json(httplib::Client& c, const std::string& path, const json& body, int expect_status = 200) {
  auto r = c.Post(path.c_str(), body.dump(), "application/json");
  REQUIRE(r);
  INFO(r->body);
  REQUIRE(r->status == expect_status);
  return json::parse(r->body);
}

json get_json(httplib::Client& c, const std::string& path) {
  auto r = c.Get(path.c_str());
  REQUIRE(r);
  REQUIRE(r->status == 200);
  return json::parse(r->body);
}

json small_txt2img(int64_t seed, int batch = 1, int n_iter = 1) {
  return {{"prompt", "anime girl, cel shading"},
          {"negative_prompt", "lowres"},
          {"seed", seed},
          {"sampler_name", "DPM++ 2M"},
          {"scheduler", "Karras"},
          {"steps", 30},
          {"cfg_scale", 6},
          {"width", 32},
          {"height", 48},
          {"batch_size", batch},
          {"n_iter", n_iter}};
}

cv::Mat decode(const std::string& png) {
  std::vector<uchar> buf(png.begin(), png.end());
  return cv::imdecode(buf, cv::IMREAD_COLOR);
}

bool same_pixels(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0;
}

/// ComfyUI's default text-to-image graph in API format, with a LoRA.
json comfy_graph(const std::string& ckpt, int64_t seed, int batch, const std::string& sampler = "dpmpp_2m") {
  return {
      {"4", {{"class_type", "CheckpointLoaderSimple"}, {"inputs", {{"ckpt_name", ckpt}}}}},
      {"10",
       {{"class_type", "LoraLoader"},
        {"inputs",
         {{"model", {"4", 0}},
          {"clip", {"4", 1}},
          {"lora_name", "detail.safetensors"},
          {"strength_model", 0.8},
          {"strength_clip", 1.0}}}}},
      {"6", {{"class_type", "CLIPTextEncode"}, {"inputs", {{"text", "manga panel, rain"}, {"clip", {"10", 1}}}}}},
      {"7", {{"class_type", "CLIPTextEncode"}, {"inputs", {{"text", "lowres"}, {"clip", {"10", 1}}}}}},
      {"5", {{"class_type", "EmptyLatentImage"}, {"inputs", {{"width", 32}, {"height", 40}, {"batch_size", batch}}}}},
      {"3",
       {{"class_type", "KSampler"},
        {"inputs",
         {{"model", {"10", 0}},
          {"seed", seed},
          {"steps", 20},
          {"cfg", 6.0},
          {"sampler_name", sampler},
          {"scheduler", "karras"},
          {"positive", {"6", 0}},
          {"negative", {"7", 0}},
          {"latent_image", {"5", 0}},
          {"denoise", 1.0}}}}},
      {"8", {{"class_type", "VAEDecode"}, {"inputs", {{"samples", {"3", 0}}, {"vae", {"4", 2}}}}}},
      {"9", {{"class_type", "SaveImage"}, {"inputs", {{"filename_prefix", "ghx/run"}, {"images", {"8", 0}}}}}},
  };
}

}  // namespace

TEST_CASE("fake A1111 lists models and options", "[fake_webui]") {
  FakeA1111 a1111(checkpoints(), {{"detail", k_sha_lora}});
  auto c = client(a1111.url());
  json models = get_json(*c, "/sdapi/v1/sd-models");
  REQUIRE(models.size() == 2);
  CHECK(models[0]["title"] == "ghostmix_v20.safetensors [0123456789]");
  CHECK(models[0]["model_name"] == "ghostmix_v20");
  CHECK(models[0]["hash"] == "0123456789");
  CHECK(models[0]["sha256"] == k_sha_ghost);
  json options = get_json(*c, "/sdapi/v1/options");
  CHECK(options["sd_model_checkpoint"] == "ghostmix_v20.safetensors [0123456789]");
  CHECK(options["sd_vae"] == "Automatic");
  json loras = get_json(*c, "/sdapi/v1/loras");
  REQUIRE(loras.size() == 1);
  CHECK(loras[0]["name"] == "detail");
  CHECK(a1111.current_model() == "ghostmix_v20.safetensors");
  CHECK(a1111.requests("/sdapi/v1/sd-models") == 1);
  CHECK(a1111.requests("/sdapi") == 3);
}

TEST_CASE("fake A1111 txt2img: seeds, PNG infotext, deterministic pixels", "[fake_webui]") {
  FakeA1111 a1111(checkpoints());
  auto c = client(a1111.url());
  json res = post_json(*c, "/sdapi/v1/txt2img", small_txt2img(100, 2, 2));
  json info = json::parse(res["info"].get<std::string>());
  REQUIRE(res["images"].size() == 4);
  CHECK(info["all_seeds"] == json({100, 101, 102, 103}));
  CHECK(info["seed"] == 100);
  CHECK(info["all_prompts"].size() == 4);
  CHECK(info["index_of_first_image"] == 0);
  CHECK(info["sd_model_hash"] == "0123456789");
  CHECK(info["sd_model_name"] == "ghostmix_v20");
  CHECK(info["infotexts"].size() == 4);
  CHECK(res["parameters"]["seed"] == 100);
  CHECK(res["parameters"]["send_images"] == true);  // defaults filled in, as A1111 echoes them

  std::vector<cv::Mat> imgs;
  for (size_t i = 0; i < 4; ++i) {
    std::string png = ghx::test::fake_base64_decode(res["images"][i].get<std::string>());
    cv::Mat img = decode(png);
    REQUIRE(!img.empty());
    CHECK(img.cols == 32);
    CHECK(img.rows == 48);
    auto chunks = ghx::test::fake_png_text(png);
    REQUIRE(chunks.count("parameters"));
    const std::string& text = chunks["parameters"];
    CHECK(text == info["infotexts"][i].get<std::string>());
    CHECK(text.find("Seed: " + std::to_string(100 + i) + ",") != std::string::npos);
    CHECK(text.rfind("anime girl, cel shading\nNegative prompt: lowres\nSteps: 30, Sampler: DPM++ 2M, "
                     "Schedule type: Karras, CFG scale: 6, Seed: ",
                     0) == 0);
    CHECK(text.find("Size: 32x48, Model hash: 0123456789, Model: ghostmix_v20") != std::string::npos);
    CHECK(same_pixels(img, ghx::test::fake_render("0123456789", "anime girl, cel shading", int64_t(100 + i), 32, 48)));
    imgs.push_back(img);
  }
  CHECK(!same_pixels(imgs[0], imgs[1]));
  // Another model draws another image for the same seed.
  CHECK(!same_pixels(imgs[0], ghx::test::fake_render("fedcba9876", "anime girl, cel shading", 100, 32, 48)));

  // seed -1: random, then consecutive.
  json r2 = post_json(*c, "/sdapi/v1/txt2img", small_txt2img(-1, 3));
  json i2 = json::parse(r2["info"].get<std::string>());
  int64_t s0 = i2["all_seeds"][0].get<int64_t>();
  CHECK(s0 >= 0);
  CHECK(i2["all_seeds"] == json({s0, s0 + 1, s0 + 2}));

  REQUIRE(a1111.txt2img_requests().size() == 2);
  CHECK(a1111.txt2img_requests()[0]["seed"] == 100);
  CHECK(a1111.requests("/sdapi/v1/txt2img") == 2);

  // Wrong types answer 422 like FastAPI.
  json bad = small_txt2img(1);
  bad["steps"] = "thirty";
  post_json(*c, "/sdapi/v1/txt2img", bad, 422);
}

TEST_CASE("fake A1111 hires, LoRA hashes and send_images", "[fake_webui]") {
  FakeA1111 a1111(checkpoints(), {{"detail", k_sha_lora}});
  auto c = client(a1111.url());
  json req = small_txt2img(7);
  req["prompt"] = "city <lora:detail:0.6> <lora:missing:1>";
  req["enable_hr"] = true;
  req["hr_scale"] = 2;
  req["hr_upscaler"] = "4x-UltraSharp";
  req["denoising_strength"] = 0.5;
  req["override_settings"] = {{"CLIP_stop_at_last_layers", 2}};
  json res = post_json(*c, "/sdapi/v1/txt2img", req);
  json info = json::parse(res["info"].get<std::string>());
  std::string png = ghx::test::fake_base64_decode(res["images"][0].get<std::string>());
  cv::Mat img = decode(png);
  CHECK(img.cols == 64);
  CHECK(img.rows == 96);
  const std::string text = info["infotexts"][0];
  CHECK(text.find("Size: 32x48,") != std::string::npos);  // first-pass size, like A1111
  CHECK(text.find("Denoising strength: 0.5, Clip skip: 2, Hires upscale: 2, Hires upscaler: 4x-UltraSharp") !=
        std::string::npos);
  CHECK(text.find("Lora hashes: \"detail: aaaabbbbcccc\"") != std::string::npos);  // unknown LoRA: silently absent
  CHECK(text.find("missing: ") == std::string::npos);

  req["send_images"] = false;
  json none = post_json(*c, "/sdapi/v1/txt2img", req);
  CHECK(none["images"].empty());
}

TEST_CASE("fake A1111 trap: an unknown override checkpoint is silently ignored", "[fake_webui]") {
  FakeA1111 a1111(checkpoints());
  auto c = client(a1111.url());
  json req = small_txt2img(1);
  req["override_settings"] = {{"sd_model_checkpoint", "does_not_exist.safetensors"}};
  json info = json::parse(post_json(*c, "/sdapi/v1/txt2img", req)["info"].get<std::string>());
  CHECK(info["sd_model_hash"] == "0123456789");  // the loaded model, not an error

  req["override_settings"] = {{"sd_model_checkpoint", "other_v1.safetensors [fedcba9876]"}};
  info = json::parse(post_json(*c, "/sdapi/v1/txt2img", req)["info"].get<std::string>());
  CHECK(info["sd_model_hash"] == "fedcba9876");
  CHECK(a1111.current_model() == "ghostmix_v20.safetensors");  // restored afterwards

  req["override_settings"] = {{"sd_model_checkpoint", "other_v1"}};
  req["override_settings_restore_afterwards"] = false;
  info = json::parse(post_json(*c, "/sdapi/v1/txt2img", req)["info"].get<std::string>());
  CHECK(info["sd_model_hash"] == "fedcba9876");
  CHECK(a1111.current_model() == "other_v1.safetensors");
}

TEST_CASE("fake A1111 options: set the model, unknown checkpoint is a 500", "[fake_webui]") {
  FakeA1111 a1111(checkpoints());
  auto c = client(a1111.url());
  json err = post_json(*c, "/sdapi/v1/options", {{"sd_model_checkpoint", "nope.safetensors"}}, 500);
  CHECK(err["error"] == "RuntimeError");
  CHECK(err["errors"] == "model 'nope.safetensors' not found");
  CHECK(a1111.current_model() == "ghostmix_v20.safetensors");

  post_json(*c, "/sdapi/v1/options",
            {{"sd_model_checkpoint", "other_v1.safetensors [fedcba9876]"}, {"sd_vae", "vae.pt"}});
  CHECK(a1111.current_model() == "other_v1.safetensors");
  json options = get_json(*c, "/sdapi/v1/options");
  CHECK(options["sd_model_checkpoint"] == "other_v1.safetensors [fedcba9876]");
  CHECK(options["sd_vae"] == "vae.pt");
  json info = json::parse(post_json(*c, "/sdapi/v1/txt2img", small_txt2img(3))["info"].get<std::string>());
  CHECK(info["sd_model_hash"] == "fedcba9876");
  CHECK(info["infotexts"][0].get<std::string>().find("VAE: vae.pt") != std::string::npos);

  post_json(*c, "/sdapi/v1/options", {{"sd_model_checkpoint", "ghostmix_v20"}});  // model_name works too
  CHECK(a1111.current_model() == "ghostmix_v20.safetensors");
  CHECK(a1111.options_posts().size() == 3);
}

TEST_CASE("fake A1111 grid: only with return_grid and save_images, at index 0", "[fake_webui]") {
  FakeA1111 a1111(checkpoints());
  auto c = client(a1111.url());
  json req = small_txt2img(10, 2, 2);
  // API default save_images=false means do_not_save_grid: no grid even though return_grid is on.
  json res = post_json(*c, "/sdapi/v1/txt2img", req);
  CHECK(res["images"].size() == 4);

  req["save_images"] = true;
  res = post_json(*c, "/sdapi/v1/txt2img", req);
  json info = json::parse(res["info"].get<std::string>());
  REQUIRE(res["images"].size() == 5);
  CHECK(info["index_of_first_image"] == 1);
  CHECK(info["all_seeds"] == json({10, 11, 12, 13}));  // real images only
  CHECK(info["infotexts"].size() == 5);
  cv::Mat grid = decode(ghx::test::fake_base64_decode(res["images"][0].get<std::string>()));
  CHECK(grid.cols == 64);
  CHECK(grid.rows == 96);
  cv::Mat first = decode(ghx::test::fake_base64_decode(res["images"][1].get<std::string>()));
  CHECK(same_pixels(grid(cv::Rect(0, 0, 32, 48)), first));
  CHECK(same_pixels(first, ghx::test::fake_render("0123456789", "anime girl, cel shading", 10, 32, 48)));

  a1111.faults().set_return_grid(false);
  CHECK(post_json(*c, "/sdapi/v1/txt2img", req)["images"].size() == 4);
  post_json(*c, "/sdapi/v1/options", {{"return_grid", true}});
  CHECK(post_json(*c, "/sdapi/v1/txt2img", req)["images"].size() == 5);
  // One image: no grid.
  json one = small_txt2img(1);
  one["save_images"] = true;
  CHECK(post_json(*c, "/sdapi/v1/txt2img", one)["images"].size() == 1);
}

TEST_CASE("fake A1111 faults: fail, drop, delay, wrong hash, no infotext, die", "[fake_webui]") {
  FakeA1111 a1111(checkpoints());
  auto c = client(a1111.url());
  const std::string body = small_txt2img(1).dump();

  SECTION("fail_next") {
    a1111.faults().fail_next(2, 503);
    for (int i = 0; i < 2; ++i) {
      auto r = c->Post("/sdapi/v1/txt2img", body, "application/json");
      REQUIRE(r);
      CHECK(r->status == 503);
    }
    auto ok = c->Post("/sdapi/v1/txt2img", body, "application/json");
    REQUIRE(ok);
    CHECK(ok->status == 200);
    CHECK(a1111.txt2img_requests().size() == 3);  // faulted ones are recorded too
    // Other endpoints are not affected.
    a1111.faults().fail_next(1, 500);
    CHECK(c->Get("/sdapi/v1/sd-models")->status == 200);
  }
  SECTION("drop_next: the connection closes without an answer") {
    a1111.faults().drop_next(1);
    auto r = c->Post("/sdapi/v1/txt2img", body, "application/json");
    CHECK(!r);
    CHECK(r.error() == httplib::Error::Read);
    auto ok = c->Post("/sdapi/v1/txt2img", body, "application/json");
    REQUIRE(ok);
    CHECK(ok->status == 200);
    CHECK(a1111.requests("/sdapi/v1/txt2img") == 2);
  }
  SECTION("delay_s: a client with a shorter timeout gives up") {
    a1111.faults().set_delay_s(0.4);
    auto impatient = client(a1111.url(), 0.1);
    auto t0 = std::chrono::steady_clock::now();
    auto r = impatient->Post("/sdapi/v1/txt2img", body, "application/json");
    CHECK(!r);
    CHECK(r.error() == httplib::Error::Read);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(350));
    a1111.faults().set_delay_s(0.05);
    auto patient = c->Post("/sdapi/v1/txt2img", body, "application/json");
    REQUIRE(patient);
    CHECK(patient->status == 200);
  }
  SECTION("wrong_model_hash") {
    a1111.faults().set_wrong_model_hash("badbadbad0");
    json res = post_json(*c, "/sdapi/v1/txt2img", small_txt2img(1));
    json info = json::parse(res["info"].get<std::string>());
    CHECK(info["sd_model_hash"] == "badbadbad0");
    CHECK(info["infotexts"][0].get<std::string>().find("Model hash: badbadbad0") != std::string::npos);
  }
  SECTION("omit_infotext") {
    a1111.faults().set_omit_infotext(true);
    json res = post_json(*c, "/sdapi/v1/txt2img", small_txt2img(1));
    std::string png = ghx::test::fake_base64_decode(res["images"][0].get<std::string>());
    CHECK(ghx::test::fake_png_text(png).empty());
    CHECK(!decode(png).empty());
  }
  SECTION("die_after: later connections are refused") {
    a1111.faults().die_after(2);
    CHECK(c->Post("/sdapi/v1/txt2img", body, "application/json")->status == 200);
    CHECK(c->Get("/sdapi/v1/options")->status == 200);  // not a generation request
    CHECK(c->Post("/sdapi/v1/txt2img", body, "application/json")->status == 200);
    auto r = c->Get("/sdapi/v1/options");
    CHECK(!r);
    CHECK(r.error() == httplib::Error::Connection);
  }
}

TEST_CASE("fake ComfyUI: prompt -> history -> view", "[fake_webui]") {
  FakeComfyUI comfy(checkpoints(), {{"detail", k_sha_lora}});
  auto c = client(comfy.url());
  json info = get_json(*c, "/object_info/CheckpointLoaderSimple");
  CHECK(info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] ==
        json({"ghostmix_v20.safetensors", "other_v1.safetensors"}));
  CHECK(get_json(*c, "/object_info/NoSuchNode").empty());
  CHECK(get_json(*c, "/system_stats").contains("devices"));

  comfy.faults().set_history_delay_polls(2);
  const json graph = comfy_graph("other_v1.safetensors", 5, 2);
  json sub = post_json(*c, "/prompt", {{"prompt", graph}, {"client_id", "ghx-test"}});
  const std::string id = sub["prompt_id"];
  CHECK(!id.empty());
  CHECK(sub["number"] == 0);
  CHECK(sub["node_errors"].empty());
  CHECK(get_json(*c, "/history/" + id).empty());
  CHECK(get_json(*c, "/history/" + id).empty());
  json hist = get_json(*c, "/history/" + id);
  REQUIRE(hist.contains(id));
  const json& entry = hist[id];
  CHECK(entry["status"]["status_str"] == "success");
  CHECK(entry["status"]["completed"] == true);
  CHECK(entry["prompt"][2] == graph);
  CHECK(entry["prompt"][3]["client_id"] == "ghx-test");
  const json& images = entry["outputs"]["9"]["images"];
  REQUIRE(images.size() == 2);
  CHECK(images[0]["filename"] == "run_00001_.png");
  CHECK(images[1]["filename"] == "run_00002_.png");
  CHECK(images[0]["subfolder"] == "ghx");
  CHECK(images[0]["type"] == "output");
  CHECK(comfy.requests("/history") == 3);
  CHECK(get_json(*c, "/history/no-such-id").empty());

  for (int i = 0; i < 2; ++i) {
    httplib::Params q = {
        {"filename", images[i]["filename"].get<std::string>()}, {"subfolder", "ghx"}, {"type", "output"}};
    auto r = c->Get("/view", q, httplib::Headers());
    REQUIRE(r);
    REQUIRE(r->status == 200);
    CHECK(r->get_header_value("Content-Type") == "image/png");
    auto chunks = ghx::test::fake_png_text(r->body);
    REQUIRE(chunks.count("prompt"));
    CHECK(json::parse(chunks["prompt"]) == graph);
    cv::Mat img = decode(r->body);
    CHECK(img.cols == 32);
    CHECK(img.rows == 40);
    // The fake's seeds: image i of the batch is seed + i (real ComfyUI: one noise for the batch).
    CHECK(same_pixels(img, ghx::test::fake_render("fedcba9876", "manga panel, rain <lora:detail:0.8>", 5 + i, 32, 40)));
  }
  auto missing = c->Get("/view?filename=nope.png&subfolder=ghx&type=output");
  REQUIRE(missing);
  CHECK(missing->status == 404);

  // A second prompt continues the counter.
  json sub2 =
      post_json(*c, "/prompt", {{"prompt", comfy_graph("other_v1.safetensors", 6, 1)}, {"client_id", "ghx-test"}});
  CHECK(sub2["number"] == 1);
  comfy.faults().set_history_delay_polls(0);
  json h2 = get_json(*c, "/history/" + sub2["prompt_id"].get<std::string>());
  CHECK(h2.begin().value()["outputs"]["9"]["images"][0]["filename"] == "run_00003_.png");
  CHECK(comfy.prompts().size() == 2);
  CHECK(comfy.prompts()[0]["client_id"] == "ghx-test");
  CHECK(comfy.stored_images() ==
        std::vector<std::string>({"ghx/run_00001_.png", "ghx/run_00002_.png", "ghx/run_00003_.png"}));
}

TEST_CASE("fake ComfyUI validation errors", "[fake_webui]") {
  FakeComfyUI comfy(checkpoints(), {{"detail", k_sha_lora}});
  auto c = client(comfy.url());

  json err = post_json(*c, "/prompt", {{"prompt", comfy_graph("gone.safetensors", 1, 1)}}, 400);
  CHECK(err["error"]["type"] == "prompt_outputs_failed_validation");
  CHECK(err["error"]["message"] == "Prompt outputs failed validation");
  REQUIRE(err["node_errors"].contains("4"));
  const json& ne = err["node_errors"]["4"];
  CHECK(ne["class_type"] == "CheckpointLoaderSimple");
  CHECK(ne["dependent_outputs"] == json({"9"}));
  CHECK(ne["errors"][0]["type"] == "value_not_in_list");
  CHECK(ne["errors"][0]["message"] == "Value not in list");
  CHECK(ne["errors"][0]["details"] ==
        "ckpt_name: 'gone.safetensors' not in ['ghostmix_v20.safetensors', 'other_v1.safetensors']");
  CHECK(ne["errors"][0]["extra_info"]["received_value"] == "gone.safetensors");

  // A1111 sampler names are not ComfyUI's.
  json e2 = post_json(*c, "/prompt", {{"prompt", comfy_graph("other_v1.safetensors", 1, 1, "DPM++ 2M Karras")}}, 400);
  CHECK(e2["node_errors"]["3"]["errors"][0]["details"].get<std::string>().rfind(
            "sampler_name: 'DPM++ 2M Karras' not in (list of length", 0) == 0);

  json g = comfy_graph("other_v1.safetensors", 1, 1);
  g["11"] = {{"class_type", "NoSuchNode"}, {"inputs", json::object()}};
  CHECK(post_json(*c, "/prompt", {{"prompt", g}}, 400)["error"]["type"] == "invalid_prompt");

  json g2 = comfy_graph("other_v1.safetensors", 1, 1);
  g2["3"]["inputs"].erase("steps");
  CHECK(post_json(*c, "/prompt", {{"prompt", g2}}, 400)["node_errors"]["3"]["errors"][0]["type"] ==
        "required_input_missing");

  json g3 = comfy_graph("other_v1.safetensors", 1, 1);
  g3.erase("9");
  CHECK(post_json(*c, "/prompt", {{"prompt", g3}}, 400)["error"]["type"] == "prompt_no_outputs");
  CHECK(comfy.stored_images().empty());

  // One good output and one bad: ComfyUI runs the good one, answers 200 and still lists node_errors.
  json g4 = comfy_graph("other_v1.safetensors", 1, 1);
  g4["20"] = {{"class_type", "CheckpointLoaderSimple"}, {"inputs", {{"ckpt_name", "gone.safetensors"}}}};
  g4["21"] = {{"class_type", "VAEDecode"}, {"inputs", {{"samples", {"3", 0}}, {"vae", {"20", 2}}}}};
  g4["22"] = {{"class_type", "SaveImage"}, {"inputs", {{"filename_prefix", "bad"}, {"images", {"21", 0}}}}};
  json partial = post_json(*c, "/prompt", {{"prompt", g4}});
  CHECK(partial["node_errors"]["20"]["dependent_outputs"] == json({"22"}));
  json h4 = get_json(*c, "/history/" + partial["prompt_id"].get<std::string>());
  CHECK(h4.begin().value()["outputs"].contains("9"));
  CHECK(!h4.begin().value()["outputs"].contains("22"));

  // A graph the fake cannot "run" (two sampler passes) fails at execution, in /history.
  json g5 = comfy_graph("other_v1.safetensors", 1, 1);
  g5["12"] = g5["3"];
  g5["12"]["inputs"]["latent_image"] = {"3", 0};
  g5["8"]["inputs"]["samples"] = {"12", 0};
  json run5 = post_json(*c, "/prompt", {{"prompt", g5}});
  json h5 = get_json(*c, "/history/" + run5["prompt_id"].get<std::string>());
  const json& status = h5.begin().value()["status"];
  CHECK(status["status_str"] == "error");
  CHECK(status["completed"] == false);
  CHECK(status["messages"].back()[0] == "execution_error");
}

TEST_CASE("fake ComfyUI faults", "[fake_webui]") {
  FakeComfyUI comfy(checkpoints(), {{"detail", k_sha_lora}});
  auto c = client(comfy.url());
  const std::string body = json({{"prompt", comfy_graph("ghostmix_v20.safetensors", 1, 1)}}).dump();

  comfy.faults().fail_next(1, 500);
  auto r = c->Post("/prompt", body, "application/json");
  REQUIRE(r);
  CHECK(r->status == 500);

  comfy.faults().drop_next(1);
  auto dropped = c->Post("/prompt", body, "application/json");
  CHECK(!dropped);
  CHECK(dropped.error() == httplib::Error::Read);

  comfy.faults().set_omit_infotext(true);
  auto ok = c->Post("/prompt", body, "application/json");
  REQUIRE(ok);
  REQUIRE(ok->status == 200);
  json hist = get_json(*c, "/history/" + json::parse(ok->body)["prompt_id"].get<std::string>());
  const std::string name = hist.begin().value()["outputs"]["9"]["images"][0]["filename"];
  auto view = c->Get(("/view?type=output&subfolder=ghx&filename=" + name).c_str());
  REQUIRE(view);
  CHECK(ghx::test::fake_png_text(view->body).empty());
  CHECK(comfy.prompts().size() == 3);

  comfy.faults().die_after(0);
  auto refused = c->Get("/system_stats");
  CHECK(!refused);
  CHECK(refused.error() == httplib::Error::Connection);
  comfy.stop();
  comfy.stop();  // idempotent
}
