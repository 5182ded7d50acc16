#include "exec/statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "util/error.h"

namespace ghx::exec {

using nlohmann::json;

namespace {

const double k_nan = std::numeric_limits<double>::quiet_NaN();

/// Above this many stored replicate values (8 bytes each) the bootstrap keeps only the headline
/// statistics (m, z.m, score), not the per-group ones: B = 1e6 with many LoRAs would need gigabytes.
constexpr size_t k_replicate_budget = size_t(1) << 25;

/// splitmix64 (Steele, Lea & Flood 2014): fully specified by its constants, unlike the std
/// distributions, whose output differs between standard libraries. The whole bootstrap is one
/// stream from the seed.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : m_state(seed) {}
  uint64_t next() {
    uint64_t z = (m_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, range), 1 <= range < 2^32: Lemire's multiply-shift on the top 32 bits of
  /// next(), drawing again for the few low products that would bias it. 32 bits keep it in plain
  /// 64-bit arithmetic (no __int128); a cell never holds 2^32 seeds.
  uint32_t below(uint32_t range) {
    uint64_t m = (next() >> 32) * range;
    if (static_cast<uint32_t>(m) < range) {
      const uint32_t threshold = static_cast<uint32_t>(0u - range) % range;  // 2^32 mod range
      while (static_cast<uint32_t>(m) < threshold) m = (next() >> 32) * range;
    }
    return static_cast<uint32_t>(m >> 32);
  }

 private:
  uint64_t m_state;
};

double sample_std(const double* v, size_t n) {
  if (n < 2) return 0;
  double m = 0;
  for (size_t i = 0; i < n; ++i) m += v[i];
  m /= static_cast<double>(n);
  double ss = 0;
  for (size_t i = 0; i < n; ++i) ss += (v[i] - m) * (v[i] - m);
  return std::sqrt(ss / static_cast<double>(n - 1));
}

/// The non-NaN values of one metric (or of its NoTM variant) by (checkpoint, prompt) cell.
struct Table {
  std::string metric;
  bool shadowed = false;  ///< m when m_notm exists: m_notm takes its place in the score
  std::vector<std::string> prompts;  ///< first-seen order
  std::map<std::string, size_t> prompt_index;
  std::vector<int> prompt_group;  ///< index into groups, -1 = none; a prompt's group is its first row's
  std::vector<std::string> groups;  ///< first-seen order
  std::vector<std::vector<std::vector<double>>> loading;  ///< [ckpt][prompt] -> values, until finish()
  // Flat after finish(), so that the bootstrap's inner loop touches arrays only: cell = c * np + p.
  std::vector<double> values;
  std::vector<size_t> start;
  std::vector<uint32_t> count;

  void add(size_t nc, size_t ck, const std::string& prompt, const std::string& group, double v) {
    if (loading.empty()) loading.resize(nc);
    auto [it, fresh] = prompt_index.emplace(prompt, prompts.size());
    if (fresh) {
      prompts.push_back(prompt);
      int g = -1;
      if (!group.empty()) {
        auto gi = std::find(groups.begin(), groups.end(), group);
        g = static_cast<int>(gi - groups.begin());
        if (gi == groups.end()) groups.push_back(group);
      }
      prompt_group.push_back(g);
      for (auto& per_ck : loading) per_ck.emplace_back();
    }
    if (!std::isnan(v)) loading[ck][it->second].push_back(v);
  }
  void finish(size_t nc) {
    if (loading.empty()) loading.resize(nc);
    const size_t np = prompts.size();
    start.assign(nc * np, 0);
    count.assign(nc * np, 0);
    for (size_t c = 0; c < nc; ++c)
      for (size_t p = 0; p < np; ++p) {
        const auto& v = loading[c][p];
        start[c * np + p] = values.size();
        count[c * np + p] = static_cast<uint32_t>(v.size());
        values.insert(values.end(), v.begin(), v.end());
      }
    loading.clear();
  }
  /// Estimates per checkpoint: mean, z, then mean and z of each group.
  size_t stride() const { return 2 + 2 * groups.size(); }
  std::string key(size_t k) const {
    const size_t ng = groups.size();
    if (k == 0) return metric;
    if (k == 1) return "z." + metric;
    if (k < 2 + ng) return metric + "." + groups[k - 2];
    return "z." + metric + "." + groups[k - 2 - ng];
  }
};

/// Working space of estimate(), allocated once per table rather than per replicate.
struct Scratch {
  std::vector<double> cell_mean, m_sum, g_sum, z_sum, zg_sum;
  std::vector<int64_t> m_n, g_n, z_n, zg_n;
};

/// The per-checkpoint estimates of `t` from its cell sums (`sum[c * np + p]`, the counts being the
/// table's): out[c * stride + k] in Table::key(k) order, NaN where c has no value. The point
/// estimate and every bootstrap replicate go through this one function, so they agree exactly.
void estimate(const Table& t, size_t nc, const double* sum, Scratch& s, double* out) {
  const size_t np = t.prompts.size(), ng = t.groups.size(), stride = t.stride();
  s.cell_mean.assign(nc, k_nan);
  s.m_sum.assign(nc, 0);
  s.m_n.assign(nc, 0);
  s.z_sum.assign(nc, 0);
  s.z_n.assign(nc, 0);
  s.g_sum.assign(nc * ng, 0);
  s.g_n.assign(nc * ng, 0);
  s.zg_sum.assign(nc * ng, 0);
  s.zg_n.assign(nc * ng, 0);
  for (size_t p = 0; p < np; ++p) {
    const int g = t.prompt_group[p];
    double mu = 0;
    int64_t k = 0;
    for (size_t c = 0; c < nc; ++c) {
      const size_t cell = c * np + p;
      const uint32_t n = t.count[cell];
      if (n == 0) {
        s.cell_mean[c] = k_nan;
        continue;
      }
      s.m_sum[c] += sum[cell];
      s.m_n[c] += n;
      if (g >= 0) {
        s.g_sum[c * ng + g] += sum[cell];
        s.g_n[c * ng + g] += n;
      }
      s.cell_mean[c] = sum[cell] / n;
      mu += s.cell_mean[c];
      ++k;
    }
    if (k == 0) continue;
    // GhostReview's per-prompt standardisation: population std across the checkpoints that have p
    mu /= static_cast<double>(k);
    double ss = 0;
    for (size_t c = 0; c < nc; ++c)
      if (!std::isnan(s.cell_mean[c])) ss += (s.cell_mean[c] - mu) * (s.cell_mean[c] - mu);
    const double sd = std::sqrt(ss / static_cast<double>(k));
    for (size_t c = 0; c < nc; ++c) {
      if (std::isnan(s.cell_mean[c])) continue;
      const double z = sd > 0 ? (s.cell_mean[c] - mu) / sd : 0.0;
      s.z_sum[c] += z;
      ++s.z_n[c];
      if (g >= 0) {
        s.zg_sum[c * ng + g] += z;
        ++s.zg_n[c * ng + g];
      }
    }
  }
  auto ratio = [](double a, int64_t n) { return n ? a / static_cast<double>(n) : k_nan; };
  for (size_t c = 0; c < nc; ++c) {
    double* o = out + c * stride;
    o[0] = ratio(s.m_sum[c], s.m_n[c]);
    o[1] = ratio(s.z_sum[c], s.z_n[c]);
    for (size_t g = 0; g < ng; ++g) {
      o[2 + g] = ratio(s.g_sum[c * ng + g], s.g_n[c * ng + g]);
      o[2 + ng + g] = ratio(s.zg_sum[c * ng + g], s.zg_n[c * ng + g]);
    }
  }
}

/// Two-way layout with replication: shares of the total sum of squares about the grand mean.
json variance_split(const Table& t, size_t nc) {
  const size_t np = t.prompts.size(), n = t.values.size();
  double grand = 0;
  for (double x : t.values) grand += x;
  grand = n ? grand / static_cast<double>(n) : 0.0;
  std::vector<double> ck_sum(nc, 0), pr_sum(np, 0);
  std::vector<int64_t> ck_n(nc, 0), pr_n(np, 0);
  double total = 0, seed = 0;
  for (size_t c = 0; c < nc; ++c)
    for (size_t p = 0; p < np; ++p) {
      const size_t cell = c * np + p, m = t.count[cell];
      if (m == 0) continue;
      const double* v = t.values.data() + t.start[cell];
      double s = 0;
      for (size_t i = 0; i < m; ++i) s += v[i];
      const double cell_mean = s / static_cast<double>(m);
      for (size_t i = 0; i < m; ++i) {
        total += (v[i] - grand) * (v[i] - grand);
        seed += (v[i] - cell_mean) * (v[i] - cell_mean);
      }
      ck_sum[c] += s;
      ck_n[c] += static_cast<int64_t>(m);
      pr_sum[p] += s;
      pr_n[p] += static_cast<int64_t>(m);
    }
  auto between = [&](const std::vector<double>& sum, const std::vector<int64_t>& cnt) {
    double ss = 0;
    for (size_t i = 0; i < sum.size(); ++i) {
      if (cnt[i] == 0) continue;
      const double d = sum[i] / static_cast<double>(cnt[i]) - grand;
      ss += static_cast<double>(cnt[i]) * d * d;
    }
    return ss;
  };
  const double ss_ck = between(ck_sum, ck_n), ss_pr = between(pr_sum, pr_n);
  // Exact decomposition only for balanced data; with missing cells the remainder can dip below 0.
  const double inter = std::max(0.0, total - ss_ck - ss_pr - seed);
  auto share = [&](double ss) { return total > 0 ? ss / total : 0.0; };
  return {{"checkpoint", share(ss_ck)},
          {"prompt", share(ss_pr)},
          {"checkpoint_x_prompt", share(inter)},
          {"seed", share(seed)},
          {"total_ss", total},
          {"n", n}};
}

/// Percentile interval at `level` of the replicates `v[0..b)` (sorted in `buf`): type-7 quantiles,
/// linear interpolation between order statistics (R's default, numpy's "linear").
json interval(const double* v, size_t b, double level, std::vector<double>& buf) {
  buf.assign(v, v + b);
  std::sort(buf.begin(), buf.end());
  auto quantile = [&](double q) {
    const double h = static_cast<double>(b - 1) * q;
    const size_t j = static_cast<size_t>(std::floor(h));
    if (j + 1 >= b) return buf[b - 1];
    return buf[j] + (h - static_cast<double>(j)) * (buf[j + 1] - buf[j]);
  };
  return json::array({quantile((1 - level) / 2), quantile((1 + level) / 2)});
}

}  // namespace

bool lower_is_better(const std::string& metric) {
  return metric.rfind("style_loss", 0) == 0 || metric.rfind("lora_loss", 0) == 0;
}

json aggregate_json(const std::string& section, const std::string& metric, const std::string& variant,
                    const std::vector<AggregateRow>& rows,
                    const std::vector<std::pair<std::string, std::string>>* notm_exclude) {
  json r = json::array();
  for (const auto& row : rows) r.push_back({row.checkpoint, row.prompt, row.group, row.seed, row.value});
  json out = {{"section", section}, {"metric", metric}, {"variant", variant}, {"rows", std::move(r)}};
  if (notm_exclude) {
    json ex = json::array();
    for (const auto& [ck, group] : *notm_exclude) ex.push_back({ck, group});
    out["notm_exclude"] = std::move(ex);
  }
  return out;
}

json compute_results(const ReviewInfo& info, const std::vector<json>& aggregates) {
  if (info.bootstrap < 0 || info.bootstrap > k_max_bootstrap)
    throw Error("statistics: bootstrap = " + std::to_string(info.bootstrap) + " is out of range [0, " +
                std::to_string(k_max_bootstrap) + "]");
  if (!(info.ci > 0 && info.ci < 1)) throw Error("statistics: ci must lie strictly between 0 and 1");
  const size_t nc = info.checkpoints.size();
  const size_t B = static_cast<size_t>(info.bootstrap);
  std::map<std::string, size_t> ck_index;
  for (size_t i = 0; i < nc; ++i) ck_index[info.checkpoints[i].first] = i;

  // Pass 1: metrics in first-seen order, and which of them get a NoTM variant.
  std::vector<std::string> metric_order;
  std::set<std::string> has_notm;
  std::vector<std::set<std::pair<std::string, std::string>>> excluded(aggregates.size());
  std::vector<std::set<std::string>> notm_excluded(nc);
  for (size_t a = 0; a < aggregates.size(); ++a) {
    const json& agg = aggregates[a];
    if (!agg.is_object() || !agg.contains("rows") || !agg["rows"].is_array() || !agg.contains("metric") ||
        !agg["metric"].is_string())
      throw Error("aggregate result is malformed");
    const std::string metric = agg["metric"].get<std::string>();
    if (std::find(metric_order.begin(), metric_order.end(), metric) == metric_order.end())
      metric_order.push_back(metric);
    if (!agg.contains("notm_exclude")) continue;
    if (!agg["notm_exclude"].is_array()) throw Error("aggregate notm_exclude is malformed");
    has_notm.insert(metric);
    for (const auto& pair : agg["notm_exclude"]) {
      if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string())
        throw Error("aggregate notm_exclude is malformed");
      const std::string ck = pair[0].get<std::string>(), group = pair[1].get<std::string>();
      excluded[a].emplace(ck, group);
      // made_with may name checkpoints that are not under review: nothing to leave out for them
      auto ci = ck_index.find(ck);
      if (ci != ck_index.end()) notm_excluded[ci->second].insert(group);
    }
  }
  std::vector<Table> tables;
  std::map<std::string, size_t> table_of;  // metric -> index of its table (its NoTM table is next)
  for (const auto& m : metric_order) {
    table_of[m] = tables.size();
    tables.emplace_back();
    tables.back().metric = m;
    if (has_notm.count(m)) {
      tables.back().shadowed = true;
      tables.emplace_back();
      tables.back().metric = m + "_notm";
    }
  }

  // Pass 2: the rows. An aggregate of a NoTM metric without its own list contributes every row.
  json sections = json::array();
  for (size_t a = 0; a < aggregates.size(); ++a) {
    const json& agg = aggregates[a];
    const std::string metric = agg["metric"].get<std::string>();
    Table& t = tables[table_of[metric]];
    Table* notm = t.shadowed ? &tables[table_of[metric] + 1] : nullptr;
    std::vector<std::string> groups;
    std::set<std::string> seen_prompts;
    // This section's own numbers per checkpoint (a metric used by two sections is merged in the
    // tables above): mean, and mean over its prompts of the seed-to-seed sample std.
    std::vector<double> sec_sum(nc, 0.0);
    std::vector<int64_t> sec_n(nc, 0);
    std::map<std::string, size_t> sec_prompt;               // prompt -> its index in this section
    std::vector<std::vector<std::vector<double>>> sec_cells(nc);  // [checkpoint][prompt] -> values
    for (const auto& row : agg["rows"]) {
      if (!row.is_array() || row.size() < 5) throw Error("aggregate row is malformed");
      const std::string ck = row.at(0).get<std::string>();
      const std::string prompt = agg.at("section").get<std::string>() + "/" + row.at(1).get<std::string>();
      const std::string group = row.at(2).get<std::string>();
      auto ci = ck_index.find(ck);
      if (ci == ck_index.end()) throw Error("aggregate names unknown checkpoint '" + ck + "'");
      if (!group.empty() && std::find(groups.begin(), groups.end(), group) == groups.end()) groups.push_back(group);
      seen_prompts.insert(prompt);
      const double value = row.at(4).is_number() ? row.at(4).get<double>() : k_nan;
      t.add(nc, ci->second, prompt, group, value);
      if (notm && !excluded[a].count({ck, group})) notm->add(nc, ci->second, prompt, group, value);
      if (!std::isnan(value)) {
        sec_sum[ci->second] += value;
        ++sec_n[ci->second];
        const size_t pi = sec_prompt.emplace(prompt, sec_prompt.size()).first->second;
        auto& cells = sec_cells[ci->second];
        if (cells.size() <= pi) cells.resize(pi + 1);
        cells[pi].push_back(value);
      }
    }
    json by_checkpoint = json::object();
    for (size_t c = 0; c < nc; ++c) {
      if (sec_n[c] == 0) continue;
      double spread = 0;
      size_t cells = 0;
      for (const auto& cell : sec_cells[c]) {
        if (cell.empty()) continue;  // a prompt only other checkpoints have
        spread += sample_std(cell.data(), cell.size());
        ++cells;
      }
      by_checkpoint[info.checkpoints[c].first] = {{"mean", sec_sum[c] / static_cast<double>(sec_n[c])},
                                                  {"std", cells ? spread / static_cast<double>(cells) : 0.0}};
    }
    sections.push_back({{"id", agg.at("section")},
                        {"metric", metric},
                        {"variant", agg.at("variant")},
                        {"images", agg["rows"].size()},
                        {"prompts", seen_prompts.size()},
                        {"groups", groups},
                        {"by_checkpoint", by_checkpoint}});
  }
  for (auto& t : tables) t.finish(nc);

  // Point estimates, the seed spread and the variance split.
  const size_t nt = tables.size();
  std::vector<Scratch> scratch(nt);
  std::vector<std::vector<double>> point(nt);
  std::vector<json> ck_metrics(nc, json::object());
  json variance = json::object();
  for (size_t ti = 0; ti < nt; ++ti) {
    const Table& t = tables[ti];
    const size_t np = t.prompts.size(), stride = t.stride();
    std::vector<double> sums(nc * np, 0);
    for (size_t cell = 0; cell < sums.size(); ++cell)
      for (uint32_t i = 0; i < t.count[cell]; ++i) sums[cell] += t.values[t.start[cell] + i];
    point[ti].assign(nc * stride, k_nan);
    estimate(t, nc, sums.data(), scratch[ti], point[ti].data());
    for (size_t c = 0; c < nc; ++c) {
      if (std::isnan(point[ti][c * stride])) continue;  // no value of this metric for c
      for (size_t k = 0; k < stride; ++k)
        if (!std::isnan(point[ti][c * stride + k])) ck_metrics[c][t.key(k)] = point[ti][c * stride + k];
      // seed-to-seed spread: a cell with a single value counts as spread 0
      double spread = 0;
      int64_t cells = 0;
      for (size_t p = 0; p < np; ++p) {
        const size_t cell = c * np + p;
        if (t.count[cell] == 0) continue;
        spread += sample_std(t.values.data() + t.start[cell], t.count[cell]);
        ++cells;
      }
      ck_metrics[c][t.metric + "_std"] = spread / static_cast<double>(cells);
    }
    variance[t.metric] = variance_split(t, nc);
  }

  // Score: mean over the scored metrics (m_notm in place of m) of the signed z; a checkpoint
  // without a metric gets 0 for it.
  std::vector<size_t> scored;
  for (size_t ti = 0; ti < nt; ++ti)
    if (!tables[ti].shadowed) scored.push_back(ti);
  std::vector<double> dir(nt);
  for (size_t ti = 0; ti < nt; ++ti) dir[ti] = lower_is_better(tables[ti].metric) ? -1.0 : 1.0;
  auto score_of = [&](const std::vector<const double*>& est, double* score) {
    std::fill(score, score + nc, 0.0);
    for (size_t ti : scored)
      for (size_t c = 0; c < nc; ++c) {
        const double z = est[ti][c * tables[ti].stride() + 1];
        if (!std::isnan(z)) score[c] += dir[ti] * z;
      }
    if (!scored.empty())
      for (size_t c = 0; c < nc; ++c) score[c] /= static_cast<double>(scored.size());
  };
  std::vector<double> score(nc);
  {
    std::vector<const double*> est(nt);
    for (size_t ti = 0; ti < nt; ++ti) est[ti] = point[ti].data();
    score_of(est, score.data());
  }

  // Bootstrap: B joint replicates; each redraws every cell's seeds with replacement, in the fixed
  // order replicate, table, checkpoint, prompt, draw, from one splitmix64 stream.
  size_t stored = nc;  // score
  for (const auto& t : tables) stored += nc * t.stride();
  const bool all_kept = B == 0 || stored <= k_replicate_budget / B;
  std::vector<size_t> kept(nt);  // statistics per checkpoint whose replicates are kept
  for (size_t ti = 0; ti < nt; ++ti) kept[ti] = all_kept ? tables[ti].stride() : 2;
  std::vector<std::vector<double>> reps(nt);  // [table][(c * kept + k) * B + b]
  std::vector<double> score_reps(nc * B);     // [c * B + b]
  if (B > 0) {
    SplitMix64 rng(info.stat_seed);
    std::vector<std::vector<double>> rsum(nt), rest(nt);
    std::vector<const double*> est(nt);
    for (size_t ti = 0; ti < nt; ++ti) {
      reps[ti].resize(nc * kept[ti] * B);
      rsum[ti].resize(tables[ti].count.size());
      rest[ti].resize(nc * tables[ti].stride());
      est[ti] = rest[ti].data();
    }
    std::vector<double> rscore(nc);
    for (size_t b = 0; b < B; ++b) {
      for (size_t ti = 0; ti < nt; ++ti) {
        const Table& t = tables[ti];
        const double* values = t.values.data();
        for (size_t cell = 0; cell < t.count.size(); ++cell) {
          const uint32_t n = t.count[cell];
          const double* v = values + t.start[cell];
          double s = 0;
          for (uint32_t i = 0; i < n; ++i) s += v[rng.below(n)];
          rsum[ti][cell] = s;
        }
        estimate(t, nc, rsum[ti].data(), scratch[ti], rest[ti].data());
        const size_t stride = t.stride();
        for (size_t c = 0; c < nc; ++c)
          for (size_t k = 0; k < kept[ti]; ++k) reps[ti][(c * kept[ti] + k) * B + b] = rest[ti][c * stride + k];
      }
      score_of(est, rscore.data());
      for (size_t c = 0; c < nc; ++c) score_reps[c * B + b] = rscore[c];
    }
  }

  std::vector<size_t> order(nc);
  for (size_t i = 0; i < nc; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (score[a] != score[b]) return score[a] > score[b];
    return info.checkpoints[a].first < info.checkpoints[b].first;
  });
  std::vector<double> buf;
  json cks = json::array();
  for (size_t r = 0; r < nc; ++r) {
    const size_t c = order[r];
    json ck = {{"name", info.checkpoints[c].first},
               {"identity", info.checkpoints[c].second},
               {"rank", r + 1},
               {"score", score[c]},
               {"metrics", ck_metrics[c]},
               {"notm_excluded", notm_excluded[c]}};
    if (B > 0) {
      json ci = json::object();
      for (size_t ti = 0; ti < nt; ++ti)
        for (size_t k = 0; k < kept[ti]; ++k) {
          if (std::isnan(point[ti][c * tables[ti].stride() + k])) continue;
          ci[tables[ti].key(k)] = interval(&reps[ti][(c * kept[ti] + k) * B], B, info.ci, buf);
        }
      ci["score"] = interval(&score_reps[c * B], B, info.ci, buf);
      ck["ci"] = std::move(ci);
    }
    cks.push_back(std::move(ck));
  }

  // How sure each step of the ranking is, from the same joint replicates.
  json gaps = json::array();
  std::vector<double> diff(B);
  for (size_t r = 0; r + 1 < nc; ++r) {
    const size_t u = order[r], l = order[r + 1];
    json gap = {{"rank", r + 1},
                {"upper", info.checkpoints[u].first},
                {"lower", info.checkpoints[l].first},
                {"diff", score[u] - score[l]},
                {"ci", nullptr},
                {"p_order", nullptr},
                {"beyond_noise", false}};
    if (B > 0) {
      size_t above = 0;
      for (size_t b = 0; b < B; ++b) {
        diff[b] = score_reps[u * B + b] - score_reps[l * B + b];
        if (score_reps[u * B + b] > score_reps[l * B + b]) ++above;
      }
      gap["ci"] = interval(diff.data(), B, info.ci, buf);
      gap["p_order"] = static_cast<double>(above) / static_cast<double>(B);
      gap["beyond_noise"] = gap["ci"][0].get<double>() > 0;
    }
    gaps.push_back(std::move(gap));
  }

  json directions = json::object();
  for (const auto& t : tables) directions[t.metric] = lower_is_better(t.metric) ? "lower" : "higher";
  return {{"experiment", {{"name", info.name}, {"version", info.version}, {"seed", info.seed}}},
          {"checkpoints", cks},
          {"sections", sections},
          {"metric_directions", directions},
          {"score",
           "mean over metrics of the per-prompt z-score (m_notm in place of m where NoTM applies), sign flipped where "
           "lower is better"},
          {"variance", variance},
          {"rank_gaps", gaps},
          {"statistics",
           {{"bootstrap", info.bootstrap},
            {"ci", info.ci},
            {"seed", info.stat_seed},
            {"resampling", "seeds within (checkpoint, prompt) cells"}}}};
}

}  // namespace ghx::exec
