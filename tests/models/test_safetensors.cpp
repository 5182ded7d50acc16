// Mirrors src/models/safetensors.cpp: round trips, byte-exact writer, hand-made F16/BF16 files,
// and every validation error (each must name the file, and the key where there is one).
#include <catch2/catch.hpp>

#include "support.h"

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <system_error>

#include "models/safetensors.h"
#include "util/error.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ghx::Error;
using ghx::models::Dtype;
using ghx::models::FloatTensor;
using ghx::models::RawTensor;
using ghx::models::SafetensorsFile;

namespace {

using ghx::test::Scratch;
using ghx::test::slurp;
using ghx::test::spit;

std::string u64le(std::uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

// A safetensors file built by hand: length, header as given (no padding), data.
std::string craft(const std::string& header, const std::string& data) {
  return u64le(header.size()) + header + data;
}

std::string u16le(std::uint16_t v) {
  return std::string{static_cast<char>(v & 0xff), static_cast<char>(v >> 8)};
}

// Writes `bytes` as DIR/name and expects opening it to fail with a message naming the file and
// containing `what`.
void expect_open_error(const std::string& dir, const std::string& name, const std::string& bytes,
                       const std::string& what) {
  const std::string path = dir + "/" + name;
  spit(path, bytes);
  INFO("file " << name << ", expecting '" << what << "'");
  REQUIRE_THROWS_MATCHES(SafetensorsFile::open(path), Error,
                         Catch::Matchers::Predicate<Error>(
                             [&](const Error& e) {
                               const std::string m = e.what();
                               return m.find(path) != std::string::npos &&
                                      m.find(what) != std::string::npos;
                             },
                             "message names " + path + " and '" + what + "'"));
}

}  // namespace

TEST_CASE("safetensors: F32 round trip keeps names, shapes, values and metadata",
          "[models][safetensors]") {
  const Scratch scratch("roundtrip");
  const std::string& dir = scratch.path;
  const std::string path = dir + "/w.safetensors";
  std::map<std::string, FloatTensor> t;
  t["b.weight"] = {{2, 3}, {1.f, -2.f, 3.5f, 0.f, -0.f, 1e-30f}};
  t["a.bias"] = {{4}, {std::numeric_limits<float>::infinity(), 7.f, 8.f, 9.f}};
  t["scalar"] = {{}, {42.f}};
  t["empty"] = {{0, 5}, {}};
  ghx::models::write_safetensors(path, t, {{"format", "pt"}, {"who", "test"}});

  const SafetensorsFile f = SafetensorsFile::open(path);
  REQUIRE(f.names() == std::vector<std::string>{"a.bias", "b.weight", "empty", "scalar"});
  REQUIRE(f.metadata() == std::map<std::string, std::string>{{"format", "pt"}, {"who", "test"}});
  for (const auto& [name, tensor] : t) {
    INFO(name);
    REQUIRE(f.info(name).dtype == Dtype::f32);
    REQUIRE(f.info(name).shape == tensor.shape);
    const std::vector<float> back = f.to_float(name);
    REQUIRE(back.size() == tensor.data.size());
    REQUIRE((back.empty() || std::memcmp(back.data(), tensor.data.data(), back.size() * 4) == 0));
  }
  REQUIRE(std::signbit(f.to_float("b.weight")[4]));  // -0 survives bit-exactly
}

TEST_CASE("safetensors: the writer's bytes are deterministic and laid out as specified",
          "[models][safetensors]") {
  const Scratch scratch("layout");
  const std::string& dir = scratch.path;
  std::map<std::string, FloatTensor> t;
  t["z"] = {{1}, {1.f}};
  t["a"] = {{2}, {2.f, 3.f}};
  ghx::models::write_safetensors(dir + "/1.safetensors", t);
  ghx::models::write_safetensors(dir + "/2.safetensors", t);
  const std::string bytes = slurp(dir + "/1.safetensors");
  REQUIRE(bytes == slurp(dir + "/2.safetensors"));

  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  REQUIRE(n % 8 == 0);
  REQUIRE(bytes.size() == 8 + n + 12);
  const std::string header = bytes.substr(8, n);
  REQUIRE(header.rfind(
              R"({"a":{"data_offsets":[0,8],"dtype":"F32","shape":[2]},)"
              R"("z":{"data_offsets":[8,12],"dtype":"F32","shape":[1]}})",
              0) == 0);
  REQUIRE(header.find_first_not_of(' ', header.find_last_of('}') + 1) == std::string::npos);
  float data[3];
  std::memcpy(data, bytes.data() + 8 + n, 12);
  REQUIRE(data[0] == 2.f);
  REQUIRE(data[1] == 3.f);
  REQUIRE(data[2] == 1.f);

  // Atomic writes leave no temp file behind, and overwrite in place.
  ghx::models::write_safetensors(dir + "/1.safetensors", {{"x", {{1}, {5.f}}}});
  REQUIRE(SafetensorsFile::open(dir + "/1.safetensors").names() == std::vector<std::string>{"x"});
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    INFO(e.path());
    REQUIRE(e.path().string().find(".tmp") == std::string::npos);
    ++files;
  }
  REQUIRE(files == 2);
}

TEST_CASE("safetensors: the writer refuses bad input and unwritable places",
          "[models][safetensors]") {
  const Scratch scratch("writer_errors");
  const std::string& dir = scratch.path;
  // A folder that cannot exist: its parent is a regular file.
  { std::ofstream(dir + "/plain_file") << "x"; }
  const std::string unwritable = dir + "/plain_file/w.safetensors";
  REQUIRE_THROWS_WITH(ghx::models::write_safetensors(unwritable, {{"x", {{1}, {1.f}}}}),
                      Contains(unwritable));
  const std::string path = dir + "/w.safetensors";
  REQUIRE_THROWS_WITH(ghx::models::write_safetensors(path, {{"x", {{2, 2}, {1.f, 2.f}}}}),
                      Contains(path) && Contains("'x'"));
  REQUIRE_THROWS_WITH(
      ghx::models::write_safetensors(path, {{"h", RawTensor{Dtype::f16, {3}, "abcd"}}}),
      Contains(path) && Contains("'h'"));
  REQUIRE_FALSE(fs::exists(path));
}

TEST_CASE("safetensors: hand-made F16 and BF16 files convert exactly", "[models][safetensors]") {
  const Scratch scratch("half");
  const std::string& dir = scratch.path;
  // F16: 1, -2, 0.5, 65504 (max), 2^-24 (smallest subnormal), 3 * 2^-24, +inf, -0.
  const std::uint16_t halfs[] = {0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x0003, 0x7C00, 0x8000};
  const float half_want[] = {1.f, -2.f, 0.5f, 65504.f, std::ldexp(1.f, -24), std::ldexp(3.f, -24),
                             std::numeric_limits<float>::infinity(), -0.f};
  // BF16: 1, -2.5, 3.140625, 1e38-ish (0x7E96 = 2^126 * 1.171875), smallest normal 2^-126.
  const std::uint16_t bfs[] = {0x3F80, 0xC020, 0x4049, 0x7E96, 0x0080};
  const float bf_want[] = {1.f, -2.5f, 3.140625f, std::ldexp(1.171875f, 126), std::ldexp(1.f, -126)};
  std::string data;
  for (auto h : halfs) data += u16le(h);
  for (auto b : bfs) data += u16le(b);
  // Two tensors, offsets given by hand, header not padded (readers must not require padding),
  // an odd data start (8 + 181) so the BF16 data is not 2-byte aligned either.
  std::string header =
      R"({"h":{"dtype":"F16","shape":[2,4],"data_offsets":[0,16]},)"
      R"("b":{"dtype":"BF16","shape":[5],"data_offsets":[16,26]},)"
      R"("__metadata__":{"note":"hand made"}})";
  header.append(181 - header.size(), ' ');
  const std::string path = dir + "/h.safetensors";
  spit(path, craft(header, data));

  const SafetensorsFile f = SafetensorsFile::open(path);
  REQUIRE(f.info("h").dtype == Dtype::f16);
  REQUIRE(f.info("h").shape == std::vector<std::int64_t>{2, 4});
  REQUIRE(f.info("b").dtype == Dtype::bf16);
  REQUIRE(f.metadata().at("note") == "hand made");
  const auto h = f.to_float("h");
  for (int i = 0; i < 8; ++i) {
    INFO("half " << i);
    REQUIRE(std::memcmp(&h[i], &half_want[i], 4) == 0);
  }
  const auto b = f.to_float("b");
  for (int i = 0; i < 5; ++i) {
    INFO("bf16 " << i);
    REQUIRE(b[i] == bf_want[i]);
  }
  REQUIRE(std::isnan(ghx::models::half_to_float(0x7E00)));
  REQUIRE(std::isnan(ghx::models::bfloat16_to_float(0x7FC0)));
}

TEST_CASE("safetensors: the F16/BF16 writer path round-trips raw bytes", "[models][safetensors]") {
  const Scratch scratch("raw");
  const std::string& dir = scratch.path;
  const std::string path = dir + "/r.safetensors";
  ghx::models::write_safetensors(path, {{"h", RawTensor{Dtype::f16, {2}, u16le(0x3C00) + u16le(0xC000)}},
                                        {"i", RawTensor{Dtype::i32, {1}, std::string(4, '\1')}}});
  const SafetensorsFile f = SafetensorsFile::open(path);
  REQUIRE(f.to_float("h") == std::vector<float>{1.f, -2.f});
  REQUIRE(f.info("i").dtype == Dtype::i32);
  // Non-float tensors open fine but do not convert.
  REQUIRE_THROWS_WITH(f.to_float("i"), Contains(path) && Contains("'i'") && Contains("I32"));
}

TEST_CASE("safetensors: every malformed file is a ghx::Error naming the file (and the key)",
          "[models][safetensors]") {
  const Scratch scratch("errors");
  const std::string& dir = scratch.path;
  const std::string f4(4, '\0');  // one F32 zero

  SECTION("missing file") {
    REQUIRE_THROWS_WITH(SafetensorsFile::open(dir + "/absent.safetensors"),
                        Contains(dir + "/absent.safetensors") && Contains("cannot open"));
  }
  SECTION("a folder is not a file") {
    REQUIRE_THROWS_WITH(SafetensorsFile::open(dir), Contains(dir) && Contains("not a regular file"));
  }
  SECTION("shorter than the length field") {
    expect_open_error(dir, "empty", "", "truncated");
    expect_open_error(dir, "five", "abcde", "truncated");
  }
  SECTION("header length beyond the file") {
    expect_open_error(dir, "long", u64le(1000) + "{}", "larger than the file");
    expect_open_error(dir, "huge", u64le(~0ull) + "{}", "larger than the file");
  }
  SECTION("garbage") {
    expect_open_error(dir, "text", "this is not a model, just some text", "larger than the file");
    expect_open_error(dir, "badjson", craft("{\"a\": [1, 2", ""), "not valid JSON");
    expect_open_error(dir, "notobj", craft("[1,2,3]", ""), "not a JSON object");
    expect_open_error(dir, "entry", craft(R"({"w": 3})", ""), "'w'");
  }
  SECTION("unknown dtype") {
    expect_open_error(dir, "dtype", craft(R"({"w":{"dtype":"F8_E9","shape":[1],"data_offsets":[0,4]}})", f4),
                      "tensor 'w': unknown dtype 'F8_E9'");
    expect_open_error(dir, "nodtype", craft(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", f4),
                      "tensor 'w': missing dtype");
  }
  SECTION("bad shapes") {
    expect_open_error(dir, "negshape", craft(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", f4),
                      "tensor 'w': shape");
    expect_open_error(dir, "noshape", craft(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", f4),
                      "tensor 'w': missing shape");
    expect_open_error(dir, "bigshape",
                      craft(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", f4),
                      "tensor 'w': shape is too large");
  }
  SECTION("offsets") {
    expect_open_error(dir, "range", craft(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", f4),
                      "tensor 'w': data_offsets [0, 8] beyond the data section");
    expect_open_error(dir, "reversed", craft(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", f4),
                      "tensor 'w': data_offsets [4, 0] reversed");
    expect_open_error(dir, "mismatch", craft(R"({"w":{"dtype":"F16","shape":[1],"data_offsets":[0,4]}})", f4),
                      "tensor 'w': data_offsets span 4 bytes, dtype and shape need 2");
    expect_open_error(dir, "nooffsets", craft(R"({"w":{"dtype":"F32","shape":[1]}})", f4),
                      "tensor 'w': missing data_offsets");
    expect_open_error(dir, "overlap",
                      craft(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                            f4 + f4),
                      "tensor 'b' overlaps tensor 'a'");
  }
  SECTION("metadata") {
    expect_open_error(dir, "meta", craft(R"({"__metadata__":{"n":1}})", ""), "__metadata__ value of 'n'");
    expect_open_error(dir, "meta2", craft(R"({"__metadata__":[]})", ""), "__metadata__ is not an object");
  }
  SECTION("a real file cut short") {
    const std::string path = dir + "/cut.safetensors";
    ghx::models::write_safetensors(path, {{"a", {{4}, {1.f, 2.f, 3.f, 4.f}}}, {"b", {{2}, {5.f, 6.f}}}});
    std::string bytes = slurp(path);
    expect_open_error(dir, "cut_data", bytes.substr(0, bytes.size() - 3), "tensor 'b': data_offsets [16, 24] beyond");
    expect_open_error(dir, "cut_header", bytes.substr(0, 20), "larger than the file");
  }
  SECTION("a missing key") {
    const std::string path = dir + "/ok.safetensors";
    ghx::models::write_safetensors(path, {{"a", {{1}, {1.f}}}});
    const SafetensorsFile f = SafetensorsFile::open(path);
    REQUIRE_FALSE(f.contains("nope"));
    REQUIRE_THROWS_WITH(f.info("nope"), Contains(path) && Contains("missing tensor 'nope'"));
    REQUIRE_THROWS_WITH(f.to_float("nope"), Contains(path) && Contains("missing tensor 'nope'"));
  }
}

TEST_CASE("safetensors: the mapping outlives the file object while someone holds it",
          "[models][safetensors]") {
  const Scratch scratch("mapping");
  const std::string& dir = scratch.path;
  const std::string path = dir + "/m.safetensors";
  ghx::models::write_safetensors(path, {{"a", {{2}, {1.5f, -4.f}}}});
  std::shared_ptr<const ghx::models::Mapping> keep;
  const unsigned char* p = nullptr;
  {
    const SafetensorsFile f = SafetensorsFile::open(path);
    keep = f.mapping();
    p = f.data("a");
  }
  fs::remove(path);  // unlinking does not invalidate the mapping either
  float v[2];
  std::memcpy(v, p, 8);
  REQUIRE(v[0] == 1.5f);
  REQUIRE(v[1] == -4.f);
  REQUIRE(keep->size() > 8);
}
