#include "util/strings.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <vector>

#include <xxhash.h>

#include <openssl/evp.h>

#include "util/error.h"

namespace ghx::util {

std::string shortest_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

std::string printable_prefix(std::string_view text, size_t max) {
  std::string out;
  for (size_t i = 0; i < text.size() && i < max; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    out += c == '\n' || c == '\t' || c == '\r' ? ' ' : (c < 0x20 || c >= 0x7f ? '?' : static_cast<char>(c));
  }
  if (text.size() > max) out += "...";
  return out;
}

std::string shortest_float(float v) {
  if (std::isnan(v)) return "nan";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

std::string fixed_double(double v, int decimals) {
  if (std::isnan(v)) return "nan";
  if (v == 0) v = 0;  // no "-0.000"
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s(buf);
  if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t p = 0; p <= s.size(); ++p)
    if (p == s.size() || s[p] == sep) {
      out.emplace_back(s.substr(start, p - start));
      start = p + 1;
    }
  return out;
}

std::string_view trim(std::string_view s, std::string_view spaces) {
  const size_t b = s.find_first_not_of(spaces);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(spaces) - b + 1);
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string closest_match(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = static_cast<size_t>(-1);
  for (const auto& c : candidates) {
    size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  size_t limit = std::max<size_t>(2, word.size() / 3);
  return best_d <= limit ? best : std::string();
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string base64_decode(std::string_view text) {
  // strip whitespace and an optional data URI prefix ("data:image/png;base64,")
  std::string t;
  t.reserve(text.size());
  size_t comma = text.rfind(',');
  if (text.substr(0, 5) == "data:" && comma != std::string_view::npos) text = text.substr(comma + 1);
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c))) t.push_back(c);
  if (t.size() % 4 != 0) throw Error("invalid base64 (length " + std::to_string(t.size()) + ")");
  std::string out(t.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(t.data()),
                          static_cast<int>(t.size()));
  if (n < 0) throw Error("invalid base64");
  size_t pad = 0;
  if (!t.empty() && t.back() == '=') ++pad;
  if (t.size() > 1 && t[t.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string human_duration(double s) {
  char buf[32];
  if (!(s >= 0) || std::isinf(s)) return "?";
  if (s < 1) std::snprintf(buf, sizeof buf, "%.0fms", s * 1000);
  else if (s < 60) std::snprintf(buf, sizeof buf, "%.1fs", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, (int(s) % 3600) / 60);
  return buf;
}

namespace {
std::string* g_intern_blocks[k_intern_max_blocks];
uint32_t local_intern_id(std::string_view s);
detail::InternTable g_local_table{g_intern_blocks, &local_intern_id};
}  // namespace

namespace detail {
InternTable* intern_table = &g_local_table;
}  // namespace detail

void* interning_handle() { return detail::intern_table; }
void adopt_interning(void* handle) { detail::intern_table = static_cast<detail::InternTable*>(handle); }

uint32_t intern_id(std::string_view s) { return detail::intern_table->id_of(s); }

namespace {

uint32_t local_intern_id(std::string_view s) {
  // Open addressing with linear probing over a power-of-two table (at most half full), keyed by
  // XXH3: planning interns two strings per parameter, a few million lookups at 1M steps. The
  // strings live in blocks of k_intern_block that never move, so interned() reads without a lock.
  struct Pool {
    std::mutex mu;
    std::vector<std::pair<uint64_t, uint32_t>> slots = std::vector<std::pair<uint64_t, uint32_t>>(1024);  // id + 1
    uint32_t used = 0;
  };
  static Pool* pool = new Pool;  // never destroyed: static objects may hold interned strings
  const uint64_t h = XXH3_64bits(s.data(), s.size());
  std::lock_guard<std::mutex> lock(pool->mu);
  size_t mask = pool->slots.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const auto& [sh, id1] = pool->slots[i];
    if (!id1) break;
    if (sh == h && interned(id1 - 1) == s) return id1 - 1;
  }
  const uint32_t id = pool->used;
  if (id / k_intern_block >= k_intern_max_blocks) throw Error("too many distinct strings in one plan");
  std::string*& block = g_intern_blocks[id / k_intern_block];
  if (!block) block = new std::string[k_intern_block];
  block[id % k_intern_block].assign(s.data(), s.size());
  if (2 * (pool->used + 1) > pool->slots.size()) {
    std::vector<std::pair<uint64_t, uint32_t>> bigger(pool->slots.size() * 2);
    const size_t m = bigger.size() - 1;
    for (const auto& e : pool->slots)
      if (e.second) {
        size_t i = e.first & m;
        while (bigger[i].second) i = (i + 1) & m;
        bigger[i] = e;
      }
    pool->slots.swap(bigger);
    mask = m;
  }
  size_t i = h & mask;
  while (pool->slots[i].second) i = (i + 1) & mask;
  pool->slots[i] = {h, id + 1};
  ++pool->used;
  return id;
}

}  // namespace

const std::string& intern(std::string_view s) { return interned(intern_id(s)); }

}  // namespace ghx::util
