#pragma once
// The one place a step key is built. A key is XXH3-128 over a canonical, tagged encoding of:
// the key schema version, the step kind, the step implementation's version, the parameters in
// declaration order (name and value, length-prefixed), and the keys of the inputs in order.
// Paths, times and host names never enter a key: files enter by their SHA-256 as parameters.
// See docs/cache-keys.md for every hashed input.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/hash.h"

namespace ghx::plan {

using StepKey = util::Digest128;
using StepKeyHash = util::Digest128Hash;

/// Bump when the encoding below changes: every key changes with it.
constexpr int k_key_schema = 1;

enum class StepKind : uint8_t {
  generate,
  target_features,
  image_features,
  metric,
  aggregate,
  report,
  text_features,
};
constexpr int k_step_kind_count = 7;

/// Stable names (they are hashed and stored: never rename).
const char* kind_name(StepKind k);
/// The implementation version of a step kind's executor. Bump it when the executor's output
/// for the same parameters changes; every key of that kind (and downstream) changes with it.
int kind_version(StepKind k);

using Params = std::vector<std::pair<std::string, std::string>>;

StepKey step_key(StepKind kind, const Params& params, const std::vector<StepKey>& input_keys);
/// The exact bytes hashed by step_key, for `ghx plan --explain` and for debugging two misses.
std::string step_key_input(StepKind kind, const Params& params, const std::vector<StepKey>& input_keys);

}  // namespace ghx::plan
