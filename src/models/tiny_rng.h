#pragma once
// Internal to src/models/: the deterministic RNG behind the tiny random weights (write_tiny_*).
// No libtorch RNG (its stream is a libtorch implementation detail): splitmix64 + Box-Muller, so
// the bytes of a tiny weights file depend only on the seed and this code.
// Owns: nothing global. Fails: never throws.
#include <cmath>
#include <cstdint>

namespace ghx::models {

class TinyRng {
 public:
  explicit TinyRng(std::uint64_t seed) : m_state(seed) {}
  std::uint64_t next() {  // splitmix64
    std::uint64_t z = (m_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double normal() {  // Box-Muller; the second value is dropped to keep the stream simple
    constexpr double k_two_pi = 6.283185307179586476925286766559;
    const double u1 = 1.0 - uniform();  // (0, 1]: log stays finite
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(k_two_pi * u2);
  }

 private:
  std::uint64_t m_state;
};

}  // namespace ghx::models
