#pragma once
// Hashing primitives: XXH3-128 (step keys, blob addresses) and SHA-256 (file identity, AutoV2).
// Never: caches anything (memoisation of file hashes lives in plan/file_hasher.h).
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace ghx::util {

/// A 128-bit digest; `hex()` is 32 lowercase hex digits (high half first).
struct Digest128 {
  uint64_t hi = 0;
  uint64_t lo = 0;
  std::string hex() const;
  bool operator==(const Digest128& o) const { return hi == o.hi && lo == o.lo; }
  bool operator!=(const Digest128& o) const { return !(*this == o); }
  bool operator<(const Digest128& o) const { return hi != o.hi ? hi < o.hi : lo < o.lo; }
  /// Parses 32 hex digits; returns false if `s` is not exactly that.
  static bool from_hex(std::string_view s, Digest128* out);
};

struct Digest128Hash {
  size_t operator()(const Digest128& d) const { return static_cast<size_t>(d.lo ^ (d.hi * 0x9E3779B97F4A7C15ull)); }
};

Digest128 xxh3_128(std::string_view data);

/// SHA-256 of a whole file, streamed. Throws ghx::Error if it cannot be read.
std::string sha256_file_hex(const std::string& path);
std::string sha256_hex(std::string_view data);

}  // namespace ghx::util
