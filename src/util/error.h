#pragma once
// The one exception type of ghx. Thrown for expected failures (bad input, a missing or corrupt
// file, an unreachable backend); caught once in cli/main.cpp, which prints "ghx: error: ..." and
// exits 2, or per step by the runner, which records the step as failed.
#include <stdexcept>
#include <string>

namespace ghx {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace ghx
