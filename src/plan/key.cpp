#include "plan/key.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "util/strings.h"

namespace ghx::plan {

namespace {
const char* const k_kind_names[k_step_kind_count] = {"generate",  "target_features", "image_features", "metric",
                                                     "aggregate", "report",          "text_features"};
// Executor versions, in StepKind order. See kind_version().
// generate 2: synthetic images carry A1111-style infotext. metric 2: linear heads folded into one
// affine map (aesthetic scores differ in the last bits). report 2: bootstrap CIs, variance split,
// rank gaps, NoTM and fixups in results.json.
// image_features 2: CLIP image towers run their GEMMs through oneDNN (last bits differ).
// text_features 2: texts run padded to a multiple of 16 tokens (last bits differ). 3: the text
// tower's linear layers run through PackedLinear on the CPU (last bits differ). 4: each text runs
// at its own length (EOT + 1 tokens), texts' rows stacked in one pass (last bits differ).
// target_features 2 and image_features 3: images decode without EXIF orientation, as Pillow's.
// image_features 4: activations run in whole-row chunks, one thread each (with some thread counts
// ATen's chunks had scalar tails, which can round differently).
// target_features 3 and image_features 5: VGG19 runs in NCHW where oneDNN has no AVX-512 kernels
// (models::vgg_channels_last; last bits differ there, the same elsewhere).
const int k_kind_versions[k_step_kind_count] = {2, 3, 5, 2, 1, 3, 4};

void put_field(std::string& buf, char tag, std::string_view value) {
  buf.push_back(tag);
  uint32_t n = static_cast<uint32_t>(value.size());
  char len[4] = {char(n & 0xff), char((n >> 8) & 0xff), char((n >> 16) & 0xff), char((n >> 24) & 0xff)};
  buf.append(len, 4);
  buf.append(value.data(), value.size());
}
}  // namespace

Params::Params(std::initializer_list<std::pair<std::string_view, std::string_view>> entries) {
  m_entries.reserve(entries.size());
  for (const auto& [n, v] : entries) emplace_back(n, v);
}

void Params::emplace_back(std::string_view name, std::string_view value) {
  m_entries.emplace_back(util::intern_id(name), util::intern_id(value));
}

void Params::set(size_t i, std::string_view value) { m_entries.at(i).second = util::intern_id(value); }

void KeySet::grow(size_t slots) {
  std::vector<StepKey> fresh(slots, StepKey{});
  const size_t mask = slots - 1;
  for (const StepKey& k : m_slots)
    if (k.hi || k.lo) {
      size_t i = slot(k, mask);
      while (fresh[i].hi || fresh[i].lo) i = (i + 1) & mask;
      fresh[i] = k;
    }
  m_slots.swap(fresh);
}

// At most 80% full: linear probing over 16-byte slots stays within a few cache lines, and 100k
// keys fit 2^17 slots (2 MB).
void KeySet::reserve(size_t n) {
  size_t slots = 16;
  while (4 * slots < 5 * n) slots *= 2;
  if (slots > m_slots.size()) grow(slots);
}

bool KeySet::insert(const StepKey& k) {
  if (!k.hi && !k.lo) {
    if (m_has_zero) return false;
    m_has_zero = true;
    ++m_size;
    return true;
  }
  if (5 * (m_size + 1) > 4 * m_slots.size()) grow(std::max<size_t>(16, m_slots.size() * 2));
  const size_t mask = m_slots.size() - 1;
  size_t i = slot(k, mask);
  for (; m_slots[i].hi || m_slots[i].lo; i = (i + 1) & mask)
    if (m_slots[i] == k) return false;
  m_slots[i] = k;
  ++m_size;
  return true;
}

size_t KeySet::count(const StepKey& k) const {
  if (!k.hi && !k.lo) return m_has_zero ? 1 : 0;
  if (m_slots.empty()) return 0;
  const size_t mask = m_slots.size() - 1;
  for (size_t i = slot(k, mask); m_slots[i].hi || m_slots[i].lo; i = (i + 1) & mask)
    if (m_slots[i] == k) return 1;
  return 0;
}

const char* kind_name(StepKind k) { return k_kind_names[static_cast<int>(k)]; }

int kind_version(StepKind k) { return k_kind_versions[static_cast<int>(k)]; }

namespace {

void encode_key_input(std::string& buf, StepKind kind, const Params& params, const std::vector<StepKey>& input_keys) {
  static const std::string schema = "ghx-step-key/" + std::to_string(k_key_schema);
  buf.clear();
  put_field(buf, 'S', schema);
  put_field(buf, 'K', kind_name(kind));
  char num[24];
  int n = std::snprintf(num, sizeof num, "%d", kind_version(kind));
  put_field(buf, 'V', std::string_view(num, static_cast<size_t>(n)));
  for (const auto& [name, v] : params) {
    put_field(buf, 'N', name);
    put_field(buf, 'P', v);
  }
  n = std::snprintf(num, sizeof num, "%zu", input_keys.size());
  put_field(buf, 'I', std::string_view(num, static_cast<size_t>(n)));
  for (const auto& k : input_keys) {
    char raw[17];
    raw[0] = 'k';
    for (int i = 0; i < 8; ++i) {
      raw[1 + i] = char((k.hi >> (56 - 8 * i)) & 0xff);
      raw[9 + i] = char((k.lo >> (56 - 8 * i)) & 0xff);
    }
    buf.append(raw, 17);
  }
}

}  // namespace

std::string step_key_input(StepKind kind, const Params& params, const std::vector<StepKey>& input_keys) {
  std::string buf;
  encode_key_input(buf, kind, params, input_keys);
  return buf;
}

StepKey step_key(StepKind kind, const Params& params, const std::vector<StepKey>& input_keys) {
  // One buffer per thread, kept between calls: planning computes a key per step.
  static thread_local std::string buf;
  encode_key_input(buf, kind, params, input_keys);
  return util::xxh3_128(buf);
}

}  // namespace ghx::plan
