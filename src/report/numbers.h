#pragma once
// Numbers as the reports print them, the same on every machine (fixed formats, no locale).
// Two families: exact ones for tools and ghx diff (format_metric "%.5g", format_z "%.4f"), and
// numbers for people in report.md / report.html: 4 significant digits, each metric on a scale
// that keeps its cells between 1 and 999 with the unit said once (style losses of 7.8695e+08
// read 786.9 under "x10^6"). results.json and results.csv keep every digit.
// Fails: never (NaN prints "n/a").
#include <string>

#include <nlohmann/json.hpp>

namespace ghx::report {

/// "%.5g" for metric values, "%.4f" for z-scores and scores.
std::string format_metric(double v);
std::string format_z(double v);
/// "[lo, hi]" of a two-number interval, each as format_z (z) or format_metric; "n/a" for an end
/// that is no number; "" when `ci` is not a pair.
std::string format_interval(const nlohmann::json& ci, bool z);

/// The power of ten (a multiple of 3) a metric's values are shown in: 0 while the largest
/// |value| lies in [1e-3, 1e4) (or there is none), else the engineering exponent of it.
int readable_exponent(double max_abs);
/// "" for 0, else "×10⁶", "×10⁻³" (Unicode superscripts).
std::string unit_text(int exponent);
/// v / 10^exponent to 4 significant digits, trailing zeros kept ("786.9", "834.0", "-0.09805",
/// "1230", "0.000"); "n/a" for NaN.
std::string format_people(double v, int exponent = 0);
/// "[lo, hi]" in format_people; "" when `ci` is not a pair, "n/a" for an end that is no number.
std::string format_people_interval(const nlohmann::json& ci, int exponent = 0);

}  // namespace ghx::report
