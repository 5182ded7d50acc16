#include "report/diff.h"
#include "report/diff_read.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

#include "report/render.h"
#include "stats/stats.h"
#include "util/strings.h"

namespace ghx::report {

using nlohmann::json;

namespace {

using namespace diff_read;

json pair(const json& a, const json& b) { return {{"a", a}, {"b", b}}; }

/// {key: {"a", "b"}} for every key whose values differ (absent = null), keys sorted.
json diff_object(const json& a, const json& b, const std::set<std::string>& skip = {}) {
  std::set<std::string> keys;
  for (const json* o : {&a, &b})
    if (o->is_object())
      for (auto it = o->begin(); it != o->end(); ++it) keys.insert(it.key());
  json out = json::object();
  for (const auto& k : keys) {
    if (skip.count(k)) continue;
    const json& va = field(a, k.c_str());
    const json& vb = field(b, k.c_str());
    if (va != vb) out[k] = pair(va, vb);
  }
  return out;
}

// ---- declarations --------------------------------------------------------------------------

json diff_checkpoints(const json& A, const json& B) {
  std::map<std::string, json> a, b;
  for (const auto& c : array_of(A, "checkpoints")) a[text(c, "name")] = c;
  for (const auto& c : array_of(B, "checkpoints")) b[text(c, "name")] = c;
  json added = json::array(), removed = json::array(), changed = json::array();
  auto brief = [](const std::string& name, const json& c) {
    return json{{"name", name}, {"identity", text(c, "identity")}};
  };
  for (const auto& [name, c] : a)
    if (!b.count(name)) removed.push_back(brief(name, c));
  for (const auto& [name, cb] : b) {
    auto it = a.find(name);
    if (it == a.end()) {
      added.push_back(brief(name, cb));
      continue;
    }
    const json& ca = it->second;
    std::string ia = text(ca, "identity"), ib = text(cb, "identity");
    // An experiment input is planned without asking a server, so a checkpoint a server would
    // identify keeps "backend_name:..." there: against a real identity only the name compares.
    bool by_name =
        (ia.rfind("backend_name:", 0) == 0) != (ib.rfind("backend_name:", 0) == 0) || ia.empty() || ib.empty();
    json o = {{"name", name}};
    if (!by_name && ia != ib) o["identity"] = pair(ia, ib);
    if (text(ca, "backend_name") != text(cb, "backend_name"))
      o["backend_name"] = pair(text(ca, "backend_name"), text(cb, "backend_name"));
    std::string sa = text(ca, "sha256"), sb = text(cb, "sha256");
    if (!sa.empty() && !sb.empty() && sa != sb) o["replaced"] = true;  // same name, other weights: retrained or swapped
    if (o.size() > 1) changed.push_back(std::move(o));
  }
  return {{"added", added}, {"removed", removed}, {"changed", changed}};
}

json diff_models(const json& A, const json& B) {
  const json& a = object_of(A, "models");
  const json& b = object_of(B, "models");
  json added = json::array(), removed = json::array(), changed = json::array();
  for (auto it = a.begin(); it != a.end(); ++it)
    if (!b.contains(it.key())) removed.push_back({{"entry", it.key()}, {"sha256", text(*it, "sha256")}});
  for (auto it = b.begin(); it != b.end(); ++it) {
    if (!a.contains(it.key())) {
      added.push_back({{"entry", it.key()}, {"sha256", text(*it, "sha256")}});
      continue;
    }
    // By content: the path may move freely, AutoV2 follows from the SHA-256.
    json fields = diff_object(a.at(it.key()), *it, {"file", "autov2"});
    if (!fields.empty()) changed.push_back({{"entry", it.key()}, {"fields", fields}});
  }
  return {{"added", added}, {"removed", removed}, {"changed", changed}};
}

std::string section_kind(const json& s) {
  for (const char* k : {"prompts", "styles", "loras"})
    if (s.contains(k)) return k;
  return "";
}

json diff_sections(const json& A, const json& B, int64_t& count) {
  std::map<std::string, json> a, b;
  for (const auto& s : array_of(A, "sections")) a[text(s, "id")] = s;
  for (const auto& s : array_of(B, "sections")) b[text(s, "id")] = s;
  json added = json::array(), removed = json::array(), changed = json::array();
  for (const auto& [id, s] : a)
    if (!b.count(id)) removed.push_back({{"id", id}, {"metrics", array_of(s, "metrics")}}), ++count;
  for (const auto& [id, sb] : b) {
    auto it = a.find(id);
    if (it == a.end()) {
      added.push_back({{"id", id}, {"metrics", array_of(sb, "metrics")}});
      ++count;
      continue;
    }
    const json& sa = it->second;
    json o = {{"id", id}};
    // The workflow enters by content (its hash is under "files"); its path is not a change.
    json gen = diff_object(object_of(sa, "generation"), object_of(sb, "generation"), {"workflow"});
    if (!gen.empty()) o["generation"] = gen, count += static_cast<int64_t>(gen.size());
    for (const char* k : {"seeds", "metrics", "style_size", "fixups"}) {
      if (field(sa, k) != field(sb, k)) o[k] = pair(field(sa, k), field(sb, k)), ++count;
    }
    if (section_kind(sa) != section_kind(sb)) o["kind"] = pair(section_kind(sa), section_kind(sb)), ++count;
    json made = diff_object(object_of(sa, "made_with"), object_of(sb, "made_with"));
    if (!made.empty()) o["made_with"] = made, count += static_cast<int64_t>(made.size());
    if (o.size() > 1) changed.push_back(std::move(o));
  }
  return {{"added", added}, {"removed", removed}, {"changed", changed}};
}

using PromptKey = std::tuple<std::string, std::string, std::string>;  // section, id, checkpoint

json prompt_ref(const PromptKey& k) {
  json o = {{"section", std::get<0>(k)}, {"id", std::get<1>(k)}};
  if (!std::get<2>(k).empty()) o["checkpoint"] = std::get<2>(k);
  return o;
}

json diff_prompts(const json& A, const json& B) {
  std::map<PromptKey, json> a, b;
  for (const auto& p : array_of(A, "prompts")) a[{text(p, "section"), text(p, "id"), text(p, "checkpoint")}] = p;
  for (const auto& p : array_of(B, "prompts")) b[{text(p, "section"), text(p, "id"), text(p, "checkpoint")}] = p;
  json added = json::array(), removed = json::array(), edited = json::array();
  for (const auto& [k, p] : a)
    if (!b.count(k)) {
      json o = prompt_ref(k);
      o["text"] = text(p, "final");
      removed.push_back(std::move(o));
    }
  for (const auto& [k, pb] : b) {
    auto it = a.find(k);
    json o = prompt_ref(k);
    if (it == a.end()) {
      o["text"] = text(pb, "final");
      added.push_back(std::move(o));
      continue;
    }
    const json& pa = it->second;
    std::string fa = text(pa, "final"), fb = text(pb, "final");
    std::string oa = text(pa, "original"), ob = text(pb, "original");
    bool rules = field(pa, "rules") != field(pb, "rules");
    std::string na = text(pa, "negative"), nb = text(pb, "negative");
    if (fa == fb && oa == ob && !rules && na == nb) continue;
    o["a"] = fa;
    o["b"] = fb;
    // The suite's own text only adds something where a fixup rewrote it on some side.
    if (oa != ob && (oa != fa || ob != fb)) o["original"] = pair(oa, ob);
    if (rules) o["rules"] = pair(field(pa, "rules"), field(pb, "rules"));
    if (na != nb) o["negative"] = pair(na, nb);
    edited.push_back(std::move(o));
  }
  return {{"added", added}, {"removed", removed}, {"edited", edited}};
}

/// Files that are not already compared as a checkpoint or a model: style targets, showcase
/// images, LoRA files, workflows. Path -> SHA-256.
std::map<std::string, std::string> other_files(const json& doc) {
  std::set<std::string> paths, shas;
  for (const auto& c : array_of(doc, "checkpoints")) paths.insert(text(c, "file"));
  const json& models = object_of(doc, "models");
  for (auto it = models.begin(); it != models.end(); ++it) {
    paths.insert(text(*it, "file"));
    std::string arch = text(*it, "arch");  // a config.json is named only by its hash there
    if (arch.rfind("config.sha256:", 0) == 0) shas.insert(arch.substr(14));
  }
  std::map<std::string, std::string> out;
  const json& files = object_of(doc, "files");
  for (auto it = files.begin(); it != files.end(); ++it) {
    std::string sha = it->is_string() ? it->get<std::string>() : "";
    if (!paths.count(it.key()) && !shas.count(sha)) out[it.key()] = sha;
  }
  return out;
}

json diff_files(const json& A, const json& B) {
  auto a = other_files(A), b = other_files(B);
  json added = json::array(), removed = json::array(), changed = json::array(), moved = json::array();
  std::vector<std::pair<std::string, std::string>> only_a, only_b;
  for (const auto& [path, sha] : a) {
    auto it = b.find(path);
    if (it == b.end())
      only_a.emplace_back(path, sha);
    else if (it->second != sha)
      changed.push_back({{"path", path}, {"sha256", pair(sha, it->second)}});
  }
  for (const auto& [path, sha] : b)
    if (!a.count(path)) only_b.emplace_back(path, sha);
  // Same content under another path: files enter the keys by content, so nothing changes.
  std::vector<bool> b_used(only_b.size(), false);
  for (const auto& [path, sha] : only_a) {
    bool hit = false;
    for (size_t i = 0; i < only_b.size() && !hit; ++i)
      if (!b_used[i] && only_b[i].second == sha) {
        b_used[i] = hit = true;
        moved.push_back({{"path", pair(path, only_b[i].first)}, {"sha256", sha}});
      }
    if (!hit) removed.push_back({{"path", path}, {"sha256", sha}});
  }
  for (size_t i = 0; i < only_b.size(); ++i)
    if (!b_used[i]) added.push_back({{"path", only_b[i].first}, {"sha256", only_b[i].second}});
  return {{"added", added}, {"removed", removed}, {"changed", changed}, {"moved", moved}};
}

json diff_declarations(const json& A, const json& B) {
  int64_t count = 0;
  json d;
  d["experiment"] = diff_object(object_of(A, "experiment"), object_of(B, "experiment"));
  count += static_cast<int64_t>(d["experiment"].size());
  d["checkpoints"] = diff_checkpoints(A, B);
  d["models"] = diff_models(A, B);
  d["metrics"] = diff_object(object_of(A, "metrics"), object_of(B, "metrics"));
  d["statistics"] = diff_object(object_of(A, "statistics"), object_of(B, "statistics"));
  count += static_cast<int64_t>(d["metrics"].size() + d["statistics"].size());
  d["sections"] = diff_sections(A, B, count);
  d["prompts"] = diff_prompts(A, B);
  d["files"] = diff_files(A, B);
  // One per changed value: a model counts each field that changed, a checkpoint or a prompt once.
  for (const auto& m : d["models"]["changed"]) count += static_cast<int64_t>(m["fields"].size());
  for (const char* cat : {"checkpoints", "models", "prompts", "files"})
    for (const char* k : {"added", "removed", "changed", "edited"})
      if (d[cat].contains(k) && !(std::string(cat) == "models" && std::string(k) == "changed"))
        count += static_cast<int64_t>(d[cat][k].size());
  d["count"] = count;
  return d;
}

// ---- reuse ---------------------------------------------------------------------------------

double percent_of(int64_t part, int64_t whole) {
  return whole == 0 ? 0.0 : std::round(1000.0 * static_cast<double>(part) / static_cast<double>(whole)) / 10.0;
}

json diff_reuse(const DiffSide& A, const DiffSide& B) {
  std::set<std::string> a;
  for (const auto& k : array_of(A.review, "keys"))
    if (k.is_string()) a.insert(k.get<std::string>());
  std::set<std::string> b;
  for (const auto& k : array_of(B.review, "keys"))
    if (k.is_string()) b.insert(k.get<std::string>());
  int64_t reused = 0;
  std::map<std::string, std::pair<int64_t, int64_t>> kinds;  // kind -> (B's steps, reused)
  for (const auto& k : b) {
    bool hit = a.count(k) > 0;
    reused += hit;
    auto it = B.step_kinds.find(k);
    if (it != B.step_kinds.end()) {
      auto& e = kinds[it->second];
      ++e.first;
      e.second += hit;
    }
  }
  int64_t nb = static_cast<int64_t>(b.size());
  std::string ra = text(A.review, "report_key"), rb = text(B.review, "report_key");
  json r = {{"a_steps", a.size()},
            {"b_steps", nb},
            {"reused", reused},
            {"new", nb - reused},
            {"percent", percent_of(reused, nb)},
            {"same_results", !ra.empty() && ra == rb}};
  if (!kinds.empty()) {
    json bk = json::object();
    for (const auto& [k, v] : kinds) bk[k] = {{"steps", v.first}, {"reused", v.second}};
    r["by_kind"] = std::move(bk);
  }
  if (B.cached) {
    int64_t cached = 0;
    std::map<std::string, std::pair<int64_t, int64_t>> ck;  // kind -> (B's steps, cached)
    for (const auto& k : b) {
      bool hit = B.cached->count(k) > 0;
      cached += hit;
      auto it = B.step_kinds.find(k);
      if (it != B.step_kinds.end()) {
        auto& e = ck[it->second];
        ++e.first;
        e.second += hit;
      }
    }
    json c = {{"dir", B.cache_dir}, {"cached", cached}, {"to_run", nb - cached}};
    if (!ck.empty()) {
      json bk = json::object();
      for (const auto& [k, v] : ck) bk[k] = {{"steps", v.first}, {"cached", v.second}};
      c["by_kind"] = std::move(bk);
    }
    r["cache"] = std::move(c);
  }
  return r;
}

// ---- results -------------------------------------------------------------------------------

/// Headline keys: a metric without a group suffix, its z-score, its NoTM variant; not the
/// seed spreads (`_std`: no interval, and they move with the seeds count).
bool headline(const std::string& key) {
  std::string base = key.rfind("z.", 0) == 0 ? key.substr(2) : key;
  if (base.find('.') != std::string::npos) return false;
  return !(base.size() > 4 && base.compare(base.size() - 4, 4, "_std") == 0);
}

json interval(const json& ci, const std::string& key) {
  const json& v = field(ci, key.c_str());
  if (v.is_array() && v.size() == 2 && v[0].is_number() && v[1].is_number()) return v;
  return nullptr;
}

/// The bootstrap standard error of `key` on one side: results.json's `se`, or, for results
/// written before it, the interval's width over the normal quantiles of the side's level.
double side_se(const json& c, const std::string& key, const json& ci, double level) {
  const json& se = field(object_of(c, "se"), key.c_str());
  if (se.is_number()) return se.get<double>();
  if (!ci.is_array()) return std::nan("");
  return (number(ci[1]) - number(ci[0])) / (2 * stats::normal_quantile((1 + level) / 2));
}

/// One value compared; `p` from the two sides' standard errors (independent samples: conservative
/// where B reused A's images), the verdict after Holm over every row (diff_results).
json value_row(const std::string& key, const json& ca, const json& cb, double level_a, double level_b) {
  const json& va = field(object_of(ca, "metrics"), key.c_str());
  const json& vb = field(object_of(cb, "metrics"), key.c_str());
  const json& ia = interval(field(ca, "ci"), key);
  const json& ib = interval(field(cb, "ci"), key);
  json o = {{"metric", key}, {"a", va.is_number() ? va : json(nullptr)}, {"b", vb.is_number() ? vb : json(nullptr)}};
  double a = number(va), b = number(vb);
  o["delta"] = std::isnan(a) || std::isnan(b) ? json(nullptr) : json(b - a);
  o["ci_a"] = ia;
  o["ci_b"] = ib;
  o["p"] = nullptr;
  o["p_holm"] = nullptr;
  o["verdict"] = stats::k_cannot_tell;
  o["beyond_noise"] = nullptr;
  if (!ia.is_null() && !ib.is_null() && !std::isnan(a) && !std::isnan(b)) {
    const double p = stats::difference_p(b - a, side_se(ca, key, ia, level_a), side_se(cb, key, ib, level_b));
    if (!std::isnan(p)) o["p"] = p;
  }
  o["changed"] = va != vb;
  return o;
}

/// Holm over every value row that has a p, at 1 - B's level: the verdicts and `beyond_noise`.
void holm_verdicts(json& rows, double alpha) {
  std::vector<json*> tested;
  std::vector<double> p;
  for (auto& c : rows)
    for (auto& v : c["metrics"]) {
      // an unchanged value is no claim either way: within noise, outside the family (it would
      // only raise k and cost the changed values power)
      if (v["p"].is_number() && !v["changed"].get<bool>()) {
        v["verdict"] = stats::k_within_noise;
        v["beyond_noise"] = false;
        v["p_holm"] = v["p"];
        continue;
      }
      if (v["p"].is_number()) {
        tested.push_back(&v);
        p.push_back(v["p"].get<double>());
      }
    }
  const std::vector<double> adj = stats::holm_adjust(p);
  for (size_t i = 0; i < tested.size(); ++i) {
    json& v = *tested[i];
    const bool beyond = adj[i] <= alpha;
    v["p_holm"] = adj[i];
    v["verdict"] = beyond ? stats::k_beyond_noise : stats::k_within_noise;
    v["beyond_noise"] = beyond;
  }
}

json diff_results(const DiffSide& A, const DiffSide& B) {
  if (!A.results.is_object() || !B.results.is_object()) {
    json missing = json::object();
    if (!A.results.is_object()) missing["a"] = A.results_note.empty() ? "no results" : A.results_note;
    if (!B.results.is_object()) missing["b"] = B.results_note.empty() ? "no results" : B.results_note;
    return {{"available", false}, {"missing", missing}};
  }
  auto level_of = [](const json& results) {
    const json& l = field(object_of(results, "statistics"), "ci");
    const double v = l.is_number() ? l.get<double>() : 0.95;
    return v > 0 && v < 1 ? v : 0.95;
  };
  const double level_a = level_of(A.results), level_b = level_of(B.results);
  std::map<std::string, json> a;
  for (const auto& c : array_of(A.results, "checkpoints")) a[text(c, "name")] = c;
  std::vector<json> b;
  for (const auto& c : array_of(B.results, "checkpoints")) b.push_back(c);
  auto by_rank = [](const json& x, const json& y) {
    double rx = number(field(x, "rank")), ry = number(field(y, "rank"));
    if (std::isnan(rx)) rx = HUGE_VAL;  // a NaN would break the strict weak order std::sort needs
    if (std::isnan(ry)) ry = HUGE_VAL;
    if (rx != ry) return rx < ry;
    return text(x, "name") < text(y, "name");
  };
  std::sort(b.begin(), b.end(), by_rank);

  auto headline_keys = [](const json& c, std::set<std::string>& into) {
    const json& m = object_of(c, "metrics");
    for (auto it = m.begin(); it != m.end(); ++it)
      if (headline(it.key())) into.insert(it.key());
  };
  std::set<std::string> keys_a, keys_b;
  for (const auto& [n, c] : a) headline_keys(c, keys_a);
  for (const auto& c : b) headline_keys(c, keys_b);

  json rows = json::array(), added = json::array(), removed = json::array();
  std::set<std::string> in_b;
  int64_t unchanged = 0, beyond = 0;
  for (const auto& cb : b) {
    std::string name = text(cb, "name");
    in_b.insert(name);
    auto it = a.find(name);
    if (it == a.end()) {
      added.push_back({{"name", name}, {"rank", field(cb, "rank")}});
      continue;
    }
    const json& ca = it->second;
    json o = {{"name", name}};
    const json& ra = field(ca, "rank");
    const json& rb = field(cb, "rank");
    o["rank"] = pair(ra, rb);
    // Places moved up (rank 3 -> 1 is +2), as the ▲/▼ marks show it.
    // Ranks are small positive integers; anything else (a hand-edited results.json) has no change.
    int64_t change = 0;
    const bool ranks = ra.is_number_integer() && rb.is_number_integer() &&
                       !__builtin_sub_overflow(ra.get<int64_t>(), rb.get<int64_t>(), &change);
    o["rank_change"] = ranks ? json(change) : json(nullptr);
    json values = json::array();
    json ma = object_of(ca, "metrics"), mb = object_of(cb, "metrics");
    ma["score"] = field(ca, "score");
    mb["score"] = field(cb, "score");
    json sa_ck = ca, sb_ck = cb;
    sa_ck["metrics"] = ma;
    sb_ck["metrics"] = mb;
    values.push_back(value_row("score", sa_ck, sb_ck, level_a, level_b));
    // Order: score, then per metric (sorted) the value and its z-score.
    std::set<std::string> bases;
    for (const auto& k : keys_a)
      if (keys_b.count(k)) bases.insert(k.rfind("z.", 0) == 0 ? k.substr(2) : k);
    for (const auto& base : bases)
      for (const std::string& k : {base, "z." + base}) {
        const json& va = field(object_of(ca, "metrics"), k.c_str());
        const json& vb = field(object_of(cb, "metrics"), k.c_str());
        if (va.is_null() || vb.is_null()) continue;
        values.push_back(value_row(k, ca, cb, level_a, level_b));
      }
    for (const auto& v : values) unchanged += !v["changed"].get<bool>();
    o["metrics"] = std::move(values);
    rows.push_back(std::move(o));
  }
  holm_verdicts(rows, 1 - level_b);
  for (const auto& c : rows)
    for (const auto& v : c["metrics"]) beyond += v["beyond_noise"] == true;
  std::vector<json> gone;
  for (const auto& [n, c] : a)
    if (!in_b.count(n)) gone.push_back(c);
  std::sort(gone.begin(), gone.end(), by_rank);
  for (const auto& c : gone) removed.push_back({{"name", text(c, "name")}, {"rank", field(c, "rank")}});

  json only_a = json::array(), only_b = json::array();
  for (const auto& k : keys_a)
    if (!keys_b.count(k)) only_a.push_back(k);
  for (const auto& k : keys_b)
    if (!keys_a.count(k)) only_b.push_back(k);
  const json& sa = object_of(A.results, "statistics");
  const json& sb = object_of(B.results, "statistics");
  return {{"available", true},
          {"ci", pair(field(sa, "ci"), field(sb, "ci"))},
          {"bootstrap", pair(field(sa, "bootstrap"), field(sb, "bootstrap"))},
          {"checkpoint_set_changed", !added.empty() || !removed.empty()},
          {"checkpoints", rows},
          {"added", added},
          {"removed", removed},
          {"metrics_only_a", only_a},
          {"metrics_only_b", only_b},
          {"unchanged_values", unchanged},
          {"beyond_noise", beyond}};
}

json side_json(const DiffSide& s) {
  const json& e = object_of(s.review, "experiment");
  return {{"name", text(e, "name")}, {"version", text(e, "version")}, {"source", s.source}, {"kind", s.kind}};
}

}  // namespace

json diff_reviews(const DiffSide& a, const DiffSide& b) {
  return {{"a", side_json(a)},
          {"b", side_json(b)},
          {"declarations", diff_declarations(a.review, b.review)},
          {"reuse", diff_reuse(a, b)},
          {"results", diff_results(a, b)}};
}

}  // namespace ghx::report
