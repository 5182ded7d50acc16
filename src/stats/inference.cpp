// Tests and adjustments shared by the report's verdicts and ghx diff (stats/stats.h): Holm's
// step-down, the normal quantile and the two-sided p of a difference of two estimates.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "stats/stats.h"
#include "util/error.h"

namespace ghx::stats {

namespace {
const double k_nan = std::numeric_limits<double>::quiet_NaN();
}  // namespace

std::vector<double> holm_adjust(const std::vector<double>& p) {
  const size_t k = p.size();
  for (double x : p)
    if (std::isnan(x)) throw Error("statistics: a NaN p-value");
  std::vector<size_t> order(k);
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<double> adj(k);
  double running = 0;
  for (size_t j = 0; j < k; ++j) {
    running = std::max(running, std::min(1.0, static_cast<double>(k - j) * p[order[j]]));
    adj[order[j]] = running;
  }
  return adj;
}

double normal_quantile(double q) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01,  -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  if (!(q > 0 && q < 1)) return k_nan;
  const double lo = 0.02425;
  if (q < lo) {
    const double t = std::sqrt(-2 * std::log(q));
    return (((((c[0] * t + c[1]) * t + c[2]) * t + c[3]) * t + c[4]) * t + c[5]) /
           ((((d[0] * t + d[1]) * t + d[2]) * t + d[3]) * t + 1);
  }
  if (q > 1 - lo) return -normal_quantile(1 - q);
  const double r = q - 0.5, t = r * r;
  return (((((a[0] * t + a[1]) * t + a[2]) * t + a[3]) * t + a[4]) * t + a[5]) * r /
         (((((b[0] * t + b[1]) * t + b[2]) * t + b[3]) * t + b[4]) * t + 1);
}

double difference_p(double delta, double se_a, double se_b) {
  const double s = std::sqrt(se_a * se_a + se_b * se_b);
  if (std::isnan(s) || std::isnan(delta)) return k_nan;
  if (delta == 0) return 1.0;
  if (!(s > 0)) return k_nan;
  return std::erfc(std::fabs(delta) / s / std::sqrt(2.0));
}

}  // namespace ghx::stats
