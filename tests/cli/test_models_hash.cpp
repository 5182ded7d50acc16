// `ghx models hash`: through cli::cmd_models_hash with std::cout / std::cerr captured. One aligned
// line (or one JSON object) per file; a missing file is an error line on stderr, the others are
// still printed, and the exit code is 1.
#include <catch2/catch.hpp>

#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/models_hash.h"
// ghx_tests links ghx_core, not the objects of the ghx executable, where models_hash.cpp is
// built; compile it into this test. (Drop this line if the file moves into a library.)
#include "cli/models_hash.h"
#include "support.h"
#include "util/hash.h"

using namespace ghx;
using nlohmann::json;

namespace {

struct Captured {
  int code = 0;
  std::string out, err;
};

Captured capture(const std::vector<std::string>& files, bool as_json) {
  std::ostringstream out, err;
  auto* old_out = std::cout.rdbuf(out.rdbuf());
  auto* old_err = std::cerr.rdbuf(err.rdbuf());
  Captured c;
  try {
    c.code = cli::cmd_models_hash(files, as_json);
  } catch (...) {
    std::cout.rdbuf(old_out);
    std::cerr.rdbuf(old_err);
    throw;
  }
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  c.out = out.str();
  c.err = err.str();
  return c;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::string le64(uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}

struct Files {
  test::TempDir t;
  std::string lora_data = "0123456789abcdef-lora-data";
  std::string lora_bytes = le64(16) + R"({"__metadata__"})" + lora_data;
  std::string lora = t / "my_lora.safetensors";
  std::string ckpt = t / "model.ckpt";
  std::string missing = t / "missing.safetensors";
  Files() {
    test::write_text(lora, lora_bytes);
    test::write_text(ckpt, "checkpoint bytes");
  }
};

}  // namespace

TEST_CASE("models hash: one aligned line per file", "[cli][models_hash]") {
  Files f;
  auto c = capture({f.lora, f.ckpt}, false);
  CHECK(c.code == 0);
  CHECK(c.err.empty());
  auto lines = lines_of(c.out);
  REQUIRE(lines.size() == 2);
  std::string sha_lora = util::sha256_hex(f.lora_bytes), sha_ckpt = util::sha256_hex("checkpoint bytes");
  CHECK(lines[0] == f.lora + "  sha256 " + sha_lora + "  AutoV2 " + sha_lora.substr(0, 10) + "  LoRA " +
                        util::sha256_hex(f.lora_data).substr(0, 12));
  CHECK(lines[1] == f.ckpt + std::string(f.lora.size() - f.ckpt.size(), ' ') + "  sha256 " + sha_ckpt + "  AutoV2 " +
                        sha_ckpt.substr(0, 10) + "  LoRA -");
  CHECK(lines[0].find("  sha256 ") == lines[1].find("  sha256 "));
}

TEST_CASE("models hash: a missing file is an error on stderr, the others still printed, exit 1", "[cli][models_hash]") {
  Files f;
  auto c = capture({f.missing, f.ckpt}, false);
  CHECK(c.code == 1);
  CHECK(c.err.find("ghx: error: ") == 0);
  CHECK(c.err.find(f.missing) != std::string::npos);
  REQUIRE(lines_of(c.out).size() == 1);
  CHECK(c.out.find(f.ckpt) == 0);
}

TEST_CASE("models hash --json", "[cli][models_hash]") {
  Files f;
  auto c = capture({f.lora, f.missing, f.ckpt}, true);
  CHECK(c.code == 1);
  CHECK(c.err.find(f.missing) != std::string::npos);
  json j = json::parse(c.out);
  REQUIRE(j["files"].size() == 2);
  const json& a = j["files"][0];
  std::string sha = util::sha256_hex(f.lora_bytes);
  CHECK(a["path"] == f.lora);
  CHECK(a["sha256"] == sha);
  CHECK(a["autov2"] == sha.substr(0, 10));
  CHECK(a["autov1"] == "e3b0c442");
  CHECK(a["lora_hash"] == util::sha256_hex(f.lora_data).substr(0, 12));
  const json& b = j["files"][1];
  CHECK(b["path"] == f.ckpt);
  CHECK(b["lora_hash"].is_null());

  auto ok = capture({f.ckpt}, true);
  CHECK(ok.code == 0);
  CHECK(json::parse(ok.out)["files"].size() == 1);
}
