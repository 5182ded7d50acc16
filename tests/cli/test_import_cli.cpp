// The import backend through the binary: the run says what the folder holds (matched,
// unmatched images listed, steps with no image) and fails only the steps with no image.
#include <catch2/catch.hpp>

#include <cstdio>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "backends/infotext.h"
#include "support.h"
#include "util/hash.h"
#include "util/png.h"
#include "util/png_text.h"

using namespace ghx;
using nlohmann::json;

namespace {

void image(const std::string& path, const std::string& sha, int seed) {
  backends::Infotext t;
  t.prompt = "anime girl";
  t.set("Steps", "30");
  t.set("Sampler", "DPM++ 2M Karras");
  t.set("Seed", std::to_string(seed));
  t.set("Size", "32x32");
  t.set("Model hash", sha.substr(0, 10));
  std::string png = util::encode_png(cv::Mat(32, 32, CV_8UC3, cv::Scalar(seed * 20, 40, 200)));
  test::write_text(path, util::png_set_text(png, "parameters", t.format(), path));
}

}  // namespace

TEST_CASE("run with the import backend reports matched, unmatched and missing", "[cli][import]") {
  test::TempDir t;
  test::write_small_review(t.path());
  test::write_text(t / "a.safetensors", "checkpoint A");
  std::string sha = util::sha256_hex("checkpoint A");
  std::string exp = test::read_text(t / "experiment.toml");
  exp.replace(exp.find("backend = \"synthetic\""), 21, "backend = \"import\"\nimport_dir = \"imports\"");
  exp.replace(exp.find("backend_name = \"alpha.safetensors\""), 34, "file = \"a.safetensors\"");
  exp.erase(exp.find("[[checkpoint]]\nname = \"beta\""), std::string("[[checkpoint]]\nname = \"beta\"\nbackend_name = \"beta.safetensors\"\n").size());
  test::write_text(t / "experiment.toml", exp);
  test::write_text(t / "suite.toml", "[suite]\nname = \"s\"\n[[style]]\nid = \"anime\"\nprompts = [\"anime girl\"]\n"
                                     "targets = \"targets/anime/\"\n");
  std::filesystem::create_directories(t / "imports");
  image(t / "imports/seed7.png", sha, 7);  // seed 8 is missing
  image(t / "imports/seed99.png", sha, 99);  // matches no step

  std::string cmd = "cd " + t.path() + " && " + GHX_BINARY + " run experiment.toml --keep-going --json 2>/dev/null";
  test::CommandResult res = test::run_command(cmd);
  int code = res.code;
  const std::string& out = res.out;
  CHECK(code == 1);
  json j = json::parse(out);
  CHECK(j["failed"] == 1);
  CHECK(j["import"]["matched"] == 1);
  REQUIRE(j["import"]["unmatched"].size() == 1);
  CHECK(j["import"]["unmatched"][0]["path"].get<std::string>().find("seed99.png") != std::string::npos);
  CHECK(j["import"]["missing"].size() == 1);
}
