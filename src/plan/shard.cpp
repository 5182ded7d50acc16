#include "plan/shard.h"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <queue>

namespace ghx::plan {

bool parse_shard(const std::string& text, ShardSpec* out, std::string* why) {
  const size_t slash = text.find('/');
  auto number = [](const std::string& s, long* v) {
    if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos) return false;
    *v = std::strtol(s.c_str(), nullptr, 10);
    return true;
  };
  long i = 0, n = 0;
  if (slash == std::string::npos || !number(text.substr(0, slash), &i) || !number(text.substr(slash + 1), &n)) {
    *why = "'" + text + "': expected I/N, as in 2/4 (shard I of N, counted from 1)";
    return false;
  }
  if (n < 1 || n > 100000 || i < 1 || i > n) {
    *why = "'" + text + "': the shard must be 1 to N, and N 1 to 100000";
    return false;
  }
  out->index = static_cast<int>(i);
  out->count = static_cast<int>(n);
  return true;
}

double step_cost(const Step& s) {
  switch (s.kind) {
    case StepKind::generate: {
      // Denoising work: sampler steps x pixels, relative to 30 steps at 512x512 = 100.
      auto num = [&](const char* name, double dflt) {
        const std::string* v = s.find_param(name);
        return v ? std::max(1.0, std::strtod(v->c_str(), nullptr)) : dflt;
      };
      return 100.0 * num("steps", 30) / 30.0 * num("width", 512) * num("height", 512) / (512.0 * 512.0) + 1.0;
    }
    case StepKind::image_features:
    case StepKind::target_features:
    case StepKind::text_features:
      return 1.0;  // one forward pass of a scoring model
    case StepKind::metric:
      return 0.05;
    case StepKind::aggregate:
    case StepKind::report:
      return 0.0;
  }
  return 1.0;
}

namespace {

bool left_to_merge(const Step& s) { return s.kind == StepKind::aggregate || s.kind == StepKind::report; }
bool shared_input(const Step& s) { return s.kind != StepKind::generate && s.inputs.empty() && !left_to_merge(s); }

uint32_t find(std::vector<uint32_t>& parent, uint32_t x) {
  while (parent[x] != x) x = parent[x] = parent[parent[x]];
  return x;
}

}  // namespace

Shard shard_of(const Plan& p, const ShardSpec& spec) {
  const size_t n = p.steps.size();
  Shard out;
  out.mine.assign(n, false);
  std::vector<uint32_t> parent(n);
  std::iota(parent.begin(), parent.end(), 0u);
  for (size_t i = 0; i < n; ++i) {
    const Step& s = p.steps[i];
    if (left_to_merge(s)) {
      ++out.left_to_merge;
      continue;
    }
    out.cost_total += step_cost(s);
    if (shared_input(s)) continue;
    for (uint32_t in : s.inputs) {
      if (shared_input(p.steps[in]) || left_to_merge(p.steps[in])) continue;
      uint32_t a = find(parent, static_cast<uint32_t>(i)), b = find(parent, in);
      if (a != b) parent[std::max(a, b)] = std::min(a, b);
    }
  }
  // Units: cost and smallest key, per root.
  struct Unit {
    double cost = 0;
    StepKey first;
    bool any = false;
    int shard = 0;
  };
  std::vector<Unit> unit(n);
  for (size_t i = 0; i < n; ++i) {
    const Step& s = p.steps[i];
    if (left_to_merge(s) || shared_input(s)) continue;
    Unit& u = unit[find(parent, static_cast<uint32_t>(i))];
    u.cost += step_cost(s);
    if (!u.any || s.key.hex() < u.first.hex()) u.first = s.key;
    u.any = true;
  }
  std::vector<uint32_t> roots;
  for (size_t i = 0; i < n; ++i)
    if (unit[i].any) roots.push_back(static_cast<uint32_t>(i));
  std::vector<std::string> first_hex(n);
  for (uint32_t r : roots) first_hex[r] = unit[r].first.hex();
  std::sort(roots.begin(), roots.end(), [&](uint32_t a, uint32_t b) {
    if (unit[a].cost != unit[b].cost) return unit[a].cost > unit[b].cost;
    return first_hex[a] < first_hex[b];
  });
  // The least loaded shard (ties: the lower one) from a heap: O(units log N).
  using Load = std::pair<double, int>;
  std::priority_queue<Load, std::vector<Load>, std::greater<Load>> load;
  for (int k = 1; k <= spec.count; ++k) load.push({0.0, k});
  for (uint32_t r : roots) {
    Load l = load.top();
    load.pop();
    unit[r].shard = l.second;
    if (unit[r].shard == spec.index) ++out.units;
    load.push({l.first + unit[r].cost, l.second});
  }
  for (size_t i = 0; i < n; ++i) {
    const Step& s = p.steps[i];
    if (left_to_merge(s) || shared_input(s)) continue;
    if (unit[find(parent, static_cast<uint32_t>(i))].shard != spec.index) continue;
    out.mine[i] = true;
    for (uint32_t in : s.inputs)
      if (shared_input(p.steps[in])) out.mine[in] = true;
  }
  for (size_t i = 0; i < n; ++i)
    if (out.mine[i]) {
      ++out.steps;
      out.cost += step_cost(p.steps[i]);
      if (shared_input(p.steps[i])) ++out.shared;
    }
  return out;
}

}  // namespace ghx::plan
