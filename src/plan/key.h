#pragma once
// The one place a step key is built. A key is XXH3-128 over a canonical, tagged encoding of:
// the key schema version, the step kind, the step implementation's version, the parameters in
// declaration order (name and value, length-prefixed), and the keys of the inputs in order.
// Paths, times and host names never enter a key: files enter by their SHA-256 as parameters.
// See docs/cache-keys.md for every hashed input.
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/hash.h"
#include "util/strings.h"

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

/// Named values in order (a step's parameters or context). Names and values are interned
/// (util::intern_id): a plan of 100k steps repeats a few thousand distinct strings, so an entry is
/// two 32-bit ids, not two strings (docs/performance.md). Reads like a vector of pairs:
/// `for (const auto& [name, value] : params)`, `params[i].second`, `params.size()`.
class Params {
 public:
  struct Entry {
    const std::string& first;
    const std::string& second;
  };
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Entry;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = Entry;
    explicit const_iterator(const std::pair<uint32_t, uint32_t>* p) : m_p(p) {}
    Entry operator*() const { return {util::interned(m_p->first), util::interned(m_p->second)}; }
    const_iterator& operator++() {
      ++m_p;
      return *this;
    }
    bool operator==(const const_iterator& o) const { return m_p == o.m_p; }
    bool operator!=(const const_iterator& o) const { return m_p != o.m_p; }

   private:
    const std::pair<uint32_t, uint32_t>* m_p;
  };

  Params() = default;
  Params(std::initializer_list<std::pair<std::string_view, std::string_view>> entries);
  void emplace_back(std::string_view name, std::string_view value);
  /// Replaces the value of entry `i`.
  void set(size_t i, std::string_view value);
  void pop_back() { m_entries.pop_back(); }
  void clear() { m_entries.clear(); }
  void reserve(size_t n) { m_entries.reserve(n); }
  size_t size() const { return m_entries.size(); }
  bool empty() const { return m_entries.empty(); }
  Entry operator[](size_t i) const { return {util::interned(m_entries[i].first), util::interned(m_entries[i].second)}; }
  Entry back() const { return (*this)[size() - 1]; }
  const_iterator begin() const { return const_iterator(m_entries.data()); }
  const_iterator end() const { return const_iterator(m_entries.data() + m_entries.size()); }
  /// Interned strings are equal exactly when they are the same object.
  bool operator==(const Params& o) const { return m_entries == o.m_entries; }
  bool operator!=(const Params& o) const { return m_entries != o.m_entries; }

 private:
  std::vector<std::pair<uint32_t, uint32_t>> m_entries;  ///< util::intern_id of name and value
};

/// A set of step keys as one flat table (open addressing, a power of two at most 80% full):
/// the cache's done keys are read on every run, 100k of them on a big review.
class KeySet {
 public:
  /// True when `k` was not in the set.
  bool insert(const StepKey& k);
  size_t count(const StepKey& k) const;
  size_t size() const { return m_size; }
  bool empty() const { return m_size == 0; }
  void reserve(size_t n);

 private:
  static size_t slot(const StepKey& k, size_t mask) { return static_cast<size_t>(k.lo ^ (k.hi >> 7)) & mask; }
  void grow(size_t slots);
  std::vector<StepKey> m_slots;  ///< the all-zero key marks an empty slot
  bool m_has_zero = false;       ///< the all-zero key itself (no real key is; tests may use it)
  size_t m_size = 0;
};

StepKey step_key(StepKind kind, const Params& params, const std::vector<StepKey>& input_keys);
/// The exact bytes hashed by step_key, for `ghx plan --explain` and for debugging two misses.
std::string step_key_input(StepKind kind, const Params& params, const std::vector<StepKey>& input_keys);

}  // namespace ghx::plan
