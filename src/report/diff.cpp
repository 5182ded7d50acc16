#include "report/diff.h"

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

// ---- reading documents ---------------------------------------------------------------------
// Documents come from files a user may have edited: a key of the wrong type reads as absent
// rather than throwing halfway through a diff.

const json& field(const json& j, const char* key) {
  static const json null_json;
  if (!j.is_object()) return null_json;
  auto it = j.find(key);
  return it == j.end() ? null_json : *it;
}

std::string text(const json& j, const char* key) {
  const json& v = field(j, key);
  return v.is_string() ? v.get<std::string>() : "";
}

const json& array_of(const json& j, const char* key) {
  static const json empty = json::array();
  const json& v = field(j, key);
  return v.is_array() ? v : empty;
}

const json& object_of(const json& j, const char* key) {
  static const json empty = json::object();
  const json& v = field(j, key);
  return v.is_object() ? v : empty;
}

double number(const json& j) { return j.is_number() ? j.get<double>() : std::nan(""); }

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

bool is_z_key(const std::string& key) { return key == "score" || key.rfind("z.", 0) == 0; }

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

// ---- rendering -----------------------------------------------------------------------------

/// Terminal text on one line: control characters (newlines, ESC) shown as escapes.
std::string one_line(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

/// A JSON value as text: strings quoted (an empty string stays visible), null as "(none)".
std::string show(const json& v) {
  if (v.is_null()) return "(none)";
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string format_value(const std::string& key, const json& v) {
  if (!v.is_number()) return "n/a";
  return is_z_key(key) ? format_z(v.get<double>()) : format_metric(v.get<double>());
}

std::string format_delta(const std::string& key, const json& v) {
  if (!v.is_number()) return "n/a";
  double d = v.get<double>();
  std::string s = format_value(key, v);
  return d > 0 ? "+" + s : s;
}

std::string format_interval(const std::string& key, const json& ci) {
  if (!ci.is_array()) return "-";
  return "[" + format_value(key, ci[0]) + ", " + format_value(key, ci[1]) + "]";
}

std::string rank_text(const json& r) {
  if (!r.is_number_integer()) return "-";  // a float rank is no rank (and 1e300 fits no int64_t)
  return std::to_string(r.get<int64_t>());
}

/// "▲2" (moved up two places), "▼1", "" when the rank held.
std::string rank_mark(const json& change) {
  if (!change.is_number() || change.get<int64_t>() == 0) return "";
  int64_t c = change.get<int64_t>();
  const uint64_t places = c > 0 ? static_cast<uint64_t>(c) : 0 - static_cast<uint64_t>(c);  // no -INT64_MIN
  return (c > 0 ? "▲" : "▼") + std::to_string(places);
}

std::string noise_text(const json& row) {
  const json& v = row["verdict"];
  return v.is_string() ? v.get<std::string>() : std::string(stats::k_cannot_tell);
}

/// Columns as wide as their widest cell (counted in code points, so arrows align).
size_t width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

/// `align`: one letter per column, 'l' or 'r' (numbers); missing letters mean 'l'.
std::string table(const std::vector<std::vector<std::string>>& rows, const std::string& indent,
                  const std::string& align = "") {
  std::vector<size_t> w;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (w.size() <= i) w.push_back(0);
      w[i] = std::max(w[i], width(r[i]));
    }
  std::string out;
  for (const auto& r : rows) {
    std::string line = indent;
    for (size_t i = 0; i < r.size(); ++i) {
      std::string pad(w[i] - width(r[i]), ' ');
      line += i < align.size() && align[i] == 'r' ? pad + r[i] : r[i] + pad;
      if (i + 1 < r.size()) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

using Escape = std::string (*)(const std::string&);

std::string prompt_name(const json& p, Escape esc) {
  std::string s = esc(text(p, "section")) + "/" + esc(text(p, "id"));
  if (p.contains("checkpoint")) s += " (for " + esc(text(p, "checkpoint")) + ")";
  return s;
}

std::string join_texts(const json& arr, Escape esc) {
  std::string out;
  for (const auto& v : arr) out += (out.empty() ? "" : ", ") + esc(v.is_string() ? v.get<std::string>() : v.dump());
  return out.empty() ? "(none)" : out;
}

/// One line per declaration change except prompt edits (those get a table or an A/B block).
std::vector<std::string> declaration_lines(const json& d, Escape esc) {
  std::vector<std::string> out;
  auto change_line = [&](const std::string& what, const json& ch) {
    out.push_back(what + ": " + esc(show(ch["a"])) + " -> " + esc(show(ch["b"])));
  };
  for (auto it = d["experiment"].begin(); it != d["experiment"].end(); ++it)
    change_line("experiment " + esc(it.key()), *it);
  const json& ck = d["checkpoints"];
  for (const auto& c : ck["added"])
    out.push_back("checkpoint added: " + esc(text(c, "name")) + " (" + esc(text(c, "identity")) + ")");
  for (const auto& c : ck["removed"])
    out.push_back("checkpoint removed: " + esc(text(c, "name")) + " (" + esc(text(c, "identity")) + ")");
  for (const auto& c : ck["changed"]) {
    std::string s = "checkpoint changed: " + esc(text(c, "name"));
    if (c.contains("identity"))
      s += ": identity " + esc(text(c["identity"], "a")) + " -> " + esc(text(c["identity"], "b"));
    if (c.contains("backend_name"))
      s += std::string(c.contains("identity") ? ";" : ":") + " backend name " + esc(show(c["backend_name"]["a"])) +
           " -> " + esc(show(c["backend_name"]["b"]));
    if (c.value("replaced", false)) s += " (file replaced: retrained or another model)";
    out.push_back(s);
  }
  const json& m = d["models"];
  for (const auto& e : m["added"])
    out.push_back("model added: " + esc(text(e, "entry")) + " (sha256 " + text(e, "sha256").substr(0, 10) + ")");
  for (const auto& e : m["removed"]) out.push_back("model removed: " + esc(text(e, "entry")));
  for (const auto& e : m["changed"])
    for (auto it = e["fields"].begin(); it != e["fields"].end(); ++it)
      change_line("model " + esc(text(e, "entry")) + " " + esc(it.key()), *it);
  for (auto it = d["metrics"].begin(); it != d["metrics"].end(); ++it)
    change_line("metric variant " + esc(it.key()), *it);
  for (auto it = d["statistics"].begin(); it != d["statistics"].end(); ++it)
    change_line("statistics " + esc(it.key()), *it);
  const json& s = d["sections"];
  for (const auto& e : s["added"])
    out.push_back("section added: " + esc(text(e, "id")) + " (metrics " + join_texts(e["metrics"], esc) + ")");
  for (const auto& e : s["removed"]) out.push_back("section removed: " + esc(text(e, "id")));
  for (const auto& e : s["changed"]) {
    std::string id = "section " + esc(text(e, "id"));
    if (e.contains("generation"))
      for (auto it = e["generation"].begin(); it != e["generation"].end(); ++it)
        change_line(id + " " + esc(it.key()), *it);
    if (e.contains("seeds")) {
      auto seeds = [](const json& v) {
        if (!v.is_array() || v.empty()) return std::string("none");
        return std::to_string(v.size()) + " (" + v.front().dump() + ".." + v.back().dump() + ")";
      };
      out.push_back(id + " seeds: " + seeds(e["seeds"]["a"]) + " -> " + seeds(e["seeds"]["b"]));
    }
    if (e.contains("metrics"))
      out.push_back(id + " metrics: " + join_texts(e["metrics"]["a"], esc) + " -> " +
                    join_texts(e["metrics"]["b"], esc));
    if (e.contains("style_size")) change_line(id + " style_size", e["style_size"]);
    if (e.contains("kind")) change_line(id + " kind", e["kind"]);
    if (e.contains("fixups")) {
      auto rules = [&](const json& v) {
        std::string r;
        for (const auto& f : v.is_array() ? v : json::array()) {
          std::string k = text(f, "kind");
          if (f.contains("from")) k += " " + esc(text(f, "from")) + "->" + esc(text(f, "to"));
          if (f.contains("weight")) k += " " + f["weight"].dump();
          r += (r.empty() ? "" : ", ") + k;
        }
        return r.empty() ? std::string("(none)") : r;
      };
      out.push_back(id + " fixups: " + rules(e["fixups"]["a"]) + " -> " + rules(e["fixups"]["b"]));
    }
    if (e.contains("made_with"))
      for (auto it = e["made_with"].begin(); it != e["made_with"].end(); ++it)
        out.push_back(id + " LoRA " + esc(it.key()) +
                      " made_with: " + ((*it)["a"].is_null() ? "(no such LoRA)" : join_texts((*it)["a"], esc)) +
                      " -> " + ((*it)["b"].is_null() ? "(no such LoRA)" : join_texts((*it)["b"], esc)));
  }
  const json& p = d["prompts"];
  for (const auto& e : p["added"]) out.push_back("prompt added: " + prompt_name(e, esc) + ": " + esc(text(e, "text")));
  for (const auto& e : p["removed"])
    out.push_back("prompt removed: " + prompt_name(e, esc) + ": " + esc(text(e, "text")));
  const json& f = d["files"];
  for (const auto& e : f["added"]) out.push_back("file added: " + esc(text(e, "path")));
  for (const auto& e : f["removed"]) out.push_back("file removed: " + esc(text(e, "path")));
  for (const auto& e : f["changed"]) out.push_back("file changed (content): " + esc(text(e, "path")));
  return out;
}

std::string reuse_sentence(const json& r) {
  return "B reuses " + std::to_string(r["reused"].get<int64_t>()) + " of " +
         std::to_string(r["b_steps"].get<int64_t>()) + " steps (" + util::fixed_double(r["percent"].get<double>(), 1) +
         "%) from A; " + std::to_string(r["new"].get<int64_t>()) + " are new";
}

std::string cache_sentence(const json& c, int64_t b_steps) {
  return "the cache (" + c["dir"].get<std::string>() + ") holds " + std::to_string(c["cached"].get<int64_t>()) +
         " of B's " + std::to_string(b_steps) + " steps; " + std::to_string(c["to_run"].get<int64_t>()) + " to run";
}

std::vector<std::string> result_notes(const json& r) {
  std::vector<std::string> notes;
  if (r["checkpoint_set_changed"].get<bool>())
    notes.push_back(
        "the checkpoints under review changed: z-scores and scores are relative to them, so they move even "
        "where a checkpoint's images did not");
  if (r["ci"]["a"] != r["ci"]["b"] || r["bootstrap"]["a"] != r["bootstrap"]["b"])
    notes.push_back("interval settings differ: A " + show(r["bootstrap"]["a"]) + " replicates at " +
                    show(r["ci"]["a"]) + ", B " + show(r["bootstrap"]["b"]) + " at " + show(r["ci"]["b"]));
  for (const char* side : {"a", "b"}) {
    const json& only = r[std::string("metrics_only_") + side];
    if (!only.empty())
      notes.push_back(std::string("metrics only in ") + (side[0] == 'a' ? "A" : "B") + ": " +
                      join_texts(only, one_line));
  }
  return notes;
}

/// "95% intervals", or why there are none.
std::string intervals_text(const json& r) {
  if (r["bootstrap"]["a"] == 0 && r["bootstrap"]["b"] == 0) return "no intervals: bootstrap = 0";
  const json& ci = r["ci"]["b"];
  return (ci.is_number() ? util::fixed_double(100.0 * ci.get<double>(), 0) + "% " : std::string()) +
         "intervals over prompts and seeds; beyond noise = the change holds up with Holm's family-wise control over "
         "every value compared";
}

std::string side_text(const json& s) {
  return one_line(text(s, "name")) + " v" + one_line(text(s, "version")) + "  (" +
         (text(s, "kind") == "experiment" ? "experiment " : "report folder ") + one_line(text(s, "source")) + ")";
}

}  // namespace

std::string md_escape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') continue;
    if (c == '\n' || c == '\r')
      out += "<br>";
    else if (std::string_view("\\|<>*_`[]&").find(c) != std::string_view::npos)
      out += '\\', out += c;
    else
      out += c;
  }
  return out;
}

json diff_reviews(const DiffSide& a, const DiffSide& b) {
  return {{"a", side_json(a)},
          {"b", side_json(b)},
          {"declarations", diff_declarations(a.review, b.review)},
          {"reuse", diff_reuse(a, b)},
          {"results", diff_results(a, b)}};
}

std::string diff_text(const json& d) {
  std::string out = "A: " + side_text(d["a"]) + "\nB: " + side_text(d["b"]) + "\n";

  const json& decl = d["declarations"];
  int64_t n = decl["count"].get<int64_t>();
  out +=
      "\nDeclarations: " + (n == 0 ? std::string("no change") : std::to_string(n) + (n == 1 ? " change" : " changes")) +
      "\n";
  for (const auto& line : declaration_lines(decl, one_line)) out += "  " + line + "\n";
  for (const auto& e : decl["prompts"]["edited"]) {
    out += "  prompt edited: " + prompt_name(e, one_line) + "\n";
    if (e["a"] != e["b"]) out += "    A: " + one_line(text(e, "a")) + "\n    B: " + one_line(text(e, "b")) + "\n";
    if (e.contains("original"))
      out += "    suite text A: " + one_line(text(e["original"], "a")) +
             "\n    suite text B: " + one_line(text(e["original"], "b")) + "\n";
    if (e.contains("rules"))
      out += "    fixups: " + join_texts(e["rules"]["a"], one_line) + " -> " + join_texts(e["rules"]["b"], one_line) +
             "\n";
    if (e.contains("negative"))
      out += "    negative A: " + one_line(text(e["negative"], "a")) + "\n    negative B: " +
             one_line(text(e["negative"], "b")) + "\n";
  }

  const json& r = d["reuse"];
  out += "\nReuse\n  " + reuse_sentence(r) +
         (r["same_results"].get<bool>() ? " (same report step: same results)" : "") + "\n";
  if (r.contains("cache")) out += "  " + one_line(cache_sentence(r["cache"], r["b_steps"].get<int64_t>())) + "\n";
  if (r.contains("by_kind")) {
    bool cached = r.contains("cache") && r["cache"].contains("by_kind");
    std::vector<std::vector<std::string>> rows = {{"kind", "B steps", "from A"}};
    if (cached) rows[0].push_back("in cache");
    for (auto it = r["by_kind"].begin(); it != r["by_kind"].end(); ++it) {
      rows.push_back(
          {it.key(), std::to_string((*it)["steps"].get<int64_t>()), std::to_string((*it)["reused"].get<int64_t>())});
      if (cached) rows.back().push_back(std::to_string(r["cache"]["by_kind"][it.key()]["cached"].get<int64_t>()));
    }
    out += table(rows, "    ", "lrrr");
  }

  const json& res = d["results"];
  if (!res["available"].get<bool>()) {
    out += "\nResults: not compared\n";
    for (auto it = res["missing"].begin(); it != res["missing"].end(); ++it)
      out += "  " + std::string(it.key() == "a" ? "A" : "B") + ": " + one_line(it->get<std::string>()) + "\n";
    return out;
  }
  out += "\nResults (" + intervals_text(res) + ")\n";
  for (const auto& note : result_notes(res)) out += "  note: " + note + "\n";
  std::vector<std::vector<std::string>> ranks = {{"rank A → B", "checkpoint"}};
  for (const auto& c : res["checkpoints"]) {
    std::string mark = rank_mark(c["rank_change"]);
    ranks.push_back({rank_text(c["rank"]["a"]) + " → " + rank_text(c["rank"]["b"]) + (mark.empty() ? "" : " " + mark),
                     one_line(text(c, "name"))});
  }
  for (const auto& c : res["added"])
    ranks.push_back({"- → " + rank_text(c["rank"]) + " new", one_line(text(c, "name"))});
  for (const auto& c : res["removed"])
    ranks.push_back({rank_text(c["rank"]) + " → - removed", one_line(text(c, "name"))});
  out += table(ranks, "  ");

  std::vector<std::vector<std::string>> rows = {
      {"checkpoint", "metric", "A", "B", "delta", "A interval", "B interval", ""}};
  for (const auto& c : res["checkpoints"])
    for (const auto& v : c["metrics"]) {
      if (!v["changed"].get<bool>()) continue;
      std::string k = text(v, "metric");
      rows.push_back({one_line(text(c, "name")), one_line(k), format_value(k, v["a"]), format_value(k, v["b"]),
                      format_delta(k, v["delta"]), format_interval(k, v["ci_a"]), format_interval(k, v["ci_b"]),
                      v["beyond_noise"] == true ? "beyond noise" : ""});
    }
  if (rows.size() > 1) out += "\n" + table(rows, "  ", "llrrr");
  int64_t same = res["unchanged_values"].get<int64_t>();
  if (rows.size() == 1)
    out += "  no change in any value\n";
  else if (same > 0)
    out += "  " + std::to_string(same) + " more values unchanged\n";
  return out;
}

std::string diff_markdown(const json& d) {
  auto side = [](const json& s) {
    std::string path = one_line(text(s, "source"));  // in backticks: only a backtick would end it
    std::replace(path.begin(), path.end(), '`', '\'');
    return md_escape(text(s, "name")) + " v" + md_escape(text(s, "version")) + " (" +
           (text(s, "kind") == "experiment" ? "experiment " : "report folder ") + "`" + path + "`)";
  };
  std::string out = "# ghx diff\n\n- A: " + side(d["a"]) + "\n- B: " + side(d["b"]) + "\n";

  const json& decl = d["declarations"];
  int64_t n = decl["count"].get<int64_t>();
  out += "\n## Declarations\n\n";
  if (n == 0) out += "No change.\n";
  for (const auto& line : declaration_lines(decl, md_escape)) out += "- " + line + "\n";
  const json& edited = decl["prompts"]["edited"];
  if (!edited.empty()) {
    out += "\nPrompts edited:\n\n| section | id | A | B | fixups A | fixups B |\n|---|---|---|---|---|---|\n";
    for (const auto& e : edited) {
      std::string id = md_escape(text(e, "id"));
      if (e.contains("checkpoint")) id += " (for " + md_escape(text(e, "checkpoint")) + ")";
      std::string a = md_escape(text(e, "a")), b = md_escape(text(e, "b"));
      if (e.contains("original")) {
        a += "<br>suite text: " + md_escape(text(e["original"], "a"));
        b += "<br>suite text: " + md_escape(text(e["original"], "b"));
      }
      if (e.contains("negative")) {
        a += "<br>negative: " + md_escape(text(e["negative"], "a"));
        b += "<br>negative: " + md_escape(text(e["negative"], "b"));
      }
      std::string ra = e.contains("rules") ? join_texts(e["rules"]["a"], md_escape) : "",
                  rb = e.contains("rules") ? join_texts(e["rules"]["b"], md_escape) : "";
      out +=
          "| " + md_escape(text(e, "section")) + " | " + id + " | " + a + " | " + b + " | " + ra + " | " + rb + " |\n";
    }
  }

  const json& r = d["reuse"];
  out += "\n## Reuse\n\n" + reuse_sentence(r) +
         (r["same_results"].get<bool>() ? " (same report step: same results)" : "") + ".\n";
  if (r.contains("cache")) out += "\n" + md_escape(cache_sentence(r["cache"], r["b_steps"].get<int64_t>())) + ".\n";
  if (r.contains("by_kind")) {
    bool cached = r.contains("cache") && r["cache"].contains("by_kind");
    out += std::string("\n| kind | B steps | from A |") + (cached ? " in cache |" : "") + "\n|---|---:|---:|" +
           (cached ? "---:|" : "") + "\n";
    for (auto it = r["by_kind"].begin(); it != r["by_kind"].end(); ++it) {
      out += "| " + it.key() + " | " + std::to_string((*it)["steps"].get<int64_t>()) + " | " +
             std::to_string((*it)["reused"].get<int64_t>()) + " |";
      if (cached) out += " " + std::to_string(r["cache"]["by_kind"][it.key()]["cached"].get<int64_t>()) + " |";
      out += "\n";
    }
  }

  const json& res = d["results"];
  out += "\n## Results\n\n";
  if (!res["available"].get<bool>()) {
    out += "Not compared:\n\n";
    for (auto it = res["missing"].begin(); it != res["missing"].end(); ++it)
      out += "- " + std::string(it.key() == "a" ? "A" : "B") + ": " + md_escape(it->get<std::string>()) + "\n";
    return out;
  }
  out += md_escape(intervals_text(res)) + ".\n";
  for (const auto& note : result_notes(res)) out += "\n> Note: " + md_escape(note) + "\n";
  out += "\n| checkpoint | rank A | rank B | change |\n|---|---:|---:|---|\n";
  for (const auto& c : res["checkpoints"]) {
    std::string mark = rank_mark(c["rank_change"]);
    out += "| " + md_escape(text(c, "name")) + " | " + rank_text(c["rank"]["a"]) + " | " + rank_text(c["rank"]["b"]) +
           " | " + (mark.empty() ? "=" : "**" + mark + "**") + " |\n";
  }
  for (const auto& c : res["added"])
    out += "| " + md_escape(text(c, "name")) + " | - | " + rank_text(c["rank"]) + " | new |\n";
  for (const auto& c : res["removed"])
    out += "| " + md_escape(text(c, "name")) + " | " + rank_text(c["rank"]) + " | - | removed |\n";

  std::string rows;
  for (const auto& c : res["checkpoints"])
    for (const auto& v : c["metrics"]) {
      if (!v["changed"].get<bool>()) continue;
      std::string k = text(v, "metric");
      rows += "| " + md_escape(text(c, "name")) + " | " + md_escape(k) + " | " + format_value(k, v["a"]) + " | " +
              format_interval(k, v["ci_a"]) + " | " + format_value(k, v["b"]) + " | " + format_interval(k, v["ci_b"]) +
              " | " + format_delta(k, v["delta"]) + " | " + noise_text(v) + " |\n";
    }
  if (rows.empty()) {
    out += "\nNo change in any value.\n";
  } else {
    out +=
        "\n| checkpoint | metric | A | A interval | B | B interval | delta | noise "
        "|\n|---|---|---:|---|---:|---|---:|---|\n" +
        rows;
    int64_t same = res["unchanged_values"].get<int64_t>();
    if (same > 0) out += "\n" + std::to_string(same) + " more values unchanged.\n";
  }
  return out;
}

}  // namespace ghx::report
