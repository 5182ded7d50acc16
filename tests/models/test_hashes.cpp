// Model file hashes: SHA-256 of the whole file, AutoV2 (its first 10 hex digits), legacy AutoV1
// (SHA-256 of the 64 KiB at 1 MiB, 8 digits) and the LoRA hash of *.safetensors files (SHA-256
// of what follows the header, 12 digits). Expected values come from util::sha256_hex over the
// same bytes (one pass over the file in the code under test, whole strings here).
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>

#include "models/hashes.h"
#include "support.h"
#include "util/error.h"
#include "util/hash.h"

using namespace ghx;

namespace {

/// Deterministic bytes that differ everywhere (xorshift).
std::string pattern(size_t n, uint64_t seed) {
  std::string s(n, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s[i] = static_cast<char>(x >> 56);
  }
  return s;
}

std::string le64(uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}

/// A safetensors-shaped file: u64 header length, JSON header padded with spaces to `header_len`,
/// then `data`.
std::string safetensors_bytes(size_t header_len, const std::string& data) {
  std::string json = R"({"w":{"dtype":"U8","shape":[)" + std::to_string(data.size()) + R"(],"data_offsets":[0,)" +
                     std::to_string(data.size()) + "]}}";
  REQUIRE(json.size() <= header_len);
  json.resize(header_len, ' ');
  return le64(header_len) + json + data;
}

}  // namespace

TEST_CASE("hashes: a known SHA-256 and its AutoV2 prefix", "[hashes]") {
  test::TempDir t;
  test::write_text(t / "abc.ckpt", "abc");
  auto h = models::hash_model_file(t / "abc.ckpt");
  CHECK(h.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(h.autov2 == "ba7816bf8f");
  // Shorter than 1 MiB: A1111's model_hash() reads nothing there, the SHA-256 of no bytes.
  CHECK(h.autov1 == "e3b0c442");
  CHECK_FALSE(h.lora);

  test::write_text(t / "empty.ckpt", "");
  auto e = models::hash_model_file(t / "empty.ckpt");
  CHECK(e.sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(e.autov1 == "e3b0c442");
}

TEST_CASE("hashes: AutoV1 is the 64 KiB at 1 MiB, or what the file has there", "[hashes]") {
  test::TempDir t;
  for (size_t size : {size_t(0x100000 + 0x10000 + 12345), size_t(0x100000 + 1000), size_t(0x100000)}) {
    std::string bytes = pattern(size, size);
    test::write_text(t / "m.ckpt", bytes);
    auto h = models::hash_model_file(t / "m.ckpt");
    INFO(size);
    CHECK(h.sha256 == util::sha256_hex(bytes));
    CHECK(h.autov2 == h.sha256.substr(0, 10));
    std::string window = size > 0x100000 ? bytes.substr(0x100000, 0x10000) : std::string();
    CHECK(h.autov1 == util::sha256_hex(window).substr(0, 8));
  }
}

TEST_CASE("hashes: the LoRA hash is the SHA-256 of the bytes after the safetensors header", "[hashes]") {
  test::TempDir t;
  SECTION("a small file") {
    std::string data = pattern(1000, 1);
    std::string bytes = safetensors_bytes(96, data);
    test::write_text(t / "lora.safetensors", bytes);
    auto h = models::hash_model_file(t / "lora.safetensors");
    CHECK(h.sha256 == util::sha256_hex(bytes));
    CHECK(h.autov2 == util::sha256_hex(bytes).substr(0, 10));
    REQUIRE(h.lora);
    CHECK(*h.lora == util::sha256_hex(data).substr(0, 12));
    CHECK(h.lora->size() == 12);

    // The same bytes under another extension: no LoRA hash (A1111 decides by the name); the
    // extension is matched without regard to case.
    test::write_text(t / "lora.pt", bytes);
    auto pt = models::hash_model_file(t / "lora.pt");
    CHECK(pt.sha256 == h.sha256);
    CHECK_FALSE(pt.lora);
    test::write_text(t / "LORA.SafeTensors", bytes);
    CHECK(models::hash_model_file(t / "LORA.SafeTensors").lora == h.lora);
  }
  SECTION("header and data across the read buffer's boundaries, AutoV1 in the same pass") {
    // Header ends past 4 MiB (the read size) so the LoRA range starts inside the second read.
    std::string data = pattern(3 * 1024 * 1024 + 17, 2);
    std::string bytes = safetensors_bytes(4 * 1024 * 1024 + 100, data);
    test::write_text(t / "big.safetensors", bytes);
    auto h = models::hash_model_file(t / "big.safetensors");
    CHECK(h.sha256 == util::sha256_hex(bytes));
    CHECK(h.autov1 == util::sha256_hex(bytes.substr(0x100000, 0x10000)).substr(0, 8));
    REQUIRE(h.lora);
    CHECK(*h.lora == util::sha256_hex(data).substr(0, 12));
  }
  SECTION("no data after the header") {
    std::string bytes = safetensors_bytes(64, "");
    test::write_text(t / "empty.safetensors", bytes);
    auto h = models::hash_model_file(t / "empty.safetensors");
    REQUIRE(h.lora);
    CHECK(*h.lora == "e3b0c44298fc");
  }
  SECTION("not really safetensors: no LoRA hash") {
    test::write_text(t / "short.safetensors", "1234567");  // no 8-byte header length
    CHECK_FALSE(models::hash_model_file(t / "short.safetensors").lora);
    test::write_text(t / "past.safetensors", le64(1000) + "{}");  // header runs past the end
    auto h = models::hash_model_file(t / "past.safetensors");
    CHECK_FALSE(h.lora);
    CHECK(h.sha256 == util::sha256_hex(le64(1000) + "{}"));
    test::write_text(t / "huge.safetensors", le64(UINT64_MAX) + "{}");
    CHECK_FALSE(models::hash_model_file(t / "huge.safetensors").lora);
  }
}

TEST_CASE("hashes: a missing file or a folder is an error naming it", "[hashes]") {
  test::TempDir t;
  CHECK_THROWS_WITH(models::hash_model_file(t / "missing.safetensors"),
                    Catch::Contains("missing.safetensors") && Catch::Contains("cannot read"));
  CHECK_THROWS_AS(models::hash_model_file(t / "missing.safetensors"), Error);
  std::filesystem::create_directories(t / "dir.safetensors");
  CHECK_THROWS_AS(models::hash_model_file(t / "dir.safetensors"), Error);
}
