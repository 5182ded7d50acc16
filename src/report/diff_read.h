#pragma once
// Internal to report/diff*.cpp: reading the review and results documents of `ghx diff`.
#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

namespace ghx::report::diff_read {

using nlohmann::json;

// Documents come from files a user may have edited: a key of the wrong type reads as absent
// rather than throwing halfway through a diff.

inline const json& field(const json& j, const char* key) {
  static const json null_json;
  if (!j.is_object()) return null_json;
  auto it = j.find(key);
  return it == j.end() ? null_json : *it;
}

inline std::string text(const json& j, const char* key) {
  const json& v = field(j, key);
  return v.is_string() ? v.get<std::string>() : "";
}

inline const json& array_of(const json& j, const char* key) {
  static const json empty = json::array();
  const json& v = field(j, key);
  return v.is_array() ? v : empty;
}

inline const json& object_of(const json& j, const char* key) {
  static const json empty = json::object();
  const json& v = field(j, key);
  return v.is_object() ? v : empty;
}

inline double number(const json& j) { return j.is_number() ? j.get<double>() : std::nan(""); }

/// A key printed as a z-score or score (4 decimals) rather than a metric value.
inline bool is_z_key(const std::string& key) { return key == "score" || key.rfind("z.", 0) == 0; }

}  // namespace ghx::report::diff_read
