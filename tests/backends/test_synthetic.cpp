// Mirrors src/backends/synthetic.cpp (and backends.cpp's registry): the TEST backend draws the
// same picture for the same step, another for another seed, prompt or checkpoint, at the size
// asked, with A1111-style infotext; through the executor as the runner drives it.
#include <catch2/catch.hpp>

#include <opencv2/core.hpp>

#include "backends/backends.h"
#include "backends/infotext.h"
#include "util/png.h"
#include "util/png_text.h"

using namespace ghx;

namespace {

plan::Step step(const std::string& checkpoint, const std::string& prompt, const std::string& seed, int w = 96,
                int h = 64) {
  plan::Step s;
  s.kind = plan::StepKind::generate;
  s.params = {{"checkpoint", checkpoint}, {"prompt", prompt}, {"negative_prompt", "lowres"}, {"seed", seed},
              {"backend", "synthetic"}, {"sampler", "Euler a"}, {"steps", "20"}, {"cfg_scale", "7"},
              {"width", std::to_string(w)}, {"height", std::to_string(h)}};
  return s;
}

}  // namespace

TEST_CASE("synthetic: deterministic per step, different per seed, prompt and checkpoint", "[backends][synthetic]") {
  const plan::Step a = step("backend_name:a.safetensors", "a cat", "1");
  const std::string png = backends::synthetic_png(a);
  CHECK(png == backends::synthetic_png(a));  // byte for byte: the cache and reports rely on it
  CHECK(png != backends::synthetic_png(step("backend_name:a.safetensors", "a cat", "2")));
  CHECK(png != backends::synthetic_png(step("backend_name:a.safetensors", "a dog", "1")));
  CHECK(png != backends::synthetic_png(step("backend_name:b.safetensors", "a cat", "1")));
  const cv::Mat img = util::decode_image(png, "synthetic");
  CHECK(img.cols == 96);
  CHECK(img.rows == 64);
  const cv::Mat small = util::decode_image(backends::synthetic_png(step("x", "p", "1", 17, 9)), "small");
  CHECK(small.cols == 17);
  CHECK(small.rows == 9);
}

TEST_CASE("synthetic: infotext as a server writes it, the checkpoint as its model", "[backends][synthetic]") {
  const std::string png = backends::synthetic_png(step("backend_name:a.safetensors", "a cat, <lora:x:0.8>", "42"));
  const auto chunks = util::png_text_chunks(png, "synthetic");
  REQUIRE(chunks.count("parameters"));
  const auto info = backends::Infotext::parse(chunks.at("parameters"));
  REQUIRE(info);
  CHECK(info->prompt == "a cat, <lora:x:0.8>");
  CHECK(info->negative_prompt == "lowres");
  CHECK(info->seed() == 42);
  REQUIRE(info->get("Model"));
  CHECK(*info->get("Model") == "backend_name:a.safetensors");
  REQUIRE(info->get("Size"));
  CHECK(*info->get("Size") == "96x64");
}

TEST_CASE("the registry: every backend a review may name has its executor", "[backends][synthetic]") {
  const exec::Generators g = backends::make_generators();
  for (const char* name : {"synthetic", "import", "a1111", "comfyui"}) {
    INFO(name);
    REQUIRE(g.count(name));
    REQUIRE(g.at(name) != nullptr);
  }
  exec::Executor& synth = *g.at("synthetic");
  CHECK(synth.device() == "synthetic");
  const plan::Step ok = step("c", "p", "3");
  plan::Step bad = step("c", "p", "3");
  bad.params.set(9, "not a number");  // height
  std::vector<exec::Job> jobs(2);
  jobs[0].step = &ok;
  jobs[1].step = &bad;
  std::vector<exec::Outcome> out;
  synth.run(jobs, out);  // never throws: the bad step fails alone
  REQUIRE(out.size() == 2);
  CHECK(out[0].ok);
  CHECK(out[0].bytes == backends::synthetic_png(ok));
  CHECK_FALSE(out[1].ok);
  CHECK_FALSE(out[1].error.empty());
  std::vector<std::string> errors;
  CHECK_THROWS(backends::probe("synthetic", {}, 1.0, &errors));  // no server to probe
}
