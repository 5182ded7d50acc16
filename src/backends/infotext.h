#pragma once
// A1111 "infotext": the text A1111/Forge/SD.Next (and Civitai) keep in a PNG's `parameters`
// chunk:
//   <prompt>
//   Negative prompt: <negative>
//   Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 6, Seed: 1, Size: 512x768, Model hash: 0123456789, ...
// As A1111's quote(): values containing a comma, colon or newline are JSON-quoted
// (json.dumps(ensure_ascii=False) escaping); others, quotes included, are written as they are.
// parse() follows parse_generation_parameters: the last line holds the parameters only when its
// re_param finds at least 3 `key: value` pairs, else it is prompt text; lines after one starting
// "Negative prompt:" are the negative prompt; quoted values are unquoted (kept as they are when
// not valid JSON); an empty value is dropped; a repeated key keeps its first place and last value.
// Unlike A1111 it keeps "Size" whole and adds none of A1111's pasting defaults ("Clip skip"...).
// Fails: parse() returns std::nullopt only for empty or whitespace-only text (text without a
// parameters line is a prompt, as in A1111). Never: guesses a missing seed.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "plan/plan.h"

namespace ghx::backends {

struct Infotext {
  std::string prompt;
  std::string negative_prompt;
  /// The "Key: value" pairs of the last line, in order (Steps, Sampler, CFG scale, Seed, Size,
  /// Model hash, Model, Denoising strength, Hires upscale, Hires upscaler, Lora hashes, ...).
  std::vector<std::pair<std::string, std::string>> params;

  const std::string* get(const std::string& key) const;
  void set(const std::string& key, const std::string& value);  ///< replaces or appends
  std::optional<int64_t> seed() const;
  /// "Model hash" (AutoV2, 10 hex digits) or "".
  std::string model_hash() const;
  /// "Lora hashes" (SD.Next: "LoRA hashes"), "name: 0123456789ab, other: ..." as name -> hash
  /// lowercased; empty when absent.
  std::map<std::string, std::string> lora_hashes() const;

  /// The text form, exactly as A1111 writes it (quoting values that need it).
  std::string format() const;
  static std::optional<Infotext> parse(const std::string& text);
};

/// A "Lora hashes" value, "name: 0123456789ab, other: ..." (A1111's format), as name -> hash
/// lowercased; items without ':' are skipped.
std::map<std::string, std::string> parse_lora_hashes(const std::string& value);

/// The infotext of a generate step's settings: prompt, negative prompt, Steps, Sampler,
/// CFG scale, Seed, Size. Callers add what only they know (Model, Model hash).
Infotext infotext_of_step(const plan::Step& step);

}  // namespace ghx::backends
