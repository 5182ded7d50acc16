#include "stats/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <set>

#include "util/error.h"
#include "util/strings.h"

namespace ghx::stats {

using nlohmann::json;

namespace {

const double k_nan = std::numeric_limits<double>::quiet_NaN();

/// Above this many stored replicate values (8 bytes each) the bootstrap keeps only the headline
/// statistics (m, z.m, score), not the per-group ones: B = 1e6 with many LoRAs would need gigabytes.
constexpr size_t k_replicate_budget = size_t(1) << 25;

/// A per-prompt spread at most this fraction of the largest cell mean is float rounding, not a
/// difference: three identical means must give z = 0, not +-1 from sigma ~ 1e-17.
constexpr double k_sigma_tolerance = 1e-9;

/// The largest |value| accepted: sums and squares over millions of values stay finite.
constexpr double k_max_value = 1e100;

/// Past this many stored replicate values (8 bytes each) even the headline statistics would not
/// fit in memory sensibly: an error naming a smaller bootstrap, not an allocation failure.
constexpr size_t k_replicate_limit = size_t(1) << 28;

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
  /// 64-bit arithmetic (no __int128); a section never holds 2^32 prompts nor a prompt 2^32 seeds.
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

/// A prompt of the review (`section/id`), shared by every table (metric) that scores it.
struct Prompt {
  size_t section = 0;  ///< index of its stratum in pass 1
  std::string group;   ///< its first row's group
  std::vector<std::string> seeds;  ///< seed labels, first-seen order over all tables
  std::map<std::string, uint32_t> seed_index;
};

/// The prompts, their seeds and the two passes' strata.
struct Design {
  std::vector<Prompt> prompts;
  std::map<std::string, uint32_t> prompt_index;
  std::vector<std::string> sections;
  std::vector<std::vector<uint32_t>> by_section;  ///< pass 1 strata: prompts of each section
  std::vector<std::vector<uint32_t>> by_group;    ///< pass 2 strata: prompts of each (section, group)

  uint32_t add(const std::string& section, const std::string& key, const std::string& group, const std::string& seed,
               uint32_t* seed_out) {
    auto [it, fresh] = prompt_index.emplace(key, static_cast<uint32_t>(prompts.size()));
    if (fresh) {
      Prompt p;
      auto si = std::find(sections.begin(), sections.end(), section);
      p.section = static_cast<size_t>(si - sections.begin());
      if (si == sections.end()) sections.push_back(section);
      p.group = group;
      prompts.push_back(std::move(p));
    }
    Prompt& p = prompts[it->second];
    auto [sit, new_seed] = p.seed_index.emplace(seed, static_cast<uint32_t>(p.seeds.size()));
    if (new_seed) p.seeds.push_back(seed);
    *seed_out = sit->second;
    return it->second;
  }
  void finish() {
    by_section.assign(sections.size(), {});
    std::vector<std::pair<size_t, std::string>> group_keys;
    for (uint32_t i = 0; i < prompts.size(); ++i) {
      by_section[prompts[i].section].push_back(i);
      if (prompts[i].group.empty()) continue;
      std::pair<size_t, std::string> k{prompts[i].section, prompts[i].group};
      auto gi = std::find(group_keys.begin(), group_keys.end(), k);
      if (gi == group_keys.end()) {
        group_keys.push_back(k);
        by_group.emplace_back();
        gi = group_keys.end() - 1;
      }
      by_group[static_cast<size_t>(gi - group_keys.begin())].push_back(i);
    }
  }
};

/// One drawn prompt of a replicate: the prompt and its drawn seed indices (idx[0..m)).
struct Slot {
  uint32_t prompt;
  const uint32_t* idx;
  uint32_t m;
};

/// The values of one metric (or of its NoTM variant).
struct Table {
  std::string metric;
  bool shadowed = false;  ///< m when m_notm exists: m_notm takes its place in the score
  std::vector<uint32_t> prompts;   ///< global prompt indices, first-seen order in this table
  std::vector<int32_t> local;      ///< global prompt -> index in `prompts`, -1 = not in this table
  std::vector<int> prompt_group;   ///< per local prompt: index into groups, -1 = none
  std::vector<std::string> groups;  ///< first-seen order
  struct Row {
    uint32_t ck, prompt, seed;
    double value;
  };
  std::vector<Row> rows;  ///< non-missing values, until finish()
  // After finish(): per (checkpoint, local prompt) the values in row order (seed spread, variance
  // split), and per (checkpoint, local prompt, seed index) their sum and count (the bootstrap).
  std::vector<std::vector<double>> cells;  ///< [c * np + pl]
  std::vector<size_t> offset;              ///< per local prompt: first seed slot
  size_t width = 0;                        ///< seed slots per checkpoint
  std::vector<double> seed_sum;            ///< [c * width + offset[pl] + s]
  std::vector<uint32_t> seed_count;

  void add(const Design& d, uint32_t ck, uint32_t prompt, uint32_t seed, const std::string& group, double v) {
    if (local.size() < d.prompts.size()) local.resize(d.prompts.size(), -1);
    if (local[prompt] < 0) {
      local[prompt] = static_cast<int32_t>(prompts.size());
      prompts.push_back(prompt);
      int g = -1;
      if (!group.empty()) {
        auto gi = std::find(groups.begin(), groups.end(), group);
        g = static_cast<int>(gi - groups.begin());
        if (gi == groups.end()) groups.push_back(group);
      }
      prompt_group.push_back(g);
    }
    if (!std::isnan(v)) rows.push_back({ck, prompt, seed, v});
  }
  void finish(const Design& d, size_t nc) {
    local.resize(d.prompts.size(), -1);
    const size_t np = prompts.size();
    offset.resize(np);
    width = 0;
    for (size_t pl = 0; pl < np; ++pl) {
      offset[pl] = width;
      width += d.prompts[prompts[pl]].seeds.size();
    }
    cells.assign(nc * np, {});
    seed_sum.assign(nc * width, 0.0);
    seed_count.assign(nc * width, 0);
    for (const Row& r : rows) {
      const size_t pl = static_cast<size_t>(local[r.prompt]);
      cells[r.ck * np + pl].push_back(r.value);
      seed_sum[r.ck * width + offset[pl] + r.seed] += r.value;
      ++seed_count[r.ck * width + offset[pl] + r.seed];
    }
    rows.clear();
    rows.shrink_to_fit();
    // One group per prompt, the design's (its first row over all tables), so that the pass-2
    // strata and the group keys agree.
    groups.clear();
    for (size_t pl = 0; pl < np; ++pl) {
      const std::string& group = d.prompts[prompts[pl]].group;
      int g = -1;
      if (!group.empty()) {
        auto gi = std::find(groups.begin(), groups.end(), group);
        g = static_cast<int>(gi - groups.begin());
        if (gi == groups.end()) groups.push_back(group);
      }
      prompt_group[pl] = g;
    }
  }
  bool has(size_t c, size_t pl) const { return !cells[c * prompts.size() + pl].empty(); }
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

/// The per-checkpoint estimates of `t` from the drawn `slots` (docs/statistics.md: each slot is
/// a prompt, its cell c's values at the drawn seeds): out[c * stride + k] in Table::key(k) order,
/// NaN where c has no value. The point estimate (every prompt once, every seed once) and every
/// replicate go through this one function, so they agree exactly.
void estimate(const Table& t, size_t nc, const std::vector<Slot>& slots, Scratch& s, double* out) {
  const size_t ng = t.groups.size(), stride = t.stride();
  s.cell_mean.assign(nc, k_nan);
  s.m_sum.assign(nc, 0);
  s.m_n.assign(nc, 0);
  s.z_sum.assign(nc, 0);
  s.z_n.assign(nc, 0);
  s.g_sum.assign(nc * ng, 0);
  s.g_n.assign(nc * ng, 0);
  s.zg_sum.assign(nc * ng, 0);
  s.zg_n.assign(nc * ng, 0);
  for (const Slot& slot : slots) {
    const int32_t pl = slot.prompt < t.local.size() ? t.local[slot.prompt] : -1;
    if (pl < 0) continue;
    const int g = t.prompt_group[static_cast<size_t>(pl)];
    double mu = 0, biggest = 0;
    int64_t k = 0;
    for (size_t c = 0; c < nc; ++c) {
      const size_t base = c * t.width + t.offset[static_cast<size_t>(pl)];
      const double* sum = t.seed_sum.data() + base;
      const uint32_t* cnt = t.seed_count.data() + base;
      double cell = 0;
      int64_t n = 0;
      for (uint32_t i = 0; i < slot.m; ++i) {
        const uint32_t j = slot.idx[i];
        if (cnt[j] == 0) continue;
        cell += sum[j];
        n += cnt[j];
      }
      if (n == 0) {
        s.cell_mean[c] = k_nan;
        continue;
      }
      s.m_sum[c] += cell;
      s.m_n[c] += n;
      if (g >= 0) {
        s.g_sum[c * ng + static_cast<size_t>(g)] += cell;
        s.g_n[c * ng + static_cast<size_t>(g)] += n;
      }
      s.cell_mean[c] = cell / static_cast<double>(n);
      mu += s.cell_mean[c];
      biggest = std::max(biggest, std::fabs(s.cell_mean[c]));
      ++k;
    }
    if (k == 0) continue;
    // GhostReview's per-prompt standardisation: population std across the checkpoints that have p
    mu /= static_cast<double>(k);
    double ss = 0;
    for (size_t c = 0; c < nc; ++c)
      if (!std::isnan(s.cell_mean[c])) ss += (s.cell_mean[c] - mu) * (s.cell_mean[c] - mu);
    const double sd = std::sqrt(ss / static_cast<double>(k));
    const bool spread = sd > k_sigma_tolerance * biggest;
    for (size_t c = 0; c < nc; ++c) {
      if (std::isnan(s.cell_mean[c])) continue;
      const double z = spread ? (s.cell_mean[c] - mu) / sd : 0.0;
      s.z_sum[c] += z;
      ++s.z_n[c];
      if (g >= 0) {
        s.zg_sum[c * ng + static_cast<size_t>(g)] += z;
        ++s.zg_n[c * ng + static_cast<size_t>(g)];
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

/// One replicate's draws over `strata` (docs/statistics.md): per stratum of n prompts,
/// max(1, n - 1) slots, each a prompt draw then its m seed draws.
void draw(SplitMix64& rng, const Design& d, const std::vector<std::vector<uint32_t>>& strata,
          std::vector<uint32_t>& idx, std::vector<Slot>& slots) {
  idx.clear();
  std::vector<std::pair<uint32_t, size_t>> drawn;  // prompt, start in idx
  for (const auto& stratum : strata) {
    const uint32_t n = static_cast<uint32_t>(stratum.size());
    const uint32_t k = n > 1 ? n - 1 : 1;
    for (uint32_t j = 0; j < k; ++j) {
      const uint32_t p = stratum[rng.below(n)];
      const uint32_t m = static_cast<uint32_t>(d.prompts[p].seeds.size());
      drawn.emplace_back(p, idx.size());
      for (uint32_t i = 0; i < m; ++i) idx.push_back(rng.below(m));
    }
  }
  slots.clear();
  for (const auto& [p, start] : drawn)
    slots.push_back({p, idx.data() + start, static_cast<uint32_t>(d.prompts[p].seeds.size())});
}

/// Two-way layout with replication: shares of the total sum of squares about the grand mean.
json variance_split(const Table& t, size_t nc) {
  const size_t np = t.prompts.size();
  double grand = 0;
  size_t n = 0;
  for (const auto& cell : t.cells)
    for (double x : cell) grand += x, ++n;
  grand = n ? grand / static_cast<double>(n) : 0.0;
  std::vector<double> ck_sum(nc, 0), pr_sum(np, 0);
  std::vector<int64_t> ck_n(nc, 0), pr_n(np, 0);
  double total = 0, seed = 0;
  for (size_t c = 0; c < nc; ++c)
    for (size_t p = 0; p < np; ++p) {
      const std::vector<double>& v = t.cells[c * np + p];
      const size_t m = v.size();
      if (m == 0) continue;
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
      const double dev = sum[i] / static_cast<double>(cnt[i]) - grand;
      ss += static_cast<double>(cnt[i]) * dev * dev;
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

/// Percentile interval at `level` of the replicates v[0], v[stride], ... (B of them), leaving out
/// NaN (a replicate without the statistic): type-7 quantiles (R's default, numpy's "linear"), and
/// the replicates' sample standard deviation. false when no replicate has a value.
bool interval(const double* v, size_t b, double level, std::vector<double>& buf, json* ci, double* se) {
  buf.clear();
  for (size_t i = 0; i < b; ++i)
    if (!std::isnan(v[i])) buf.push_back(v[i]);
  if (buf.empty()) return false;
  *se = sample_std(buf.data(), buf.size());
  std::sort(buf.begin(), buf.end());
  const size_t n = buf.size();
  auto quantile = [&](double q) {
    const double h = static_cast<double>(n - 1) * q;
    const size_t j = static_cast<size_t>(std::floor(h));
    if (j + 1 >= n) return buf[n - 1];
    return buf[j] + (h - static_cast<double>(j)) * (buf[j + 1] - buf[j]);
  };
  *ci = json::array({quantile((1 - level) / 2), quantile((1 + level) / 2)});
  return true;
}

std::string percent(double level) {
  std::string s = util::fixed_double(100.0 * level, 1);
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s + "%";
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
  if (info.bootstrap != 0 && (info.bootstrap < k_min_bootstrap || info.bootstrap > k_max_bootstrap))
    throw Error("statistics: bootstrap = " + std::to_string(info.bootstrap) + " is out of range (0, or " +
                std::to_string(k_min_bootstrap) + " to " + std::to_string(k_max_bootstrap) + ")");
  if (!(info.ci > 0 && info.ci < 1)) throw Error("statistics: ci must lie strictly between 0 and 1");
  const size_t nc = info.checkpoints.size();
  const size_t B = static_cast<size_t>(info.bootstrap);
  const double alpha = 1 - info.ci;
  std::map<std::string, size_t> ck_index;
  for (size_t i = 0; i < nc; ++i) ck_index[info.checkpoints[i].first] = i;
  auto lower = [&](const std::string& m) { return lower_is_better(m) || info.lower_better.count(m) > 0; };

  // Pass 1: metrics in first-seen order, and which of them get a NoTM variant.
  std::vector<std::string> metric_order;
  std::set<std::string> has_notm;
  std::vector<std::set<std::pair<std::string, std::string>>> excluded(aggregates.size());
  std::vector<std::set<std::string>> notm_excluded(nc);
  for (size_t a = 0; a < aggregates.size(); ++a) {
    const json& agg = aggregates[a];
    if (!agg.is_object() || !agg.contains("rows") || !agg["rows"].is_array() || !agg.contains("metric") ||
        !agg["metric"].is_string() || !agg.contains("section") || !agg["section"].is_string())
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
  Design design;
  json sections = json::array();
  for (size_t a = 0; a < aggregates.size(); ++a) {
    const json& agg = aggregates[a];
    const std::string metric = agg["metric"].get<std::string>();
    const std::string section = agg["section"].get<std::string>();
    Table& t = tables[table_of[metric]];
    Table* notm = t.shadowed ? &tables[table_of[metric] + 1] : nullptr;
    std::vector<std::string> groups;
    std::set<std::string> seen_prompts;
    // This section's own numbers per checkpoint (a metric used by two sections is merged in the
    // tables above): mean, and mean over its prompts of the seed-to-seed sample std.
    std::vector<double> sec_sum(nc, 0.0);
    std::vector<int64_t> sec_n(nc, 0);
    std::map<std::string, size_t> sec_prompt;                     // prompt -> its index in this section
    std::vector<std::vector<std::vector<double>>> sec_cells(nc);  // [checkpoint][prompt] -> values
    for (const auto& row : agg["rows"]) {
      if (!row.is_array() || row.size() < 5 || !row[0].is_string() || !row[1].is_string() || !row[2].is_string() ||
          !row[3].is_string())
        throw Error("aggregate row is malformed");
      const std::string ck = row[0].get<std::string>();
      // (section, id) as one key; U+001F cannot occur in a TOML id and splits them unambiguously
      const std::string prompt = section + "\x1f" + row[1].get<std::string>();
      const std::string group = row[2].get<std::string>();
      auto ci = ck_index.find(ck);
      if (ci == ck_index.end()) throw Error("aggregate names unknown checkpoint '" + ck + "'");
      if (!group.empty() && std::find(groups.begin(), groups.end(), group) == groups.end()) groups.push_back(group);
      seen_prompts.insert(prompt);
      if (!row[4].is_number() && !row[4].is_null()) throw Error("aggregate value is neither a number nor null");
      const double value = row[4].is_number() ? row[4].get<double>() : k_nan;
      // sums of a few million such values stay finite
      if (std::fabs(value) > k_max_value) throw Error("aggregate value " + row[4].dump() + " is out of range");
      uint32_t seed = 0;
      const uint32_t p = design.add(section, prompt, group, row[3].get<std::string>(), &seed);
      const uint32_t c = static_cast<uint32_t>(ci->second);
      t.add(design, c, p, seed, group, value);
      if (notm && !excluded[a].count({ck, group})) notm->add(design, c, p, seed, group, value);
      if (!std::isnan(value)) {
        sec_sum[c] += value;
        ++sec_n[c];
        const size_t pi = sec_prompt.emplace(prompt, sec_prompt.size()).first->second;
        auto& cells = sec_cells[c];
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
    sections.push_back({{"id", section},
                        {"metric", metric},
                        {"variant", agg.contains("variant") && agg["variant"].is_string() ? agg["variant"] : json("")},
                        {"images", agg["rows"].size()},
                        {"prompts", seen_prompts.size()},
                        {"groups", groups},
                        {"by_checkpoint", by_checkpoint}});
  }
  design.finish();
  for (auto& t : tables) t.finish(design, nc);

  // The identity draw: every prompt once (in stratum order), every seed once.
  std::vector<uint32_t> identity_idx;
  std::vector<Slot> identity;
  {
    size_t most = 0;
    for (const auto& p : design.prompts) most = std::max(most, p.seeds.size());
    identity_idx.resize(most);
    std::iota(identity_idx.begin(), identity_idx.end(), 0u);
    for (const auto& stratum : design.by_section)
      for (uint32_t p : stratum)
        identity.push_back({p, identity_idx.data(), static_cast<uint32_t>(design.prompts[p].seeds.size())});
  }

  // Point estimates, the seed spread and the variance split.
  const size_t nt = tables.size();
  std::vector<Scratch> scratch(nt);
  std::vector<std::vector<double>> point(nt);
  std::vector<json> ck_metrics(nc, json::object());
  json variance = json::object();
  for (size_t ti = 0; ti < nt; ++ti) {
    const Table& t = tables[ti];
    const size_t np = t.prompts.size(), stride = t.stride();
    point[ti].assign(nc * stride, k_nan);
    estimate(t, nc, identity, scratch[ti], point[ti].data());
    for (size_t c = 0; c < nc; ++c) {
      if (std::isnan(point[ti][c * stride])) continue;  // no value of this metric for c
      for (size_t k = 0; k < stride; ++k)
        if (!std::isnan(point[ti][c * stride + k])) ck_metrics[c][t.key(k)] = point[ti][c * stride + k];
      // seed-to-seed spread: a cell with a single value counts as spread 0
      double spread = 0;
      int64_t cells = 0;
      for (size_t p = 0; p < np; ++p) {
        const std::vector<double>& v = t.cells[c * np + p];
        if (v.empty()) continue;
        spread += sample_std(v.data(), v.size());
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
  for (size_t ti = 0; ti < nt; ++ti) dir[ti] = lower(tables[ti].metric) ? -1.0 : 1.0;
  auto score_of = [&](const std::vector<std::vector<double>>& est, double* score) {
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
  score_of(point, score.data());

  // Bootstrap, pass 1 over sections (m, z.m, score), pass 2 over (section, group) strata (the
  // group keys), one splitmix64 stream: docs/statistics.md.
  size_t stored = nc;  // score
  bool any_group = !design.by_group.empty();
  for (const auto& t : tables) stored += nc * t.stride();
  const bool all_kept = B == 0 || stored <= k_replicate_budget / B;
  const size_t headline = nc + nc * 2 * nt;  // score, m and z.m of every table
  if (B > 0 && headline > k_replicate_limit / B)
    throw Error("statistics: bootstrap = " + std::to_string(B) + " with " + std::to_string(nc) + " checkpoints and " +
                std::to_string(nt) + " metrics needs over " + std::to_string((headline * B * 8) >> 30) +
                " GiB: use bootstrap = " + std::to_string(std::max<size_t>(1, k_replicate_limit / headline)) + " or fewer");
  const bool pass2 = B > 0 && all_kept && any_group;
  // [table][(c * stride + k) * B + b]; k < 2 from pass 1, k >= 2 from pass 2 (NaN when not run)
  std::vector<std::vector<double>> reps(nt);
  std::vector<double> score_reps(nc * B);  // [c * B + b]
  if (B > 0) {
    SplitMix64 rng(info.stat_seed);
    std::vector<std::vector<double>> rest(nt);
    for (size_t ti = 0; ti < nt; ++ti) {
      reps[ti].assign(nc * (pass2 ? tables[ti].stride() : 2) * B, k_nan);
      rest[ti].resize(nc * tables[ti].stride());
    }
    std::vector<uint32_t> idx;
    std::vector<Slot> slots;
    std::vector<double> rscore(nc);
    for (size_t b = 0; b < B; ++b) {
      draw(rng, design, design.by_section, idx, slots);
      for (size_t ti = 0; ti < nt; ++ti) {
        const Table& t = tables[ti];
        estimate(t, nc, slots, scratch[ti], rest[ti].data());
        const size_t stride = t.stride(), kept = pass2 ? stride : 2;
        for (size_t c = 0; c < nc; ++c)
          for (size_t k = 0; k < 2; ++k) reps[ti][(c * kept + k) * B + b] = rest[ti][c * stride + k];
      }
      score_of(rest, rscore.data());
      for (size_t c = 0; c < nc; ++c) score_reps[c * B + b] = rscore[c];
    }
    if (pass2)
      for (size_t b = 0; b < B; ++b) {
        draw(rng, design, design.by_group, idx, slots);
        for (size_t ti = 0; ti < nt; ++ti) {
          const Table& t = tables[ti];
          const size_t stride = t.stride();
          if (stride == 2) continue;
          estimate(t, nc, slots, scratch[ti], rest[ti].data());
          for (size_t c = 0; c < nc; ++c)
            for (size_t k = 2; k < stride; ++k) reps[ti][(c * stride + k) * B + b] = rest[ti][c * stride + k];
        }
      }
  }

  std::vector<size_t> order(nc);
  std::iota(order.begin(), order.end(), size_t(0));
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
      json ci = json::object(), se = json::object();
      json iv;
      double e = 0;
      for (size_t ti = 0; ti < nt; ++ti) {
        const size_t stride = tables[ti].stride(), kept = pass2 ? stride : 2;
        for (size_t k = 0; k < kept; ++k) {
          if (std::isnan(point[ti][c * stride + k])) continue;
          if (!interval(&reps[ti][(c * kept + k) * B], B, info.ci, buf, &iv, &e)) continue;
          ci[tables[ti].key(k)] = iv;
          se[tables[ti].key(k)] = e;
        }
      }
      interval(&score_reps[c * B], B, info.ci, buf, &iv, &e);
      ci["score"] = iv;
      se["score"] = e;
      ck["ci"] = std::move(ci);
      ck["se"] = std::move(se);
    }
    cks.push_back(std::move(ck));
  }

  // Adjacent ranks: "cannot tell" where a scored table's section holds fewer than two prompts
  // both checkpoints have; otherwise a two-sided bootstrap p-value, Holm over the gaps.
  auto can_tell = [&](size_t u, size_t l) {
    if (B == 0) return false;
    bool replicated = false;  // some section holds two prompts both have: else nothing to judge by
    for (size_t ti : scored) {
      const Table& t = tables[ti];
      for (const auto& stratum : design.by_section) {
        size_t either = 0, both = 0;
        for (uint32_t p : stratum) {
          const int32_t pl = t.local[p];
          if (pl < 0) continue;
          const bool hu = t.has(u, static_cast<size_t>(pl)), hl = t.has(l, static_cast<size_t>(pl));
          either += hu || hl;
          both += hu && hl;
        }
        if (either > 0 && both < 2) return false;
        replicated |= both >= 2;
      }
    }
    return replicated;
  };
  json gaps = json::array();
  std::vector<double> diff(B), pvals;
  std::vector<size_t> tested;
  for (size_t r = 0; r + 1 < nc; ++r) {
    const size_t u = order[r], l = order[r + 1];
    json gap = {{"rank", r + 1},
                {"upper", info.checkpoints[u].first},
                {"lower", info.checkpoints[l].first},
                {"diff", score[u] - score[l]},
                {"ci", nullptr},
                {"p", nullptr},
                {"p_holm", nullptr},
                {"verdict", k_cannot_tell},
                {"beyond_noise", false}};
    if (B > 0) {
      size_t le = 0, ge = 0;
      for (size_t b = 0; b < B; ++b) {
        diff[b] = score_reps[u * B + b] - score_reps[l * B + b];
        le += diff[b] <= 0;
        ge += diff[b] >= 0;
      }
      json iv;
      double e = 0;
      interval(diff.data(), B, info.ci, buf, &iv, &e);
      gap["ci"] = iv;
      if (can_tell(u, l)) {
        const double p =
            std::min(1.0, 2.0 * static_cast<double>(1 + std::min(le, ge)) / static_cast<double>(B + 1));
        gap["p"] = p;
        pvals.push_back(p);
        tested.push_back(r);
      }
    }
    gaps.push_back(std::move(gap));
  }
  const std::vector<double> adjusted = holm_adjust(pvals);
  for (size_t i = 0; i < tested.size(); ++i) {
    json& gap = gaps[tested[i]];
    gap["p_holm"] = adjusted[i];
    const bool beyond = adjusted[i] <= alpha;
    gap["verdict"] = beyond ? k_beyond_noise : k_within_noise;
    gap["beyond_noise"] = beyond;
  }

  json notes = json::array();
  if (nc == 2)
    notes.push_back(
        "With two checkpoints every per-prompt z-score is -1, 0 or +1: the score counts the prompts each "
        "checkpoint wins, not by how much.");
  if (!tested.empty() && 2.0 / static_cast<double>(B + 1) > alpha / static_cast<double>(tested.size())) {
    const double need = std::ceil(2.0 * static_cast<double>(tested.size()) / alpha) - 1;
    notes.push_back("bootstrap = " + std::to_string(B) + " is too few for " + std::to_string(tested.size()) +
                    " adjacent-rank tests at " + percent(alpha) +
                    ": no gap can be shown beyond noise; bootstrap = " + std::to_string(static_cast<int64_t>(need)) +
                    " or more would do.");
  }

  json directions = json::object();
  for (const auto& t : tables) directions[t.metric] = lower(t.metric) ? "lower" : "higher";
  return {{"experiment", {{"name", info.name}, {"version", info.version}, {"seed", info.seed}}},
          {"checkpoints", cks},
          {"sections", sections},
          {"metric_directions", directions},
          {"score",
           "mean over metrics of the per-prompt z-score (m_notm in place of m where NoTM applies), sign flipped where "
           "lower is better"},
          {"variance", variance},
          {"rank_gaps", gaps},
          {"notes", notes},
          {"statistics",
           {{"bootstrap", info.bootstrap},
            {"ci", info.ci},
            {"seed", info.stat_seed},
            {"resampling", "prompts within sections, then seeds within each drawn prompt, paired across checkpoints"},
            {"verdicts", "Holm over adjacent ranks"}}}};
}

}  // namespace ghx::stats
