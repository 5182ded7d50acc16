#include "report/numbers.h"

#include <cmath>
#include <cstdio>

#include "util/strings.h"

namespace ghx::report {

std::string format_metric(double v) {
  if (std::isnan(v)) return "n/a";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.5g", v == 0 ? 0.0 : v);
  return buf;
}

std::string format_z(double v) {
  if (std::isnan(v)) return "n/a";
  return util::fixed_double(v, 4);
}

std::string format_interval(const nlohmann::json& ci, bool z) {
  if (!ci.is_array() || ci.size() != 2) return "";
  auto f = [&](const nlohmann::json& v) {
    if (!v.is_number()) return std::string("n/a");
    return z ? format_z(v.get<double>()) : format_metric(v.get<double>());
  };
  return "[" + f(ci[0]) + ", " + f(ci[1]) + "]";
}

int readable_exponent(double max_abs) {
  if (!std::isfinite(max_abs) || max_abs == 0 || (max_abs >= 1e-3 && max_abs < 1e4)) return 0;
  return 3 * static_cast<int>(std::floor(std::log10(max_abs) / 3.0));
}

std::string unit_text(int exponent) {
  if (exponent == 0) return "";
  static const char* const digits[] = {"⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"};
  std::string s = "×10";
  if (exponent < 0) s += "⁻";
  for (char c : std::to_string(std::abs(exponent))) s += digits[c - '0'];
  return s;
}

std::string format_people(double v, int exponent) {
  if (std::isnan(v)) return "n/a";
  const double x = exponent == 0 ? v : v / std::pow(10.0, exponent);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%#.4g", x == 0 ? 0.0 : x);  // '#': trailing zeros are digits too
  std::string s = buf;
  if (!s.empty() && s.back() == '.') s.pop_back();  // "1230." -> "1230"
  return s;
}

std::string format_people_interval(const nlohmann::json& ci, int exponent) {
  if (!ci.is_array() || ci.size() != 2) return "";
  auto f = [&](const nlohmann::json& v) { return v.is_number() ? format_people(v.get<double>(), exponent) : std::string("n/a"); };
  return "[" + f(ci[0]) + ", " + f(ci[1]) + "]";
}

}  // namespace ghx::report
