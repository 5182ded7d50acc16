// ghx diff's terminal text and Markdown, rendered from the diff JSON (report/diff.h).
#include "report/diff.h"
#include "report/markdown.h"
#include "report/diff_read.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

#include "report/numbers.h"
#include "stats/stats.h"
#include "util/strings.h"

namespace ghx::report {

using nlohmann::json;

namespace {

using namespace diff_read;

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

/// A diff's interval cell: "-" when the side has none.
std::string interval_cell(const std::string& key, const json& ci) {
  const std::string s = format_interval(ci, is_z_key(key));
  return s.empty() ? "-" : s;
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
                      format_delta(k, v["delta"]), interval_cell(k, v["ci_a"]), interval_cell(k, v["ci_b"]),
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
              interval_cell(k, v["ci_a"]) + " | " + format_value(k, v["b"]) + " | " + interval_cell(k, v["ci_b"]) +
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
