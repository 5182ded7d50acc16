// `ghx verify`: the checks run on an extracted bundle (report/bundle.h).
#include "report/bundle_parts.h"


#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "dsl/loader.h"
#include "exec/executor.h"
#include "stats/stats.h"
#include "plan/file_hasher.h"
#include "report/gallery.h"
#include "report/render.h"
#include "report/review_doc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/strings.h"
#include "util/version.h"


namespace ghx::report {
namespace bundle_detail {

using nlohmann::ordered_json;

void Verifier::mismatch(const std::string& check, const std::string& entry, const std::string& message) {
  if (++m_count[check] <= k_max_listed) m_res.mismatches.push_back({check, entry, message});
}

void Verifier::check_sums() {
  auto text = read(k_sums);
  if (!text) {
    mismatch("sums", k_sums, "missing: the bundle has no SHA256SUMS");
    return;
  }
  std::set<std::string> listed;
  int64_t good = 0;
  size_t line_no = 0;
  for (size_t start = 0; start < text->size();) {
    size_t end = text->find('\n', start);
    if (end == std::string::npos) end = text->size();
    std::string line = text->substr(start, end - start);
    start = end + 1;
    ++line_no;
    std::string hex = line.substr(0, 64), path = line.size() > 66 ? line.substr(66) : "";
    bool sep = line.size() > 66 && line[64] == ' ' && (line[65] == ' ' || line[65] == '*');
    if (!is_hex(hex, 64) || !sep || path.empty()) {
      mismatch("sums", k_sums, "line " + std::to_string(line_no) + " is malformed: '" + shorten(line) + "'");
      continue;
    }
    std::transform(hex.begin(), hex.end(), hex.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!listed.insert(path).second) {
      mismatch("sums", path, "listed twice in SHA256SUMS");
      continue;
    }
    if (!m_files.count(path)) {
      mismatch("sums", path, "listed in SHA256SUMS but missing from the bundle");
      continue;
    }
    std::string actual = util::sha256_file_hex(file_path(path));
    if (actual != hex)
      mismatch("sums", path, "checksum mismatch: SHA256SUMS has " + hex + ", the file has " + actual);
    else
      ++good;
  }
  for (const auto& f : m_files)
    if (f != k_sums && !listed.count(f)) mismatch("sums", f, "not listed in SHA256SUMS");
  m_res.checked["sums"] = good;
}

/// plan.jsonl, parsed once for the results and keys checks; malformed lines are mismatches.
void Verifier::parse_plan() {
  auto text = read("plan.jsonl");
  if (!text) {
    mismatch("keys", "plan.jsonl", "missing");
    return;
  }
  int line_no = 0;
  for (size_t start = 0; start < text->size();) {
    size_t end = text->find('\n', start);
    if (end == std::string::npos) end = text->size();
    std::string line = text->substr(start, end - start);
    start = end + 1;
    PlanLine pl;
    pl.line = ++line_no;
    try {
      json j = json::parse(line);
      pl.key = j.at("key").get<std::string>();
      auto kind = kind_from_name(j.at("kind").get<std::string>());
      if (!kind) throw Error("unknown step kind '" + j.at("kind").get<std::string>() + "'");
      pl.kind = *kind;
      pl.version = j.at("version").get<int>();
      for (const auto& p : j.at("params")) {
        if (!p.is_array() || p.size() != 2) throw Error("a parameter is not a [name, value] pair");
        pl.params.emplace_back(p[0].get<std::string>(), p[1].get<std::string>());
      }
      for (const auto& k : j.at("inputs")) pl.inputs.push_back(k.get<std::string>());
      if (!is_hex(pl.key, 32)) throw Error("key '" + shorten(pl.key, 40) + "' is not 32 hex digits");
      plan::Step step;  // its label from the parameters (the context is not bundled)
      step.kind = pl.kind;
      step.params = pl.params;
      pl.label = step.label();
      pl.ok = true;
    } catch (const std::exception& e) {
      mismatch("keys", "plan.jsonl", "line " + std::to_string(pl.line) + " is malformed: " + e.what());
    }
    m_plan.push_back(std::move(pl));
  }
}

void Verifier::check_results() {
  auto results = read("results/results.json");
  if (!results) mismatch("results", "results/results.json", "missing");
  const PlanLine* rep = nullptr;
  std::map<std::string, const PlanLine*> by_key;
  for (const auto& pl : m_plan)
    if (pl.ok) {
      by_key.emplace(pl.key, &pl);
      if (pl.kind == plan::StepKind::report && !rep) rep = &pl;
    }
  if (!rep) {
    mismatch("results", "plan.jsonl", "no report step: the results cannot be recomputed");
    return;
  }
  std::vector<std::string> aggs;
  std::set<std::string> used;
  bool complete = true;
  for (const auto& key : rep->inputs) {
    std::string rel = "results/aggregates/" + key + ".json";
    used.insert(rel);
    auto text = read(rel);
    if (!text) {
      mismatch("results", rel, "missing: an input of the report step");
      complete = false;
      continue;
    }
    json agg;
    try {
      agg = json::parse(*text);
    } catch (const std::exception& e) {
      mismatch("results", rel, std::string("not JSON: ") + e.what());
      complete = false;
      continue;
    }
    aggs.push_back(*text);
    auto it = by_key.find(key);
    if (it == by_key.end() || it->second->kind != plan::StepKind::aggregate) {
      mismatch("results", rel, "is no aggregate step of plan.jsonl");
      continue;
    }
    check_aggregate(*it->second, agg, *text, rel);
  }
  for (const auto& f : m_files)
    if (f.rfind("results/aggregates/", 0) == 0 && !used.count(f))
      mismatch("results", f, "is not an input of the report step");
  m_res.checked["aggregates"] = static_cast<int64_t>(aggs.size());
  if (!complete || !results) return;
  try {
    plan::StepKey key;
    plan::StepKey::from_hex(rep->key, &key);
    std::string again = report_results(key, rep->params, aggs);
    if (again != *results) again = as_built_by_bundle(again, *results);
    if (again != *results) {
      // Name the fields that differ: "provenance" alone means another ghx build made them.
      std::string fields;
      try {
        json a = json::parse(again), b = json::parse(*results);
        std::set<std::string> names;
        for (const json* o : {&a, &b})
          if (o->is_object())
            for (auto it = o->begin(); it != o->end(); ++it) names.insert(it.key());
        for (const auto& n : names)
          if (!a.contains(n) || !b.contains(n) || a[n] != b[n]) fields += (fields.empty() ? "" : ", ") + n;
      } catch (const std::exception&) {
        fields = "(not JSON)";
      }
      mismatch("results", "results/results.json",
               "differs from the statistics recomputed from results/aggregates/" +
                   (fields.empty() ? std::string(" (formatting)") : " in: " + fields));
    } else {
      m_res.checked["results"] = 1;
    }
  } catch (const std::exception& e) {
    mismatch("results", "results/results.json", std::string("cannot recompute the statistics: ") + e.what());
  }
}

/// results.json names the ghx build and libtorch that computed it (provenance.tool, .libtorch):
/// another build recomputes the same statistics under its own names. Those two fields are
/// taken from the bundle (a note says so); anything else that differs stays a mismatch.
std::string Verifier::as_built_by_bundle(const std::string& again, const std::string& bundled) {
  try {
    json a = json::parse(again), b = json::parse(bundled);
    if (!a.contains("provenance") || !b.contains("provenance") || !b["provenance"].is_object()) return again;
    std::string note;
    for (const char* f : {"tool", "libtorch"}) {
      if (!b["provenance"].contains(f) || a["provenance"].value(f, json()) == b["provenance"][f]) continue;
      note += std::string(note.empty() ? "" : ", ") + f + " " + b["provenance"][f].dump() +
              " (this ghx: " + a["provenance"].value(f, json()).dump() + ")";
      a["provenance"][f] = b["provenance"][f];
    }
    std::string out = a.dump();
    if (!note.empty() && out == bundled)
      m_res.notes.push_back("results/results.json was computed by another build: " + note +
                            "; the statistics recomputed here are identical");
    return out;
  } catch (const std::exception&) {
    return again;
  }
}

void Verifier::check_report() {
  auto results = read("results/results.json");
  if (!results) return;  // reported by check_results
  Rendered r;
  try {
    r = render(json::parse(*results), m_templates);
  } catch (const std::exception& e) {
    mismatch("report", "results/results.json", std::string("cannot render the report from it: ") + e.what());
    return;
  }
  std::vector<std::string> want = rendered_bytes(r);
  int64_t good = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    auto have = read(k_report_files[i]);
    if (!have)
      mismatch("report", k_report_files[i], "missing");
    else if (*have != want[i])
      mismatch("report", k_report_files[i], "differs from the report rendered from results/results.json");
    else
      ++good;
  }
  m_res.checked["report_files"] = good;
}

void Verifier::check_keys() {
  std::map<std::string, const PlanLine*> seen;
  int64_t good = 0;
  for (const auto& pl : m_plan) {
    if (!pl.ok) continue;
    std::string where = "line " + std::to_string(pl.line) + " (" + pl.label + ")";
    if (!seen.emplace(pl.key, &pl).second) {
      mismatch("keys", "plan.jsonl", where + ": key " + pl.key + " appears twice");
      continue;
    }
    std::vector<plan::StepKey> ins;
    bool inputs_ok = true;
    for (const auto& k : pl.inputs) {
      plan::StepKey d;
      if (!seen.count(k) || !plan::StepKey::from_hex(k, &d)) {
        mismatch("keys", "plan.jsonl", where + ": input " + shorten(k, 40) + " is not an earlier step");
        inputs_ok = false;
        continue;
      }
      ins.push_back(d);
    }
    if (pl.version != plan::kind_version(pl.kind)) {
      mismatch("keys", "plan.jsonl",
               where + ": made by " + plan::kind_name(pl.kind) + " implementation v" + std::to_string(pl.version) +
                   ", this ghx has v" + std::to_string(plan::kind_version(pl.kind)) +
                   ": its key cannot be recomputed");
      continue;
    }
    if (!inputs_ok) continue;
    std::string again = plan::step_key(pl.kind, pl.params, ins).hex();
    if (again != pl.key)
      mismatch("keys", "plan.jsonl",
               where + ": key " + pl.key + " does not match its parameters and inputs (they give " + again + ")");
    else
      ++good;
  }
  m_res.checked["steps"] = good;

  auto review_text = read("review.json");
  json review;
  try {
    if (!review_text) throw Error("missing");
    review = json::parse(*review_text);
    if (!review.is_object()) throw Error("not a JSON object");
  } catch (const std::exception& e) {
    mismatch("keys", "review.json", std::string("unreadable: ") + e.what());
    return;
  }
  std::set<std::string> in_review;
  if (review.contains("keys") && review["keys"].is_array())
    for (const auto& k : review["keys"])
      if (k.is_string()) in_review.insert(k.get<std::string>());
  std::set<std::string> in_plan;
  for (const auto& [k, pl] : seen) in_plan.insert(k);
  compare_keys("review.json", in_review, in_plan, nullptr);
  rederive(review, *review_text);
}

void Verifier::check_manifest() {
  json m, review;
  try {
    auto text = read(k_manifest);
    if (!text) throw Error("missing");
    m = json::parse(*text);
    if (!m.is_object()) throw Error("not a JSON object");
    auto rtext = read("review.json");
    if (!rtext) return;  // reported by check_keys
    review = json::parse(*rtext);
    if (!review.is_object()) return;  // reported by check_keys
  } catch (const std::exception& e) {
    mismatch("manifest", k_manifest, std::string("unreadable: ") + e.what());
    return;
  }
  if (m.value("format", 0) != k_bundle_format)
    mismatch("manifest", k_manifest,
             "bundle format " + m.value("format", json(nullptr)).dump() + ", this ghx reads " +
                 std::to_string(k_bundle_format));
  if (m.contains("tool") && m["tool"].is_object()) {
    std::string v = m["tool"].value("version", "?"), c = m["tool"].value("git_commit", "?");
    if (v != GHX_VERSION || c != GHX_GIT_COMMIT)
      m_res.notes.push_back(std::string("made by ghx ") + v + " (" + c + "), checked by ghx " + GHX_VERSION + " (" +
                            GHX_GIT_COMMIT +
                            "): a report template or step implementation that changed in between "
                            "shows as a mismatch");
  }
  int64_t good = 0;
  auto same = [&](const std::string& what, const json& a, const json& b, const char* field) {
    json va = a.is_object() && a.contains(field) ? a[field] : json(nullptr);
    json vb = b.is_object() && b.contains(field) ? b[field] : json(nullptr);
    if (va != vb)
      mismatch("manifest", k_manifest, what + ": " + field + " " + va.dump() + ", review.json has " + vb.dump());
    else
      ++good;
  };
  json mc = m.value("checkpoints", json::array()), rc = review.value("checkpoints", json::array());
  if (!mc.is_array() || !rc.is_array() || mc.size() != rc.size()) {
    mismatch("manifest", k_manifest, "its checkpoints are not review.json's");
  } else {
    for (size_t i = 0; i < mc.size(); ++i) {
      std::string what = "checkpoint " + rc[i].value("name", json(nullptr)).dump();
      for (const char* f : {"name", "identity", "sha256", "autov2"}) same(what, mc[i], rc[i], f);
    }
  }
  json mm = m.value("models", json::object()), rm = review.value("models", json::object());
  std::set<std::string> names;
  for (const json* o : {&mm, &rm})
    if (o->is_object())
      for (auto it = o->begin(); it != o->end(); ++it) names.insert(it.key());
  for (const auto& n : names) {
    json a = mm.is_object() && mm.contains(n) ? mm[n] : json(nullptr);
    json b = rm.is_object() && rm.contains(n) ? rm[n] : json(nullptr);
    if (a.is_null() || b.is_null()) {
      mismatch("manifest", k_manifest, "model '" + n + "' is in only one of manifest.json and review.json");
      continue;
    }
    for (const char* f : {"sha256", "autov2"}) same("model '" + n + "'", a, b, f);
  }
  m_res.checked["hashes"] = good;
}

/// An aggregate's file must be what its step's parameters (section, metric, variant, one row
/// per image, NoTM pairs) give with the file's values: the values alone are not re-derivable.
void Verifier::check_aggregate(const PlanLine& pl, const json& agg, const std::string& text, const std::string& rel) {
  plan::Step step;
  step.kind = pl.kind;
  step.params = pl.params;
  try {
    auto rows = step.params_named("row");
    if (!agg.is_object() || !agg.contains("rows") || !agg["rows"].is_array() || agg["rows"].size() != rows.size())
      throw Error("its rows are not its step's rows");
    std::vector<stats::AggregateRow> out;
    for (size_t i = 0; i < rows.size(); ++i) {
      std::vector<std::string> f = plan::split_fields(*rows[i]);
      if (f.size() != 4) throw Error("malformed row parameter");
      const json& v = agg["rows"][i];
      if (!v.is_array() || v.size() != 5 || !(v[4].is_number() || v[4].is_null())) throw Error("malformed row");
      out.push_back({f[0], f[1], f[2], f[3], v[4].is_null() ? std::nan("") : v[4].get<double>()});
    }
    std::vector<std::pair<std::string, std::string>> notm;
    for (const std::string* e : step.params_named("notm_exclude")) {
      auto sep = e->find(plan::k_field_sep);
      notm.emplace_back(e->substr(0, sep), sep == std::string::npos ? "" : e->substr(sep + 1));
    }
    bool has_notm = step.find_param("notm") != nullptr;
    if (stats::aggregate_json(step.param("section"), step.param("metric"), step.param("variant"), out,
                             has_notm ? &notm : nullptr)
            .dump() != text)
      throw Error("its section, metric, variant, rows or NoTM pairs differ");
  } catch (const std::exception& e) {
    mismatch("results", rel, std::string("does not match its step in plan.jsonl: ") + e.what());
  }
}

/// Reports the difference of two key sets: counts, then the first few keys of each side.
void Verifier::compare_keys(const std::string& what, const std::set<std::string>& other, const std::set<std::string>& in_plan,
                            const plan::Plan* derived) {
  std::vector<std::string> only_other, only_plan;
  std::set_difference(other.begin(), other.end(), in_plan.begin(), in_plan.end(), std::back_inserter(only_other));
  std::set_difference(in_plan.begin(), in_plan.end(), other.begin(), other.end(), std::back_inserter(only_plan));
  if (only_other.empty() && only_plan.empty()) return;
  std::string entry = derived ? "plan.jsonl" : what;
  mismatch("keys", entry,
           what + " has " + std::to_string(other.size()) + " step keys, plan.jsonl " +
               std::to_string(in_plan.size()) + ": " + std::to_string(only_other.size()) + " only in " + what + ", " +
               std::to_string(only_plan.size()) + " only in plan.jsonl");
  auto label_in_plan = [&](const std::string& k) {
    for (const auto& pl : m_plan)
      if (pl.ok && pl.key == k) return pl.label;
    return std::string("?");
  };
  auto label_derived = [&](const std::string& k) {
    plan::StepKey d;
    if (!derived || !plan::StepKey::from_hex(k, &d)) return std::string("?");
    const plan::Step* s = derived->find(d);
    return s ? replace_all(s->label(), m_decl, "declarations") : std::string("?");
  };
  for (size_t i = 0; i < only_other.size() && i < 5; ++i)
    mismatch("keys", entry, "only in " + what + ": " + only_other[i] + " (" + label_derived(only_other[i]) + ")");
  for (size_t i = 0; i < only_plan.size() && i < 5; ++i)
    mismatch("keys", entry, "only in plan.jsonl: " + only_plan[i] + " (" + label_in_plan(only_plan[i]) + ")");
}

/// Loads and plans the bundled declarations, every other file an empty placeholder whose
/// SHA-256 review.json gives; compares the keys with plan.jsonl and the review with review.json.
void Verifier::rederive(const json& review, const std::string& review_text) {
  auto fail = [&](const std::string& entry, const std::string& why) {
    mismatch("keys", entry, "cannot re-derive the plan from declarations/: " + why);
  };
  json manifest;
  try {
    auto text = read(k_manifest);
    if (!text) throw Error("missing");
    manifest = json::parse(*text);
  } catch (const std::exception& e) {
    return fail(k_manifest, std::string("manifest.json unreadable: ") + e.what());
  }
  std::string exp;
  if (manifest.contains("experiment") && manifest["experiment"].is_object() &&
      manifest["experiment"].contains("file") && manifest["experiment"]["file"].is_string())
    exp = manifest["experiment"]["file"].get<std::string>();
  if (exp.rfind(k_declarations, 0) != 0 || !m_files.count(exp))
    return fail(k_manifest, "its experiment file '" + exp + "' is not in declarations/");
  fs::path exp_rel(exp.substr(std::strlen(k_declarations)));
  fs::path exp_dir = exp_rel.parent_path();

  // Placeholders: (path relative to the experiment, is a folder, sha256 or "").
  struct Placeholder {
    std::string path;
    bool folder;
    std::string sha;
  };
  std::vector<Placeholder> holders;
  if (review.contains("files") && review["files"].is_object())
    for (auto it = review["files"].begin(); it != review["files"].end(); ++it)
      holders.push_back({it.key(), false, it->is_string() ? it->get<std::string>() : ""});
  if (manifest.contains("declared") && manifest["declared"].is_object()) {
    const json& d = manifest["declared"];
    for (const char* kind : {"files", "folders"})
      if (d.contains(kind) && d[kind].is_array())
        for (const auto& p : d[kind])
          if (p.is_string()) holders.push_back({p.get<std::string>(), std::string(kind) == "folders", ""});
  }
  // Declared paths may point above the declarations' folder (weights kept elsewhere): the
  // declarations go that many folders deep, so every placeholder still lands inside.
  int depth = 0;
  for (const auto& h : holders) {
    fs::path n = (exp_dir / h.path).lexically_normal();
    int up = 0;
    for (const auto& part : n) {
      if (part != "..") break;
      ++up;
    }
    if (fs::path(h.path).is_absolute() || up > k_max_escape)
      return fail("review.json", "path " + h.path + " leaves the bundle");
    depth = std::max(depth, up);
  }
  fs::path area = fs::path(m_work) / "rederive";
  fs::path decl = area;
  for (int i = 0; i < depth; ++i) decl /= "up" + std::to_string(i);
  std::error_code ec;
  fs::create_directories(decl, ec);
  fs::copy(file_path("declarations"), decl, fs::copy_options::recursive, ec);
  if (ec) return fail("declarations/", "cannot copy them: " + ec.message());
  std::string area_prefix = area.string() + "/";
  m_decl = decl.string();
  BundledHashes memo;
  std::set<std::string> placeholders;
  for (const auto& h : holders) {
    fs::path target = (decl / exp_dir / h.path).lexically_normal();
    if (target.string().rfind(area_prefix, 0) != 0)
      return fail("review.json", "path " + h.path + " leaves the bundle");
    if (h.folder) {
      fs::create_directories(target, ec);
    } else {
      fs::create_directories(target.parent_path(), ec);
      if (!ec && !fs::exists(target, ec)) {
        std::ofstream(target.string(), std::ios::binary).flush();
        placeholders.insert(target.string());
      }
      // A bundled declaration (a CLIP config.json) is hashed for real, never answered.
      if (!h.sha.empty() && placeholders.count(target.string())) memo.sha[target.string()] = h.sha;
    }
    if (ec) return fail("review.json", "cannot create a placeholder for " + h.path + ": " + ec.message());
  }

  std::string exp_path = (decl / exp_rel).lexically_normal().string();
  auto diagnostics = [&](const dsl::Diagnostics& d) {
    std::string s;
    size_t shown = 0;
    for (const auto& x : d.all())
      if (x.severity == dsl::Severity::error && shown++ < 3) s += (s.empty() ? "" : "; ") + x.format();
    return replace_all(s, decl.string(), "declarations");
  };
  dsl::Diagnostics d;
  std::optional<dsl::Review> r;
  try {
    r = dsl::load_review(exp_path, d);
  } catch (const std::exception& e) {
    return fail(exp, e.what());
  }
  if (!r) return fail(exp, diagnostics(d));
  // A checkpoint without a file is identified as the run identified it (a server's hash).
  if (review.contains("checkpoints") && review["checkpoints"].is_array())
    for (auto& c : r->checkpoints) {
      if (!c.file.empty() || !c.sha256.empty()) continue;
      for (const auto& rc : review["checkpoints"])
        if (rc.value("name", "") == c.name && rc.contains("identity") && rc["identity"].is_string() &&
            rc["identity"].get<std::string>().rfind("backend_name:", 0) != 0)
          c.server_identity = rc["identity"].get<std::string>();
    }
  // Model steps were keyed with the numerics of the machine that ran them (models/numerics.h):
  // re-derive with those, not this machine's.
  for (const auto& pl : m_plan) {
    for (const auto& [name, value] : pl.params)
      if (name == "numerics") r->numerics = value;
    if (!r->numerics.empty()) break;
  }
  plan::FileHasher hasher(&memo);
  std::optional<plan::Plan> p;
  try {
    p = plan::build_plan(*r, hasher, d);
  } catch (const std::exception& e) {
    return fail(exp, e.what());
  }
  if (!p) return fail(exp, diagnostics(d));
  m_res.checked["rederived_steps"] = static_cast<int64_t>(p->steps.size());
  std::set<std::string> derived, in_plan;
  for (const auto& s : p->steps) derived.insert(s.key.hex());
  for (const auto& pl : m_plan)
    if (pl.ok) in_plan.insert(pl.key);
  compare_keys("the plan re-derived from declarations/", derived, in_plan, &*p);

  json again = review_document(*r, *p);
  if (again.dump(2) + "\n" != review_text) {
    std::vector<std::string> fields;
    std::set<std::string> names;
    for (const json* o : {static_cast<const json*>(&again), &review})
      for (auto it = o->begin(); it != o->end(); ++it) names.insert(it.key());
    for (const auto& n : names)
      if (!again.contains(n) || !review.contains(n) || again[n] != review[n]) fields.push_back(n);
    mismatch("keys", "review.json",
             "differs from the review re-derived from declarations/" +
                 (fields.empty() ? std::string(" (formatting)") : " in: " + util::join(fields, ", ")));
  }
}

void Verifier::finish() {
  for (const auto& [check, n] : m_count)
    if (n > k_max_listed)
      m_res.mismatches.push_back(
          {check, "", std::to_string(n - k_max_listed) + " more mismatches of this check not listed"});
}

}  // namespace bundle_detail

using namespace bundle_detail;

VerifyResult verify_bundle(const std::string& file, const std::string& templates) {
  VerifyResult res;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    res.unreadable = true;
    res.error = file + ": not a file";
    return res;
  }
  TempFolder tmp;
  Verifier v(res, templates, tmp.path());
  if (!v.extract(file)) return res;
  // A check that meets a shape it did not expect (a hand-made bundle) reports it as a mismatch
  // of that check; the other checks still run, and verify still exits 3, not with an error.
  auto guarded = [&](const char* check, const char* entry, auto&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      v.mismatch(check, entry, std::string("cannot be checked: ") + e.what());
    }
  };
  guarded("sums", k_sums, [&] { v.check_sums(); });
  guarded("keys", "plan.jsonl", [&] { v.parse_plan(); });
  guarded("results", "results/results.json", [&] { v.check_results(); });
  guarded("report", "results/results.json", [&] { v.check_report(); });
  guarded("keys", "review.json", [&] { v.check_keys(); });
  guarded("manifest", k_manifest, [&] { v.check_manifest(); });
  v.finish();
  return res;
}

}  // namespace ghx::report
