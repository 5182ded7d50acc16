#pragma once
// Shared by the fuzz targets (tests/fuzz/fuzz_*.cpp, docs/reliability.md). Each target is one
// LLVMFuzzerTestOneInput: built with clang's libFuzzer by scripts/fuzz.sh, and with
// replay_main.cpp into a plain program that the test suite runs over the seed corpus and the
// regression inputs (tests/fuzz/corpus/<target>/, tests/fuzz/regressions/<target>/).
// A target must never crash, leak or hang on any input: ghx::Error (and std::exception from a
// library) are the expected outcome of bad input and are caught here.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>

namespace ghx::fuzz {

/// A folder of this process's own, made once (removed by the OS's tmp cleaning, or by
/// scripts/fuzz.sh, which gives every target a fresh TMPDIR).
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* t = std::getenv("TMPDIR");
    std::string tmpl = std::string(t && *t ? t : "/tmp") + "/ghx_fuzz_XXXXXX";
    if (!mkdtemp(tmpl.data())) std::abort();
    return tmpl;
  }();
  return dir;
}

/// Writes the input to scratch_dir()/name and returns the path (for parsers that read files).
inline std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
  std::string path = scratch_dir() + "/" + name;
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

inline std::string as_string(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

}  // namespace ghx::fuzz

/// Runs `body`, swallowing the exceptions that are bad input's answer.
#define GHX_FUZZ_GUARD(body)         \
  try {                              \
    body;                            \
  } catch (const std::exception&) { \
  }
