#include "report/render.h"

#include "report/markdown.h"
#include "report/numbers.h"

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include <kainjow/mustache.hpp>

#include "stats/stats.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strings.h"

namespace ghx::report {

namespace fs = std::filesystem;
using nlohmann::json;
using kainjow::mustache::data;
using kainjow::mustache::mustache;

std::string templates_dir() {
  if (const char* env = std::getenv("GHX_TEMPLATES")) return env;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (const fs::path& cand : {exe.parent_path() / "../reports_templates", exe.parent_path() / "../../reports_templates"})
      if (fs::exists(cand / "report.md.mustache", ec)) return cand.lexically_normal().string();
  }
  return std::string(GHX_SOURCE_DIR) + "/reports_templates";
}

namespace {

double num(const json& j) { return j.is_number() ? j.get<double>() : std::nan(""); }

/// An integer field of the results document. A hand-edited results.json (ghx verify renders a
/// bundle's) may hold a float there (1e300 fits no int64_t) or values whose sums overflow.
int64_t integer(const json& j, const char* what) {
  if (!j.is_number_integer()) throw Error(std::string("results: ") + what + " is not an integer: " + j.dump());
  return j.get<int64_t>();
}

int64_t add(int64_t a, int64_t b, const char* what) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) throw Error(std::string("results: ") + what + " out of range");
  return r;
}

bool is_z(const std::string& m) { return m.rfind("z.", 0) == 0; }

/// Every metric name present, sorted; plain metrics first, z-scores after.
std::vector<std::string> metric_names(const json& results) {
  std::set<std::string> names;
  for (const auto& c : results.at("checkpoints"))
    for (auto it = c.at("metrics").begin(); it != c.at("metrics").end(); ++it) names.insert(it.key());
  std::vector<std::string> plain, z;
  for (const auto& n : names) (is_z(n) ? z : plain).push_back(n);
  plain.insert(plain.end(), z.begin(), z.end());
  return plain;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += "\"\"";
    else out += c;
  }
  return out + "\"";
}

std::string percent(double share) { return std::isnan(share) ? "n/a" : util::fixed_double(100.0 * share, 1) + "%"; }

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string px(double v) { return util::fixed_double(v, 1); }

/// One horizontal bar per checkpoint (in rank order) with its bootstrap interval as a whisker.
/// Inline SVG, no script: text and axes use currentColor, so the page's light or dark scheme
/// colours them; the bars' blue reads on both.
std::string bar_chart(const json& results, const std::string& metric, bool is_score, int exponent) {
  struct Bar {
    std::string name;
    double v, lo, hi;
  };
  std::vector<Bar> bars;
  for (const auto& c : results.at("checkpoints")) {
    double v = is_score ? num(c.at("score")) : c.at("metrics").contains(metric) ? num(c.at("metrics").at(metric)) : std::nan("");
    if (std::isnan(v)) continue;
    Bar b{c.at("name").get<std::string>(), v, v, v};
    std::string ck = is_score ? "score" : metric;
    if (c.contains("ci") && c.at("ci").contains(ck) && c.at("ci").at(ck).is_array()) b.lo = num(c.at("ci").at(ck).at(0)), b.hi = num(c.at("ci").at(ck).at(1));
    bars.push_back(b);
  }
  if (bars.empty()) return "";
  double lo = 0, hi = 0;
  for (const auto& b : bars) lo = std::min({lo, b.v, b.lo}), hi = std::max({hi, b.v, b.hi});
  if (hi == lo) hi = lo + 1;
  const double label_w = 190, plot_w = 380, value_w = 90, row_h = 22, top = 8;
  const double w = label_w + plot_w + value_w, h = top + row_h * static_cast<double>(bars.size()) + 8;
  auto x = [&](double v) { return label_w + (v - lo) / (hi - lo) * plot_w; };
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 " + px(w) + " " + px(h) +
                    "\" width=\"" + px(w) + "\" height=\"" + px(h) + "\" role=\"img\" aria-label=\"" + xml_escape(metric) + "\">";
  svg += "<line x1=\"" + px(x(0)) + "\" y1=\"" + px(top - 4) + "\" x2=\"" + px(x(0)) + "\" y2=\"" + px(h - 4) +
         "\" stroke=\"currentColor\" stroke-opacity=\"0.5\"/>";
  for (size_t i = 0; i < bars.size(); ++i) {
    const Bar& b = bars[i];
    double y = top + row_h * static_cast<double>(i);
    double x0 = std::min(x(0), x(b.v)), x1 = std::max(x(0), x(b.v));
    svg += "<text x=\"" + px(label_w - 8) + "\" y=\"" + px(y + 15) + "\" text-anchor=\"end\" fill=\"currentColor\">" +
           xml_escape(b.name) + "</text>";
    svg += "<rect x=\"" + px(x0) + "\" y=\"" + px(y + 4) + "\" width=\"" + px(std::max(x1 - x0, 1.0)) + "\" height=\"" +
           px(row_h - 8) + "\" fill=\"#4f86d9\" fill-opacity=\"0.85\"/>";
    if (b.hi > b.lo) {
      double ym = y + row_h / 2;
      svg += "<path d=\"M" + px(x(b.lo)) + " " + px(ym) + "H" + px(x(b.hi)) + "M" + px(x(b.lo)) + " " + px(ym - 5) + "v10M" +
             px(x(b.hi)) + " " + px(ym - 5) + "v10\" stroke=\"currentColor\" stroke-width=\"1.5\" fill=\"none\"/>";
    }
    svg += "<text x=\"" + px(label_w + plot_w + 8) + "\" y=\"" + px(y + 15) + "\" fill=\"currentColor\">" +
           format_people(b.v, exponent) + "</text>";
  }
  return svg + "</svg>";
}

/// A rank gap's verdict; results written before the verdicts had only `beyond_noise`.
std::string verdict_of(const json& g) {
  if (g.contains("verdict") && g.at("verdict").is_string()) return g.at("verdict").get<std::string>();
  if (g.contains("beyond_noise") && g.at("beyond_noise").is_boolean())
    return g.at("beyond_noise").get<bool>() ? stats::k_beyond_noise : stats::k_within_noise;
  return stats::k_cannot_tell;
}

/// The largest |value| of a metric over the checkpoints, as its readable_exponent.
int metric_exponent(const json& results, const std::string& metric) {
  double m = 0;
  for (const auto& c : results.at("checkpoints"))
    if (c.at("metrics").contains(metric)) {
      const double v = std::abs(num(c.at("metrics").at(metric)));
      if (std::isfinite(v)) m = std::max(m, v);
    }
  return readable_exponent(m);
}

/// " (×10⁶)" or "".
std::string unit_suffix(int exponent) { return exponent == 0 ? "" : " (" + unit_text(exponent) + ")"; }

/// Tables wider than a laptop's window are split: at most this many value columns each.
constexpr size_t k_group_columns = 6;
constexpr size_t k_sheet_columns = 4;

/// [first, last) ranges of `n` columns, `per` at a time.
std::vector<std::pair<size_t, size_t>> column_chunks(size_t n, size_t per) {
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t a = 0; a < n; a += per) out.emplace_back(a, std::min(n, a + per));
  if (out.empty()) out.emplace_back(0, 0);
  return out;
}

/// The template view. `md`: text from TOML or a server is escaped for Markdown tables here (the
/// Markdown template prints it raw); for HTML it is left as is and the template escapes it.
data build_view(const json& results, bool md) {
  auto u = [md](const std::string& s) { return md ? md_escape(s) : s; };
  data view;
  const json& ex = results.at("experiment");
  view.set("name", ex.value("name", ""));
  view.set("version", u(ex.value("version", "")));
  view.set("seed", ex.value("seed", ""));
  view.set("score_rule", results.value("score", ""));

  std::vector<std::string> metrics = metric_names(results);
  std::vector<std::string> headline;  // no per-group breakdown in the ranking table
  for (const auto& m : metrics)
    if (m.find('.') == std::string::npos || (is_z(m) && m.find('.', 2) == std::string::npos)) headline.push_back(m);

  // The ranking: score, its interval and the verdict on the gap to the next rank. Every headline
  // metric then gets its rows in one long table (metric x checkpoint: mean, interval, z, seed
  // spread), so the number of metrics never widens a table.
  auto is_spread = [](const std::string& m) { return m.size() > 4 && m.compare(m.size() - 4, 4, "_std") == 0; };
  std::vector<std::string> means;
  for (const auto& m : headline)
    if (!is_z(m) && !is_spread(m)) means.push_back(m);

  std::map<int64_t, std::string> gap_text;  // upper rank -> "0.2846, within noise"
  for (const auto& g : results.value("rank_gaps", json::array())) {
    gap_text[integer(g.at("rank"), "rank_gaps rank")] = format_people(num(g.at("diff"))) + ", " + u(verdict_of(g));
  }
  view.set("has_gaps", !gap_text.empty());

  data rows{data::type::list};
  for (const auto& c : results.at("checkpoints")) {
    data row;
    const int64_t rank = integer(c.at("rank"), "checkpoint rank");
    row.set("rank", std::to_string(rank));
    row.set("name", u(c.at("name").get<std::string>()));
    row.set("score", format_people(num(c.at("score"))));
    row.set("score_ci", c.contains("ci") && c.at("ci").contains("score") ? format_people_interval(c.at("ci").at("score")) : "");
    auto gap = gap_text.find(rank);
    row.set("gap", gap == gap_text.end() ? std::string() : gap->second);
    std::string excluded;
    for (const auto& l : c.value("notm_excluded", json::array())) excluded += (excluded.empty() ? "" : ", ") + l.get<std::string>();
    row.set("notm_excluded", excluded.empty() ? "-" : u(excluded));
    rows.push_back(row);
  }
  view.set("checkpoints", rows);

  data metric_rows{data::type::list};
  for (const auto& m : means) {
    const int e = metric_exponent(results, m);
    bool first = true;
    size_t span = 0;
    for (const auto& c : results.at("checkpoints")) span += c.at("metrics").contains(m);
    for (const auto& c : results.at("checkpoints")) {
      const json& ms = c.at("metrics");
      if (!ms.contains(m)) continue;
      data row;
      row.set("first", first);
      row.set("span", std::to_string(span));
      row.set("metric", u(m) + unit_suffix(e));
      row.set("metric_md", first ? u(m) + unit_suffix(e) : std::string());
      row.set("name", u(c.at("name").get<std::string>()));
      row.set("mean", format_people(num(ms.at(m)), e));
      const bool has = c.contains("ci") && c.at("ci").contains(m);
      row.set("ci", has ? format_people_interval(c.at("ci").at(m), e) : std::string("n/a"));
      row.set("z", ms.contains("z." + m) ? format_people(num(ms.at("z." + m))) : std::string("n/a"));
      row.set("std", ms.contains(m + "_std") ? format_people(num(ms.at(m + "_std")), e) : std::string("n/a"));
      metric_rows.push_back(row);
      first = false;
    }
  }
  view.set("metric_rows", metric_rows);

  data secs{data::type::list};
  for (const auto& s : results.at("sections")) {
    data sec;
    sec.set("id", u(s.at("id").get<std::string>()));
    std::string metric = s.at("metric").get<std::string>();
    sec.set("metric", metric);
    std::string variant = s.at("variant").get<std::string>();
    sec.set("variant", variant.empty() ? std::string() : " (" + variant + ")");
    sec.set("images", std::to_string(integer(s.at("images"), "section images")));
    sec.set("prompts", std::to_string(integer(s.at("prompts"), "section prompts")));
    // One scale for the section: its means, seed spreads and per-group cells.
    const json by = s.value("by_checkpoint", json::object());
    double largest = 0;
    for (auto it = by.begin(); it != by.end(); ++it) {
      const double v = std::abs(num(it.value().at("mean")));
      if (std::isfinite(v)) largest = std::max(largest, v);
    }
    const int e = readable_exponent(largest);
    sec.set("unit", e == 0 ? std::string() : ", " + unit_text(e));
    // The section's own mean and seed spread per checkpoint (rank order).
    data brows{data::type::list};
    for (const auto& c : results.at("checkpoints")) {
      const std::string name = c.at("name").get<std::string>();
      if (!by.contains(name)) continue;
      data row;
      row.set("name", u(name));
      row.set("mean", format_people(num(by.at(name).at("mean")), e));
      row.set("std", format_people(num(by.at(name).at("std")), e));
      brows.push_back(row);
    }
    sec.set("by_checkpoint", brows);
    // Per style or LoRA: checkpoints down, groups across, split every k_group_columns groups.
    const json& groups = s.at("groups");
    data tables{data::type::list};
    if (!groups.empty())
      for (const auto& [a, b] : column_chunks(groups.size(), k_group_columns)) {
        data table;
        data gh{data::type::list};
        for (size_t g = a; g < b; ++g) gh.push_back(data("name", u(groups.at(g).get<std::string>())));
        table.set("group_headers", gh);
        data grows{data::type::list};
        for (const auto& c : results.at("checkpoints")) {
          data row;
          row.set("name", u(c.at("name").get<std::string>()));
          data cells{data::type::list};
          for (size_t g = a; g < b; ++g) {
            const json& group = groups.at(g);
            std::string key = metric + "." + group.get<std::string>();
            double v = c.at("metrics").contains(key) ? num(c.at("metrics").at(key)) : std::nan("");
            // A LoRA whose showcase this checkpoint made: shown, but left out of the NoTM score.
            bool tm = false;
            for (const auto& l : c.value("notm_excluded", json::array())) tm |= l == group;
            cells.push_back(data("value", format_people(v, e) + (tm ? " (TM)" : "")));
          }
          row.set("cells", cells);
          grows.push_back(row);
        }
        table.set("rows", grows);
        tables.push_back(table);
      }
    sec.set("group_tables", tables);
    sec.set("has_groups", !tables.is_empty_list());
    secs.push_back(sec);
  }
  view.set("sections", secs);

  data gaps{data::type::list};
  for (const auto& g : results.value("rank_gaps", json::array())) {
    data row;
    const int64_t rank = integer(g.at("rank"), "rank_gaps rank");
    row.set("rank", std::to_string(rank) + "-" + std::to_string(add(rank, 1, "rank_gaps rank")));
    row.set("upper", u(g.at("upper").get<std::string>()));
    row.set("lower", u(g.at("lower").get<std::string>()));
    row.set("diff", format_people(num(g.at("diff"))));
    row.set("ci", g.at("ci").is_array() ? format_people_interval(g.at("ci")) : "n/a");
    auto p_text = [&](const char* key) {
      return g.contains(key) && g.at(key).is_number() ? util::fixed_double(num(g.at(key)), 4) : std::string("n/a");
    };
    row.set("p", p_text("p"));
    row.set("p_holm", p_text("p_holm"));
    row.set("verdict", u(verdict_of(g)));
    gaps.push_back(row);
  }
  view.set("rank_gaps", gaps);
  data notes{data::type::list};
  for (const auto& n : results.value("notes", json::array()))
    if (n.is_string()) notes.push_back(data("text", u(n.get<std::string>())));
  view.set("has_notes", !notes.is_empty_list());
  view.set("notes", notes);
  view.set("has_rank_gaps", !gaps.is_empty_list());
  if (results.contains("statistics")) {
    const json& st = results.at("statistics");
    view.set("bootstrap", std::to_string(st.value("bootstrap", 0)));
    view.set("ci_level", util::fixed_double(100.0 * st.value("ci", 0.95), 1) + "%");
    view.set("alpha", util::fixed_double(100.0 * (1 - st.value("ci", 0.95)), 1) + "%");
    view.set("has_ci", st.value("bootstrap", 0) > 0);
  }

  data var{data::type::list};
  if (results.contains("variance"))
    for (auto it = results.at("variance").begin(); it != results.at("variance").end(); ++it) {
      const json& v = it.value();
      data row;
      row.set("metric", it.key());
      row.set("checkpoint", percent(num(v.at("checkpoint"))));
      row.set("prompt", percent(num(v.at("prompt"))));
      row.set("interaction", percent(num(v.at("checkpoint_x_prompt"))));
      row.set("seed", percent(num(v.at("seed"))));
      var.push_back(row);
    }
  view.set("variance", var);
  view.set("has_variance", !var.is_empty_list());

  // Charts (HTML only): the score, then every headline metric (no per-group breakdown, spread or z).
  data charts{data::type::list};
  if (!md) {
    data score;
    score.set("title", "score (higher is better)");
    score.set("svg", bar_chart(results, "score", true, 0));
    charts.push_back(score);
    for (const auto& m : means) {
      data c;
      // the results' own directions (ghx stats --lower-better), else ghx's rule
      bool lower = stats::lower_is_better(m);
      const json& dirs = results.contains("metric_directions") ? results.at("metric_directions") : json();
      if (dirs.is_object() && dirs.contains(m) && dirs.at(m).is_string()) lower = dirs.at(m).get<std::string>() == "lower";
      const int e = metric_exponent(results, m);
      c.set("title", m + (e == 0 ? std::string() : ", " + unit_text(e)) + (lower ? " (lower is better)" : " (higher is better)"));
      c.set("svg", bar_chart(results, m, false, e));
      charts.push_back(c);
    }
  }
  view.set("charts", charts);

  // Contact sheets: prompt x checkpoint, the first image of each, linked to the full size.
  // Split every k_sheet_columns checkpoints, so that thumbnails keep their size on a laptop.
  data sheets{data::type::list};
  for (const auto& sec : results.value("gallery", json::array())) {
    const json names = sec.value("checkpoints", json::array());
    size_t columns = names.size();
    for (const auto& r : sec.at("rows")) columns = std::max(columns, r.at("images").size());
    const auto chunks = column_chunks(columns, k_sheet_columns);
    for (const auto& [a, b] : chunks) {
      data sheet;
      sheet.set("section", u(sec.at("section").get<std::string>()));
      sheet.set("seed", sec.at("seed").get<std::string>());
      sheet.set("part", chunks.size() == 1 ? std::string()
                                           : ", checkpoints " + std::to_string(a + 1) + "-" + std::to_string(b) + " of " +
                                                 std::to_string(columns));
      data heads{data::type::list};
      for (size_t i = a; i < b && i < names.size(); ++i) heads.push_back(data("name", u(names.at(i).get<std::string>())));
      sheet.set("headers", heads);
      data rows{data::type::list};
      for (const auto& r : sec.at("rows")) {
        data row;
        row.set("prompt", u(r.at("prompt").get<std::string>()));
        row.set("text", u(r.at("text").get<std::string>()));
        data cells{data::type::list};
        const json& images = r.at("images");
        for (size_t i = a; i < b && i < images.size(); ++i) {
          std::string key = images.at(i).get<std::string>();
          data cell;
          cell.set("thumb", "thumbs/" + key + ".png");
          cell.set("full", "images/" + key + ".png");
          cells.push_back(cell);
        }
        row.set("cells", cells);
        rows.push_back(row);
      }
      sheet.set("rows", rows);
      sheets.push_back(sheet);
    }
  }
  view.set("sheets", sheets);
  view.set("has_sheets", !sheets.is_empty_list());

  // Provenance: what produced these numbers.
  if (results.contains("provenance")) {
    const json& pv = results.at("provenance");
    // results written before numerics entered the keys named the tool and libtorch instead
    std::string numerics = pv.value("numerics", "");
    if (numerics.empty()) numerics = pv.value("tool", "") + "; " + pv.value("libtorch", "");
    view.set("numerics", numerics);
    view.set("report_key", pv.value("report_key", ""));
    data models{data::type::list};
    for (const auto& m : pv.value("models", json::array())) {
      data row;
      row.set("entry", u(m.at("entry").get<std::string>()));
      row.set("sha256", m.at("sha256").get<std::string>());
      row.set("autov2", m.at("autov2").get<std::string>());
      models.push_back(row);
    }
    view.set("models", models);
    data seeds{data::type::list};
    for (const auto& sd : pv.value("seeds", json::array())) {
      data row;
      int64_t first = integer(sd.at("first"), "seeds first"), count = integer(sd.at("count"), "seeds count");
      row.set("section", u(sd.at("section").get<std::string>()));
      row.set("seeds", std::to_string(first) + ".." + std::to_string(add(add(first, count, "seeds"), -1, "seeds")) +
                           " (" + std::to_string(count) +
                           " images per prompt)");
      seeds.push_back(row);
    }
    view.set("seed_rows", seeds);
    data steps{data::type::list};
    int64_t total = 1;  // the report step itself
    for (auto it = pv.at("steps").begin(); it != pv.at("steps").end(); ++it) {
      data row;
      row.set("kind", it.key());
      const int64_t n = integer(it.value(), "steps count");
      row.set("count", std::to_string(n));
      steps.push_back(row);
      total = add(total, n, "steps total");
    }
    view.set("step_rows", steps);
    view.set("step_total", std::to_string(total));
    view.set("has_provenance", true);
  }
  data ckids{data::type::list};
  for (const auto& c : results.at("checkpoints")) {
    data row;
    row.set("name", u(c.at("name").get<std::string>()));
    row.set("identity", u(c.at("identity").get<std::string>()));
    ckids.push_back(row);
  }
  view.set("checkpoint_ids", ckids);

  data fixes{data::type::list};
  for (const auto& f : results.value("fixups", json::array())) {
    if (f.contains("checkpoint")) continue;  // NoTM entries: shown in the ranking's NoTM column
    data row;
    row.set("section", u(f.at("section").get<std::string>()));
    row.set("id", u(f.at("id").get<std::string>()));
    row.set("original", u(f.at("original").get<std::string>()));
    row.set("final", u(f.at("final").get<std::string>()));
    std::string rules;
    for (const auto& r : f.at("rules")) rules += (rules.empty() ? "" : ", ") + r.get<std::string>();
    row.set("rules", rules);
    fixes.push_back(row);
  }
  view.set("fixups", fixes);
  view.set("has_fixups", !fixes.is_empty_list());
  return view;
}

std::string render_template(const std::string& dir, const std::string& name, const data& view) {
  std::string path = dir + "/" + name;
  if (!util::file_exists(path)) throw Error(path + ": report template not found");
  mustache tmpl(util::read_file(path));
  if (!tmpl.is_valid()) throw Error(path + ": " + tmpl.error_message());
  return tmpl.render(view);
}

}  // namespace

namespace {
Rendered render_checked(const json& results, const std::string& templates);
}  // namespace

Rendered render(const json& results, const std::string& templates) {
  try {
    return render_checked(results, templates);
  } catch (const json::exception& e) {
    // A results document from a damaged cache entry or an edited bundle: one clear error.
    throw Error(std::string("results document is malformed: ") + e.what());
  }
}

namespace {
Rendered render_checked(const json& results, const std::string& templates) {
  Rendered r;
  r.markdown = render_template(templates, "report.md.mustache", build_view(results, true));
  r.html = render_template(templates, "report.html.mustache", build_view(results, false));
  r.json = results.dump(2) + "\n";
  std::vector<std::string> metrics = metric_names(results);
  // The bootstrap intervals, as two columns per number that has one (score first).
  std::vector<std::string> with_ci;
  {
    std::set<std::string> names;
    for (const auto& c : results.at("checkpoints"))
      if (c.contains("ci"))
        for (auto it = c.at("ci").begin(); it != c.at("ci").end(); ++it) names.insert(it.key());
    if (names.count("score")) with_ci.push_back("score");
    for (const auto& m : metrics)
      if (names.count(m)) with_ci.push_back(m);
  }
  r.csv = "rank,checkpoint,identity,score";
  for (const auto& m : metrics) r.csv += "," + csv_field(m);
  for (const auto& m : with_ci) r.csv += "," + csv_field(m + ".ci_lo") + "," + csv_field(m + ".ci_hi");
  r.csv += "\n";
  for (const auto& c : results.at("checkpoints")) {
    r.csv += std::to_string(integer(c.at("rank"), "checkpoint rank")) + "," + csv_field(c.at("name").get<std::string>()) + "," +
             csv_field(c.at("identity").get<std::string>()) + "," + util::shortest_double(num(c.at("score")));
    for (const auto& m : metrics)
      r.csv += "," + (c.at("metrics").contains(m) ? util::shortest_double(num(c.at("metrics").at(m))) : std::string());
    for (const auto& m : with_ci) {
      bool has = c.contains("ci") && c.at("ci").contains(m) && c.at("ci").at(m).is_array() && c.at("ci").at(m).size() == 2;
      r.csv += "," + (has ? util::shortest_double(num(c.at("ci").at(m).at(0))) : std::string());
      r.csv += "," + (has ? util::shortest_double(num(c.at("ci").at(m).at(1))) : std::string());
    }
    r.csv += "\n";
  }
  return r;
}
}  // namespace

void check_report_folder(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return;
  if (!std::filesystem::is_directory(dir, ec)) throw Error(dir + ": the report folder is a file; choose another --out");
  if (std::filesystem::is_empty(dir, ec)) return;
  for (const char* f : {"/results.json", "/review.json", "/provenance.json"})
    if (util::file_exists(dir + f)) return;
  throw Error(dir + ": not a ghx report folder (no results.json) and not empty; ghx replaces the whole report "
              "folder, so choose another --out");
}

std::string write_report(const json& results, const std::string& out_dir, const std::string& templates) {
  Rendered r = render(results, templates);
  util::write_file_atomic(out_dir + "/report.md", r.markdown);
  util::write_file_atomic(out_dir + "/report.html", r.html);
  util::write_file_atomic(out_dir + "/results.json", r.json);
  util::write_file_atomic(out_dir + "/results.csv", r.csv);
  return out_dir;
}

}  // namespace ghx::report
