#pragma once
// String helpers: number formatting that is the same on every machine, and spelling help.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ghx::util {

/// Shortest decimal that reads back to the same double ("0.8", "1", "0.65"); used in step keys.
std::string shortest_double(double v);
/// The same for a float ("0.48145467"): the shortest text that reads back to the same float.
std::string shortest_float(float v);
/// Fixed notation with `decimals` digits ("%.*f"); "nan" for NaN. Used in reports.
std::string fixed_double(double v, int decimals);
/// Levenshtein distance.
size_t edit_distance(std::string_view a, std::string_view b);
/// The candidate nearest to `word` if it is close enough to be a plausible typo, else "".
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
/// The parts of `s` between occurrences of `sep` ("a,,b" -> "a", "", "b"; "" -> one empty part).
std::vector<std::string> split(std::string_view s, char sep);
/// `s` without leading and trailing characters of `spaces` (a view into `s`).
std::string_view trim(std::string_view s, std::string_view spaces = " \t\r\n");
/// Equal ignoring ASCII case (LoRA names, CSV headers).
bool iequals(std::string_view a, std::string_view b);
/// Standard base64 (RFC 4648, with padding). decode throws ghx::Error on invalid input.
std::string base64_encode(std::string_view bytes);
std::string base64_decode(std::string_view text);
/// At most `max` bytes of outside text for a message: control bytes and bytes >= 0x7f shown as
/// '?', newlines and tabs as spaces, "..." when cut ("" stays "").
std::string printable_prefix(std::string_view text, size_t max);
/// Human duration: "850ms", "12.3s", "4m05s", "1h02m".
std::string human_duration(double seconds);

/// The one copy of `s` this process keeps: equal strings give the same object (and id), which
/// lives until the process ends (a plan of 100k steps holds a few thousand distinct values;
/// docs/performance.md). Thread-safe; interned() takes no lock.
const std::string& intern(std::string_view s);
/// The same, as a dense id (0, 1, 2 ... in order of first sight) for interned().
uint32_t intern_id(std::string_view s);
constexpr uint32_t k_intern_block = 4096;
constexpr uint32_t k_intern_max_blocks = 1u << 18;  ///< ~10^9 distinct strings
namespace detail {
/// The process's one table. A module loaded into ghx (src/heavy/heavy.h) has its own copy of
/// this code and points its copy at ghx's (adopt_interning), so ids mean the same on both sides.
struct InternTable {
  std::string** blocks;  ///< k_intern_max_blocks blocks of k_intern_block strings; never moved
  uint32_t (*id_of)(std::string_view);
};
extern InternTable* intern_table;
}  // namespace detail
/// The string of an id intern_id() returned.
inline const std::string& interned(uint32_t id) {
  return detail::intern_table->blocks[id / k_intern_block][id % k_intern_block];
}
/// This process's table, for a module to adopt; and a module's side of it.
void* interning_handle();
void adopt_interning(void* handle);

}  // namespace ghx::util
