#pragma once
// A1111 "infotext": the text A1111/Forge/SD.Next (and Civitai) keep in a PNG's `parameters`
// chunk:
//   <prompt>
//   Negative prompt: <negative>
//   Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 6, Seed: 1, Size: 512x768, Model hash: 0123456789, ...
// Values containing a comma, colon or quote are double-quoted (JSON-style escaping inside).
// Fails: parse() returns std::nullopt for text that is not infotext. Never: guesses a missing seed.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ghx::exec {

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

  /// The text form, exactly as A1111 writes it (quoting values that need it).
  std::string format() const;
  static std::optional<Infotext> parse(const std::string& text);
};

}  // namespace ghx::exec
