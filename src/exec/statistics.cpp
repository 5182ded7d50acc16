#include "exec/statistics.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "util/error.h"

namespace ghx::exec {

using nlohmann::json;

namespace {

struct Acc {
  double sum = 0;
  int64_t n = 0;
  void add(double v) {
    sum += v;
    ++n;
  }
  double mean() const { return n ? sum / static_cast<double>(n) : std::nan(""); }
};

double sample_std(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  double m = 0;
  for (double x : v) m += x;
  m /= static_cast<double>(v.size());
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return std::sqrt(ss / static_cast<double>(v.size() - 1));
}

/// Values of one metric, indexed [checkpoint][prompt] -> seeds in row order.
struct MetricTable {
  std::vector<std::string> prompts;                  // first-seen order
  std::map<std::string, size_t> prompt_index;
  std::map<std::string, std::string> prompt_group;   // prompt -> group
  std::vector<std::vector<std::vector<double>>> v;   // [ckpt][prompt][seed]
};

}  // namespace

bool lower_is_better(const std::string& metric) {
  return metric.rfind("style_loss", 0) == 0 || metric.rfind("lora_loss", 0) == 0;
}

json aggregate_json(const std::string& section, const std::string& metric, const std::string& variant,
                    const std::vector<AggregateRow>& rows) {
  json r = json::array();
  for (const auto& row : rows) r.push_back({row.checkpoint, row.prompt, row.group, row.seed, row.value});
  return {{"section", section}, {"metric", metric}, {"variant", variant}, {"rows", std::move(r)}};
}

json compute_results(const ReviewInfo& info, const std::vector<json>& aggregates) {
  const size_t nc = info.checkpoints.size();
  std::map<std::string, size_t> ck_index;
  for (size_t i = 0; i < nc; ++i) ck_index[info.checkpoints[i].first] = i;

  // metric name -> table; metrics in first-seen order
  std::vector<std::string> metric_order;
  std::map<std::string, MetricTable> tables;
  json sections = json::array();
  for (const auto& agg : aggregates) {
    if (!agg.is_object() || !agg.contains("rows") || !agg["rows"].is_array())
      throw Error("aggregate result is malformed");
    const std::string metric = agg.at("metric").get<std::string>();
    if (!tables.count(metric)) metric_order.push_back(metric);
    MetricTable& t = tables[metric];
    if (t.v.empty()) t.v.resize(nc);
    std::vector<std::string> groups;
    std::map<std::string, int> seen_prompts;
    for (const auto& row : agg["rows"]) {
      const std::string ck = row.at(0).get<std::string>();
      const std::string prompt = agg.at("section").get<std::string>() + "/" + row.at(1).get<std::string>();
      const std::string group = row.at(2).get<std::string>();
      auto ci = ck_index.find(ck);
      if (ci == ck_index.end()) throw Error("aggregate names unknown checkpoint '" + ck + "'");
      auto [pi, fresh] = t.prompt_index.emplace(prompt, t.prompts.size());
      if (fresh) {
        t.prompts.push_back(prompt);
        t.prompt_group[prompt] = group;
        for (auto& per_ck : t.v) per_ck.emplace_back();
      }
      if (!group.empty() && std::find(groups.begin(), groups.end(), group) == groups.end()) groups.push_back(group);
      seen_prompts[prompt] = 1;
      double value = row.at(4).is_number() ? row.at(4).get<double>() : std::nan("");
      t.v[ci->second][pi->second].push_back(value);
    }
    sections.push_back({{"id", agg.at("section")},
                        {"metric", metric},
                        {"variant", agg.at("variant")},
                        {"images", agg["rows"].size()},
                        {"prompts", seen_prompts.size()},
                        {"groups", groups}});
  }

  std::vector<json> ck_metrics(nc, json::object());
  std::vector<double> score(nc, 0);
  int scored_metrics = 0;
  for (const auto& metric : metric_order) {
    const MetricTable& t = tables[metric];
    const size_t np = t.prompts.size();
    // per checkpoint: overall mean, per group mean, mean seed std
    for (size_t c = 0; c < nc; ++c) {
      Acc all, spread;
      std::map<std::string, Acc> by_group;
      for (size_t p = 0; p < np; ++p) {
        const auto& seeds = t.v[c][p];
        if (seeds.empty()) continue;
        for (double x : seeds) {
          all.add(x);
          const std::string& g = t.prompt_group.at(t.prompts[p]);
          if (!g.empty()) by_group[g].add(x);
        }
        spread.add(sample_std(seeds));
      }
      if (all.n == 0) continue;
      ck_metrics[c][metric] = all.mean();
      ck_metrics[c][metric + "_std"] = spread.mean();
      for (const auto& [g, acc] : by_group) ck_metrics[c][metric + "." + g] = acc.mean();
    }
    // per prompt z-scores across checkpoints (population std), then the mean per checkpoint
    std::vector<Acc> z(nc);
    std::vector<std::map<std::string, Acc>> zg(nc);
    for (size_t p = 0; p < np; ++p) {
      std::vector<double> m(nc, std::nan(""));
      Acc mu;
      for (size_t c = 0; c < nc; ++c) {
        Acc a;
        for (double x : t.v[c][p]) a.add(x);
        if (a.n) {
          m[c] = a.mean();
          mu.add(m[c]);
        }
      }
      if (mu.n == 0) continue;
      double mean = mu.mean(), ss = 0;
      for (size_t c = 0; c < nc; ++c)
        if (!std::isnan(m[c])) ss += (m[c] - mean) * (m[c] - mean);
      double sd = std::sqrt(ss / static_cast<double>(mu.n));
      for (size_t c = 0; c < nc; ++c) {
        if (std::isnan(m[c])) continue;
        double zz = sd > 0 ? (m[c] - mean) / sd : 0.0;
        z[c].add(zz);
        const std::string& g = t.prompt_group.at(t.prompts[p]);
        if (!g.empty()) zg[c][g].add(zz);
      }
    }
    double dir = lower_is_better(metric) ? -1.0 : 1.0;
    for (size_t c = 0; c < nc; ++c) {
      if (z[c].n == 0) continue;
      ck_metrics[c]["z." + metric] = z[c].mean();
      for (const auto& [g, acc] : zg[c]) ck_metrics[c]["z." + metric + "." + g] = acc.mean();
      score[c] += dir * z[c].mean();
    }
    ++scored_metrics;
  }
  if (scored_metrics > 0)
    for (double& s : score) s /= scored_metrics;

  std::vector<size_t> order(nc);
  for (size_t i = 0; i < nc; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (score[a] != score[b]) return score[a] > score[b];
    return info.checkpoints[a].first < info.checkpoints[b].first;
  });
  json cks = json::array();
  for (size_t r = 0; r < nc; ++r) {
    size_t c = order[r];
    cks.push_back({{"name", info.checkpoints[c].first},
                   {"identity", info.checkpoints[c].second},
                   {"rank", r + 1},
                   {"score", score[c]},
                   {"metrics", ck_metrics[c]},
                   {"notm_excluded", json::array()}});
  }
  json directions = json::object();
  for (const auto& m : metric_order) directions[m] = lower_is_better(m) ? "lower" : "higher";
  return {{"experiment", {{"name", info.name}, {"version", info.version}, {"seed", info.seed}}},
          {"checkpoints", cks},
          {"sections", sections},
          {"metric_directions", directions},
          {"score", "mean over metrics of the per-prompt z-score, sign flipped where lower is better"}};
}

}  // namespace ghx::exec
