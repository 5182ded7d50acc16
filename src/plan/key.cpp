#include "plan/key.h"

#include <cstring>

namespace ghx::plan {

namespace {
const char* const k_kind_names[k_step_kind_count] = {"generate",  "target_features", "image_features", "metric",
                                                     "aggregate", "report",          "text_features"};
// Executor versions, in StepKind order. See kind_version().
// generate 2: synthetic images carry A1111-style infotext. metric 2: linear heads folded into one
// affine map (aesthetic scores differ in the last bits). report 2: bootstrap CIs, variance split,
// rank gaps, NoTM and fixups in results.json.
// image_features 2: CLIP image towers run their GEMMs through oneDNN (last bits differ).
// text_features 2: texts run padded to a multiple of 16 tokens (last bits differ).
// target_features 2 and image_features 3: images decode without EXIF orientation, as Pillow's.
const int k_kind_versions[k_step_kind_count] = {2, 2, 3, 2, 1, 3, 2};

void put_field(std::string& buf, char tag, std::string_view value) {
  buf.push_back(tag);
  uint32_t n = static_cast<uint32_t>(value.size());
  char len[4] = {char(n & 0xff), char((n >> 8) & 0xff), char((n >> 16) & 0xff), char((n >> 24) & 0xff)};
  buf.append(len, 4);
  buf.append(value.data(), value.size());
}
}  // namespace

const char* kind_name(StepKind k) { return k_kind_names[static_cast<int>(k)]; }

int kind_version(StepKind k) { return k_kind_versions[static_cast<int>(k)]; }

std::string step_key_input(StepKind kind, const Params& params, const std::vector<StepKey>& input_keys) {
  std::string buf;
  size_t guess = 64 + input_keys.size() * 17;
  for (const auto& [n, v] : params) guess += n.size() + v.size() + 10;
  buf.reserve(guess);
  put_field(buf, 'S', "ghx-step-key/" + std::to_string(k_key_schema));
  put_field(buf, 'K', kind_name(kind));
  put_field(buf, 'V', std::to_string(kind_version(kind)));
  for (const auto& [n, v] : params) {
    put_field(buf, 'N', n);
    put_field(buf, 'P', v);
  }
  put_field(buf, 'I', std::to_string(input_keys.size()));
  for (const auto& k : input_keys) {
    char raw[16];
    for (int i = 0; i < 8; ++i) {
      raw[i] = char((k.hi >> (56 - 8 * i)) & 0xff);
      raw[8 + i] = char((k.lo >> (56 - 8 * i)) & 0xff);
    }
    buf.push_back('k');
    buf.append(raw, 16);
  }
  return buf;
}

StepKey step_key(StepKind kind, const Params& params, const std::vector<StepKey>& input_keys) {
  return util::xxh3_128(step_key_input(kind, params, input_keys));
}

}  // namespace ghx::plan
