// The comfyui backend end to end against the fake server (tests/support/fake_webui.h): one
// request per image with exactly the planned seeds, the workflow template filled, sampler
// mapping, history polling, retries, checkpoint check by name, infotext.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <map>
#include <set>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "cache/cache.h"
#include "dsl/loader.h"
#include "backends/comfyui.h"
#include "backends/infotext.h"
#include "exec/runner.h"
#include "plan/plan.h"
#include "support.h"
#include "support/backend_run.h"
#include "support/fake_webui.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/png.h"
#include "util/png_text.h"

using namespace ghx;
using nlohmann::json;

namespace {

struct Review {
  test::TempDir dir;
  std::string exp;
};

const std::string k_sha_a = util::sha256_hex("checkpoint A bytes");
const std::string k_sha_b = util::sha256_hex("checkpoint B bytes");

/// Two checkpoint files, 1 prompt x 4 images (batch_size 2 x n_iter 2, which comfyui ignores:
/// one image per request), the example workflow template of the repository.
void write_review(Review& r, const std::vector<std::string>& endpoints, const std::string& sampler = "") {
  r.exp = test::write_backend_review(r.dir.path(),
                                     "backend = \"comfyui\"\nworkflow = \"workflow.json\"\nendpoints = " +
                                         test::toml_strings(endpoints) + (sampler.empty() ? "" : "\nsampler = \"" + sampler + "\""),
                                     2);
  test::write_text(r.dir / "workflow.json",
                   test::read_text(std::string(GHX_SOURCE_DIR) + "/experiments/workflows/comfyui_txt2img.json"));
}

using Ran = test::RanReview;
Ran run(Review& r, backends::BackendOptions opts = {}) { return test::run_review(r.exp, r.dir / "cache", opts); }
auto images(Review& r, const plan::Plan& p) { return test::stored_images(r.dir / "cache", p); }

/// The node of a submitted graph with this class_type (the first one).
const json& node(const json& graph, const std::string& cls) {
  for (const auto& [id, n] : graph.items())
    if (n["class_type"] == cls) return n;
  FAIL("no node " << cls);
  static json none;
  return none;
}

}  // namespace

TEST_CASE("comfyui: sampler names map to sampler_name and scheduler", "[comfyui]") {
  CHECK(backends::comfyui_sampler("Euler a") == std::make_pair(std::string("euler_ancestral"), std::string("normal")));
  CHECK(backends::comfyui_sampler("DPM++ 2M Karras") == std::make_pair(std::string("dpmpp_2m"), std::string("karras")));
  CHECK(backends::comfyui_sampler("DPM++ SDE Karras") == std::make_pair(std::string("dpmpp_sde"), std::string("karras")));
  CHECK(backends::comfyui_sampler("DPM++ 2M SDE Karras") == std::make_pair(std::string("dpmpp_2m_sde"), std::string("karras")));
  CHECK(backends::comfyui_sampler("DDIM") == std::make_pair(std::string("ddim"), std::string("ddim_uniform")));
  CHECK(backends::comfyui_sampler("Euler") == std::make_pair(std::string("euler"), std::string("normal")));
  CHECK(backends::comfyui_sampler("UniPC") == std::make_pair(std::string("uni_pc"), std::string("normal")));
  CHECK_THROWS_WITH(backends::comfyui_sampler("Made Up"), Catch::Contains("no ComfyUI sampler/scheduler known for sampler 'Made Up'"));
}

TEST_CASE("comfyui: exactly the planned images, one request each, template filled, infotext", "[comfyui]") {
  Review r;
  test::FakeComfyUI srv({{"a.safetensors", k_sha_a}, {"b.safetensors", k_sha_b}});
  srv.faults().set_history_delay_polls(2);  // "still running" twice per prompt: we poll
  write_review(r, {srv.url()}, "Euler a");
  Ran ran = run(r);
  CHECK(ran.sum.failed == 0);
  // 2 checkpoints x 1 prompt x 4 images, one request per image
  auto prompts = srv.prompts();
  REQUIRE(prompts.size() == 8);
  std::multiset<std::pair<std::string, int64_t>> asked;
  std::set<std::string> client_ids;
  for (const auto& q : prompts) {
    const json& g = q["prompt"];
    client_ids.insert(q["client_id"].get<std::string>());
    const json& ks = node(g, "KSampler")["inputs"];
    CHECK(ks["seed"].is_number_integer());  // "{{seed}}" became a number
    CHECK(ks["steps"] == 30);
    CHECK(ks["cfg"].is_number());
    CHECK(ks["sampler_name"] == "euler_ancestral");
    CHECK(ks["scheduler"] == "normal");
    const json& lat = node(g, "EmptyLatentImage")["inputs"];
    CHECK(lat["batch_size"] == 1);
    CHECK(lat["width"] == 32);
    CHECK(lat["height"] == 32);
    CHECK(g["6"]["inputs"]["text"] == "anime girl");
    CHECK(g["7"]["inputs"]["text"].is_string());
    CHECK(g.dump().find("{{") == std::string::npos);
    asked.insert({node(g, "CheckpointLoaderSimple")["inputs"]["ckpt_name"].get<std::string>(), ks["seed"].get<int64_t>()});
  }
  CHECK(client_ids.size() == 8);
  CHECK(asked == std::multiset<std::pair<std::string, int64_t>>{{"a.safetensors", 7}, {"a.safetensors", 8},
                                                                {"a.safetensors", 9}, {"a.safetensors", 10},
                                                                {"b.safetensors", 7}, {"b.safetensors", 8},
                                                                {"b.safetensors", 9}, {"b.safetensors", 10}});
  CHECK(srv.requests("/history") >= 8 * 3);  // polled past the delay
  CHECK(srv.requests("/view") == 8);
  CHECK(srv.requests("/object_info") == 1);  // the checkpoint list is cached per endpoint
  auto imgs = images(r, ran.plan);
  REQUIRE(imgs.size() == 8);
  for (const auto& [k, png] : imgs) {
    const std::string sha = k.first.substr(7);
    int64_t seed = std::stoll(k.second);
    cv::Mat got = util::decode_image(png, "stored");
    cv::Mat want = test::fake_render(sha.substr(0, 10), "anime girl", seed, 32, 32);
    CHECK(cv::norm(got, want, cv::NORM_INF) == 0);  // the very pixels the server made for that seed
    auto chunks = util::png_text_chunks(png, "stored");
    CHECK(chunks.count("prompt") == 1);  // ComfyUI's own chunk is kept
    auto text = backends::Infotext::parse(chunks.at("parameters"));
    REQUIRE(text);
    CHECK(text->seed() == seed);
    CHECK(text->prompt == "anime girl");
    REQUIRE(text->get("Sampler"));
    CHECK(*text->get("Sampler") == "Euler a");
    REQUIRE(text->get("Steps"));
    CHECK(*text->get("Steps") == "30");
    REQUIRE(text->get("Size"));
    CHECK(*text->get("Size") == "32x32");
    REQUIRE(text->get("Model"));
    CHECK((*text->get("Model") == "a.safetensors" || *text->get("Model") == "b.safetensors"));
    CHECK(text->get("CFG scale"));
  }
  // provenance
  auto cache = cache::Cache::open(r.dir / "cache");
  for (const auto& s : ran.plan.steps) {
    if (s.kind != plan::StepKind::generate) continue;
    json meta = json::parse(cache->record(s.key)->meta);
    CHECK(meta["backend"] == "comfyui");
    CHECK(meta["endpoint"] == srv.url());
    CHECK(meta["answer"]["seed"].get<int64_t>() == std::stoll(s.param("seed")));
    CHECK(meta["checkpoint"]["verified"].get<std::string>().find("by name only") != std::string::npos);
    CHECK(meta["sampler"]["sampler_name"] == "euler_ancestral");
  }
  // a second run asks the server nothing
  int before = srv.requests("/prompt");
  Ran again = run(r);
  CHECK(again.sum.executed == 0);
  CHECK(srv.requests("/prompt") == before);
  CHECK(srv.prompts().size() == 8);
}

TEST_CASE("comfyui: 5xx and dropped connections are retried", "[comfyui]") {
  Review r;
  test::FakeComfyUI srv({{"a.safetensors", k_sha_a}, {"b.safetensors", k_sha_b}});
  srv.faults().fail_next(2, 500);
  srv.faults().drop_next(1);
  write_review(r, {srv.url()});
  Ran ran = run(r);
  CHECK(ran.sum.failed == 0);
  CHECK(images(r, ran.plan).size() == 8);
  CHECK(srv.prompts().size() == 8 + 3);
}

TEST_CASE("comfyui: an unknown checkpoint fails exactly its steps, others are kept", "[comfyui]") {
  Review r;
  test::FakeComfyUI srv({{"a.safetensors", k_sha_a}});
  write_review(r, {srv.url()});
  Ran ran = run(r);
  CHECK(ran.sum.failed == 4);  // b's four images
  for (const auto& f : ran.sum.failures)
    CHECK(f.error.find("checkpoint 'b.safetensors' is not on the server") != std::string::npos);
  auto imgs = images(r, ran.plan);
  CHECK(imgs.size() == 4);
  for (const auto& [k, png] : imgs) CHECK(k.first == "sha256:" + k_sha_a);
  CHECK(srv.prompts().size() == 4);  // nothing submitted for b
}

TEST_CASE("comfyui: a validation error fails the step with ComfyUI's message, not retried", "[comfyui]") {
  Review r;
  test::FakeComfyUI srv({{"a.safetensors", k_sha_a}, {"b.safetensors", k_sha_b}});
  write_review(r, {srv.url()});
  // a template whose scheduler is not one ComfyUI knows
  std::string w = test::read_text(r.dir / "workflow.json");
  w.replace(w.find("\"{{scheduler}}\""), 15, "\"bogus\"");
  test::write_text(r.dir / "workflow.json", w);
  Ran ran = run(r);
  CHECK(ran.sum.failed == 8);
  for (const auto& f : ran.sum.failures) {
    CHECK(f.error.find("rejected the workflow") != std::string::npos);
    CHECK(f.error.find("scheduler") != std::string::npos);
  }
  CHECK(srv.prompts().size() == 8);  // once each
}

TEST_CASE("comfyui: unknown sampler and bad templates fail the steps with a clear message", "[comfyui]") {
  Review r;
  test::FakeComfyUI srv({{"a.safetensors", k_sha_a}, {"b.safetensors", k_sha_b}});
  write_review(r, {srv.url()}, "Made Up");
  Ran ran = run(r);
  CHECK(ran.sum.failed == 8);
  for (const auto& f : ran.sum.failures) CHECK(f.error.find("sampler 'Made Up'") != std::string::npos);
  CHECK(srv.prompts().empty());

  plan::Step s;
  s.kind = plan::StepKind::generate;
  s.params = {{"checkpoint", "x"}, {"prompt", "p {{seed}}"}, {"negative_prompt", "n"}, {"seed", "5"},
              {"sampler", "DDIM"}, {"steps", "20"}, {"cfg_scale", "6.5"}, {"width", "64"}, {"height", "64"}};
  s.context = {{"checkpoint.server_name", "m.safetensors"}};
  json t = {{"1", {{"class_type", "X"},
                   {"inputs", {{"c", "{{checkpoint}}"}, {"t", "{{prompt}}, extra"}, {"s", "{{seed}}"},
                               {"cfg", "{{cfg}}"}, {"label", "seed={{seed}}"}, {"sch", "{{scheduler}}"}}}}}};
  json g = backends::fill_comfyui_workflow(t, s);
  CHECK(g["1"]["inputs"]["t"] == "p {{seed}}, extra");  // one pass: the prompt's text stays text
  CHECK(g["1"]["inputs"]["s"] == 5);
  CHECK(g["1"]["inputs"]["cfg"] == 6.5);
  CHECK(g["1"]["inputs"]["label"] == "seed=5");
  CHECK(g["1"]["inputs"]["sch"] == "ddim_uniform");
  CHECK_THROWS_WITH(backends::fill_comfyui_workflow(json{{"1", {{"inputs", {{"a", "{{nope}}"}}}}}}, s),
                    Catch::Contains("unknown placeholder {{nope}}"));
  CHECK_THROWS_WITH(backends::fill_comfyui_workflow(json{{"1", {{"inputs", {{"a", "{{prompt}}"}}}}}}, s),
                    Catch::Contains("no {{checkpoint}} placeholder"));
}

namespace {

int run_ghx(const test::TempDir& t, const std::string& args, std::string* err) {
  std::string cmd = "cd " + t.path() + " && " + GHX_BINARY + " " + args + " >out.txt 2>err.txt";
  int st = std::system(cmd.c_str());
  *err = test::read_text(t / "err.txt");
  return WEXITSTATUS(st);
}

void to_comfyui(const test::TempDir& t, const std::string& endpoint) {
  test::write_text(t / "workflow.json",
                   test::read_text(std::string(GHX_SOURCE_DIR) + "/experiments/workflows/comfyui_txt2img.json"));
  std::string exp = test::read_text(t / "experiment.toml");
  exp.replace(exp.find("backend = \"synthetic\""), 21,
              "backend = \"comfyui\"\nworkflow = \"workflow.json\"\nendpoints = [\"" + endpoint + "\"]");
  test::write_text(t / "experiment.toml", exp);
}

}  // namespace

TEST_CASE("comfyui through the binary: endpoints probed with /system_stats before any work", "[comfyui][cli]") {
  test::TempDir t;
  test::write_small_review(t.path());
  std::vector<test::FakeCheckpoint> cps = {{"alpha.safetensors", std::string(64, 'a')},
                                           {"beta.safetensors", std::string(64, 'b')}};
  std::string dead_url;
  {
    test::FakeComfyUI srv(cps);
    dead_url = srv.url();
  }
  to_comfyui(t, dead_url);
  std::string err;
  CHECK(run_ghx(t, "run experiment.toml --connect-timeout 2", &err) == 2);
  CHECK(err.find("no generation endpoint answers") != std::string::npos);

  test::FakeComfyUI srv(cps);
  test::TempDir t2;
  test::write_small_review(t2.path());
  to_comfyui(t2, srv.url());
  int code = run_ghx(t2, "run experiment.toml", &err);
  INFO(err);
  CHECK(code == 0);
  CHECK(srv.requests("/system_stats") == 1);
  CHECK(srv.prompts().size() == 2 * 3 * 2);  // 2 checkpoints x 3 prompts x 2 images, one request each
}

TEST_CASE("comfyui: LoRA tags become LoraLoader nodes chained after the checkpoint loader", "[comfyui][lora]") {
  std::string stripped;
  auto loras = backends::comfyui_loras("ink boat, <lora:Moxin_10:0.6>, (<LORA : wash : 0.5 : 0.25>:1.2) <lora:plain>", &stripped);
  REQUIRE(loras.size() == 3);
  CHECK(stripped == "ink boat, , (:1.2) ");  // the text around the tags is left as written (as A1111 does)
  CHECK(loras[0].tag == "Moxin_10");
  CHECK(loras[0].strength_model == 0.6);
  CHECK(loras[0].strength_clip == 0.6);
  CHECK(loras[1].tag == "wash");
  CHECK(loras[1].strength_clip == 0.5);  // <lora:NAME:TE:UNET>
  CHECK(loras[1].strength_model == 0.25);
  CHECK(loras[2].strength_model == 1);
  CHECK(loras[2].strength_clip == 1);
  CHECK(backends::comfyui_loras("no tags (x:1.1)", &stripped).empty());
  CHECK(stripped == "no tags (x:1.1)");
  CHECK_THROWS_WITH(backends::comfyui_loras("a <lora:x:te=0.5>"), Catch::Contains("'<lora:x:te=0.5>'"));
  CHECK_THROWS_WITH(backends::comfyui_loras("a <lora:x:1:1:8>"), Catch::Contains("<lora:NAME:TE:UNET>"));

  // names by file stem, exact case first, then ignoring case; sub-folders are fine
  const std::vector<std::string> files = {"styles/Moxin_10.safetensors", "moxin_10.pt", "detail.safetensors", "DETAIL.ckpt",
                                          "ink.safetensors"};
  CHECK(backends::comfyui_lora_name("Moxin_10", files) == "styles/Moxin_10.safetensors");
  CHECK(backends::comfyui_lora_name("moxin_10", files) == "moxin_10.pt");
  CHECK(backends::comfyui_lora_name("INK", files) == "ink.safetensors");
  CHECK_THROWS_WITH(backends::comfyui_lora_name("Detail", files), Catch::Contains("ambiguous") && Catch::Contains("DETAIL.ckpt"));
  CHECK_THROWS_WITH(backends::comfyui_lora_name("gone", files),
                    Catch::Contains("LoRA 'gone' is not on the server") && Catch::Contains("ink.safetensors"));

  plan::Step s;
  s.kind = plan::StepKind::generate;
  s.params = {{"checkpoint", "x"}, {"prompt", "boat <lora:Moxin_10:0.6> <lora:ink:0.5:0.25>"}, {"negative_prompt", "n"},
              {"seed", "5"}, {"sampler", "Euler"}, {"steps", "20"}, {"cfg_scale", "7"}, {"width", "64"}, {"height", "64"}};
  s.context = {{"checkpoint.server_name", "m.safetensors"}};
  const json t = json::parse(test::read_text(std::string(GHX_SOURCE_DIR) + "/experiments/workflows/comfyui_txt2img.json"));
  json g = backends::fill_comfyui_workflow(t, s, &files);
  REQUIRE(g.size() == t.size() + 2);
  // ids after the template's highest one, chained in prompt order: 4 -> 10 -> 11
  REQUIRE(g.contains("10"));
  REQUIRE(g.contains("11"));
  CHECK(g["10"]["class_type"] == "LoraLoader");
  CHECK(g["10"]["inputs"]["lora_name"] == "styles/Moxin_10.safetensors");
  CHECK(g["10"]["inputs"]["model"] == json::array({"4", 0}));
  CHECK(g["10"]["inputs"]["clip"] == json::array({"4", 1}));
  CHECK(g["10"]["inputs"]["strength_model"] == 0.6);
  CHECK(g["11"]["inputs"]["lora_name"] == "ink.safetensors");
  CHECK(g["11"]["inputs"]["model"] == json::array({"10", 0}));
  CHECK(g["11"]["inputs"]["clip"] == json::array({"10", 1}));
  CHECK(g["11"]["inputs"]["strength_clip"] == 0.5);
  CHECK(g["11"]["inputs"]["strength_model"] == 0.25);
  // every MODEL / CLIP reader now reads the chain's end; the VAE still comes from the checkpoint
  CHECK(g["3"]["inputs"]["model"] == json::array({"11", 0}));
  CHECK(g["6"]["inputs"]["clip"] == json::array({"11", 1}));
  CHECK(g["7"]["inputs"]["clip"] == json::array({"11", 1}));
  CHECK(g["8"]["inputs"]["vae"] == json::array({"4", 2}));
  CHECK(g["6"]["inputs"]["text"] == "boat  ");  // the tags are cut out of {{prompt}}
  // without a server list: <tag>.safetensors
  CHECK(backends::fill_comfyui_workflow(t, s)["10"]["inputs"]["lora_name"] == "Moxin_10.safetensors");
  // no tags: the template exactly as before
  s.params.set(1, "boat");
  json plain = backends::fill_comfyui_workflow(t, s, &files);
  CHECK(plain.size() == t.size());
  CHECK(plain["3"]["inputs"]["model"] == json::array({"4", 0}));
  // a template whose checkpoint loader cannot be found (or is not one) cannot take LoRAs
  s.params.set(1, "boat <lora:ink>");
  json two = t;
  two["40"] = t["4"];
  CHECK_THROWS_WITH(backends::fill_comfyui_workflow(two, s, &files), Catch::Contains("exactly one CheckpointLoaderSimple") &&
                                                                      Catch::Contains("found 2"));
}

TEST_CASE("comfyui: a LoRA section runs with LoraLoader nodes, a LoRA the server lacks fails only its steps",
          "[comfyui][lora]") {
  Review r;
  test::FakeComfyUI srv({{"a.safetensors", k_sha_a}, {"b.safetensors", k_sha_b}},
                        {{"detail", "aaaabbbbccccddddeeeeffff00001111aaaabbbbccccddddeeeeffff00001111"}});
  write_review(r, {srv.url()});
  test::write_text(r.dir / "loras.toml", R"([suite]
name = "loras"
[[lora]]
id = "detail"
[[lora.showcase]]
image = "targets/anime/1.png"
prompt = "city at night <lora:detail:0.6>, rain"
[[lora]]
id = "ghost"
[[lora.showcase]]
image = "targets/anime/2.png"
prompt = "forest <lora:ghost:0.7>"
)");
  test::write_text(r.exp, test::read_text(r.exp) + "\n[[section]]\nid = \"lora\"\nloras = \"loras.toml\"\nmetrics = [\"style_loss\"]\n");
  Ran ran = run(r);
  // 2 checkpoints x 4 images of the ghost prompt fail; the style section and the detail prompt run
  CHECK(ran.sum.failed == 8);
  for (const auto& f : ran.sum.failures)
    CHECK_THAT(f.error, Catch::Contains("LoRA 'ghost' is not on the server (LoraLoader lists: detail.safetensors)"));
  size_t with_lora = 0;
  for (const auto& q : srv.prompts()) {
    const json& g = q["prompt"];
    if (node(g, "CLIPTextEncode")["inputs"]["text"] == "city at night , rain") {
      ++with_lora;
      const json& l = node(g, "LoraLoader")["inputs"];
      CHECK(l["lora_name"] == "detail.safetensors");
      CHECK(l["strength_model"] == 0.6);
    }
    CHECK(g.dump().find("ghost") == std::string::npos);  // nothing was submitted for it
  }
  CHECK(with_lora == 8);
  CHECK(srv.requests("/object_info/LoraLoader") == 1);  // the list is cached per endpoint
  auto cache = cache::Cache::open(r.dir / "cache");
  size_t stored = 0;
  for (const auto& s : ran.plan.steps) {
    if (s.kind != plan::StepKind::generate || s.param("prompt").find("<lora:detail") == std::string::npos) continue;
    CHECK(s.param("lora.apply") == "comfyui LoraLoader chain v1");
    auto png = cache->get(s.key);
    REQUIRE(png);
    ++stored;
    // the pixels the server made WITH the LoRA (the fake draws applied LoRAs into its image)
    cv::Mat want = test::fake_render(s.param("checkpoint").substr(7, 10), "city at night , rain <lora:detail:0.6>",
                                     std::stoll(s.param("seed")), 32, 32);
    CHECK(cv::norm(util::decode_image(*png, "stored"), want, cv::NORM_INF) == 0);
    json meta = json::parse(cache->record(s.key)->meta);
    REQUIRE(meta["loras"].size() == 1);
    CHECK(meta["loras"][0]["lora_name"] == "detail.safetensors");
    CHECK(meta["loras"][0]["verified"].get<std::string>().find("by name only") != std::string::npos);
  }
  CHECK(stored == 8);
}
