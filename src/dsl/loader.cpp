#include "dsl/loader.h"

#include "models/clip_config.h"
#include "models/style_layers.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include <toml++/toml.h>

#include "dsl/lora.h"
#include "stats/stats.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/strings.h"

namespace ghx::dsl {

namespace {

namespace fs = std::filesystem;

const std::vector<std::string> k_generation_keys = {
    "backend",    "endpoints",      "sampler", "steps", "cfg_scale", "width",    "height",
    "batch_size", "n_iter",         "negative_prompt", "vae", "clip_skip", "hires", "workflow", "import_dir"};
const std::vector<std::string> k_backends = {"synthetic", "a1111", "comfyui", "import"};
const std::vector<std::string> k_metrics = {"style_loss", "aesthetic", "clip_score", "rating", "artifacts", "hpsv2", "pickscore"};
const std::vector<std::string> k_image_exts = {".png", ".jpg", ".jpeg", ".webp"};

/// Reads one TOML file's tables with position-aware checks.
class Reader {
 public:
  Reader(std::string file, Diagnostics& d) : m_file(std::move(file)), m_d(d) {}

  const std::string& file() const { return m_file; }

  SourcePos pos(const toml::source_region& r) const {
    return SourcePos{m_file, static_cast<int>(r.begin.line), static_cast<int>(r.begin.column)};
  }
  SourcePos pos(const toml::node& n) const { return pos(n.source()); }
  SourcePos file_pos() const { return SourcePos{m_file, 1, 1}; }

  void error(const SourcePos& p, std::string msg) { m_d.error(p, std::move(msg)); }

  /// Parses the file; reports syntax errors, empty and binary files.
  std::optional<toml::table> parse() {
    std::string text;
    try {
      text = util::read_file(m_file);
    } catch (const std::exception&) {
      m_d.error(SourcePos{m_file, 0, 0}, "cannot read file");
      return std::nullopt;
    }
    m_d.note_input("file " + fs::absolute(m_file).lexically_normal().string() + " " + util::xxh3_128(text).hex());
    size_t nul = text.find('\0');
    if (nul != std::string::npos) {
      int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + nul, '\n'));
      size_t ls = text.rfind('\n', nul);
      int col = static_cast<int>(nul - (ls == std::string::npos ? 0 : ls + 1)) + 1;
      m_d.error(SourcePos{m_file, line, col}, "binary file (NUL byte), not TOML");
      return std::nullopt;
    }
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
      m_d.error(file_pos(), "empty file");
      return std::nullopt;
    }
    try {
      return toml::parse(text, m_file);
    } catch (const toml::parse_error& e) {
      m_d.error(pos(e.source()), std::string(e.description()));
      return std::nullopt;
    }
  }

  /// Reports every key of `t` not in `known`, with the nearest valid name.
  void check_keys(const toml::table& t, const std::vector<std::string>& known, const std::string& where) {
    for (auto&& [k, v] : t) {
      std::string key(k.str());
      if (std::find(known.begin(), known.end(), key) != known.end()) continue;
      std::string msg = "unknown key '" + key + "' in " + where;
      std::string near = util::closest_match(key, known);
      if (!near.empty()) msg += " (did you mean '" + near + "'?)";
      error(pos(k.source()), msg);
    }
  }

  const toml::node* get(const toml::table& t, const std::string& key) const { return t.get(key); }

  std::optional<std::string> str(const toml::table& t, const std::string& key, const std::string& where,
                                 bool required, const SourcePos& table_pos) {
    const toml::node* n = t.get(key);
    if (!n) {
      if (required) error(table_pos, "missing required key '" + key + "' in " + where);
      return std::nullopt;
    }
    if (auto v = n->value_exact<std::string>()) return *v;
    error(pos(*n), "'" + key + "' must be a string, not " + type_name(*n));
    return std::nullopt;
  }

  std::optional<int64_t> integer(const toml::table& t, const std::string& key, int64_t lo, int64_t hi) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    auto v = n->value_exact<int64_t>();
    if (!v) {
      error(pos(*n), "'" + key + "' must be an integer, not " + type_name(*n));
      return std::nullopt;
    }
    if (*v < lo || *v > hi) {
      error(pos(*n), "'" + key + "' = " + std::to_string(*v) + " is out of range [" + std::to_string(lo) + ", " +
                         std::to_string(hi) + "]");
      return std::nullopt;
    }
    return *v;
  }

  std::optional<double> number(const toml::table& t, const std::string& key, double lo, double hi) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    std::optional<double> v;
    if (auto d = n->value_exact<double>()) v = *d;
    else if (auto i = n->value_exact<int64_t>()) v = static_cast<double>(*i);
    if (!v) {
      error(pos(*n), "'" + key + "' must be a number, not " + type_name(*n));
      return std::nullopt;
    }
    if (!(*v >= lo && *v <= hi)) {
      error(pos(*n), "'" + key + "' = " + util::shortest_double(*v) + " is out of range [" +
                         util::shortest_double(lo) + ", " + util::shortest_double(hi) + "]");
      return std::nullopt;
    }
    return v;
  }

  std::optional<bool> boolean(const toml::table& t, const std::string& key) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (auto v = n->value_exact<bool>()) return *v;
    error(pos(*n), "'" + key + "' must be true or false, not " + type_name(*n));
    return std::nullopt;
  }

  std::optional<std::vector<std::string>> strings(const toml::table& t, const std::string& key) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    const toml::array* a = n->as_array();
    if (!a) {
      error(pos(*n), "'" + key + "' must be an array of strings, not " + type_name(*n));
      return std::nullopt;
    }
    std::vector<std::string> out;
    bool ok = true;
    for (const auto& e : *a) {
      if (auto s = e.value_exact<std::string>()) {
        out.push_back(*s);
      } else {
        error(pos(e), "'" + key + "' must hold only strings, found " + type_name(e));
        ok = false;
      }
    }
    if (!ok) return std::nullopt;
    return out;
  }

  const toml::table* table(const toml::table& t, const std::string& key) {
    const toml::node* n = t.get(key);
    if (!n) return nullptr;
    if (const toml::table* tt = n->as_table()) return tt;
    error(pos(*n), "'" + key + "' must be a table, not " + type_name(*n));
    return nullptr;
  }

  /// An array of tables ([[name]]); reports a wrong type.
  const toml::array* table_array(const toml::table& t, const std::string& key) {
    const toml::node* n = t.get(key);
    if (!n) return nullptr;
    const toml::array* a = n->as_array();
    if (!a || !a->is_array_of_tables()) {
      error(pos(*n), "'" + key + "' must be an array of tables ([[" + key + "]])");
      return nullptr;
    }
    return a;
  }

  /// Resolves a path named at `p` relative to this file; reports a missing file or folder.
  std::optional<std::string> existing_path(const std::string& rel, const SourcePos& p, const std::string& what,
                                           bool folder = false) {
    std::string path = util::resolve_relative(m_file, rel);
    bool ok = folder ? util::is_directory(path) : util::file_exists(path);
    m_d.note_input(std::string(folder ? "folder " : "path ") + fs::absolute(path).lexically_normal().string() +
                   (ok ? " yes" : " no"));
    if (!ok) {
      error(p, what + " not found: '" + rel + "' (resolved to " + path + ")");
      return std::nullopt;
    }
    return path;
  }

  static std::string type_name(const toml::node& n) {
    switch (n.type()) {
      case toml::node_type::table: return "a table";
      case toml::node_type::array: return "an array";
      case toml::node_type::string: return "a string";
      case toml::node_type::integer: return "an integer";
      case toml::node_type::floating_point: return "a float";
      case toml::node_type::boolean: return "a boolean";
      case toml::node_type::date: return "a date";
      case toml::node_type::time: return "a time";
      case toml::node_type::date_time: return "a date-time";
      default: return "nothing";
    }
  }

 private:
  std::string m_file;
  Diagnostics& m_d;
};

/// Reads generation keys present in `t` over `g` (defaults or the experiment's values).
void read_generation(Reader& r, const toml::table& t, Generation& g, const std::string& where) {
  const SourcePos tp = r.pos(t);
  if (auto v = r.str(t, "backend", where, false, tp)) {
    if (std::find(k_backends.begin(), k_backends.end(), *v) == k_backends.end()) {
      std::string msg = "unknown backend '" + *v + "' (one of: " + util::join(k_backends, ", ") + ")";
      r.error(r.pos(*t.get("backend")), msg);
    } else {
      g.backend = *v;
    }
  }
  if (auto v = r.strings(t, "endpoints")) g.endpoints = *v;
  if (auto v = r.str(t, "sampler", where, false, tp)) g.sampler = *v;
  if (auto v = r.integer(t, "steps", 1, 10000)) g.steps = *v;
  if (auto v = r.number(t, "cfg_scale", 0, 100)) g.cfg_scale = *v;
  if (auto v = r.integer(t, "width", 8, 16384)) g.width = *v;
  if (auto v = r.integer(t, "height", 8, 16384)) g.height = *v;
  if (auto v = r.integer(t, "batch_size", 1, 1024)) g.batch_size = *v;
  if (auto v = r.integer(t, "n_iter", 1, 100000)) g.n_iter = *v;
  if (auto v = r.str(t, "negative_prompt", where, false, tp)) g.negative_prompt = *v;
  if (auto v = r.str(t, "vae", where, false, tp)) g.vae = *v;
  if (auto v = r.integer(t, "clip_skip", 1, 12)) g.clip_skip = *v;
  if (auto v = r.str(t, "workflow", where, false, tp)) {
    if (auto p = r.existing_path(*v, r.pos(*t.get("workflow")), "ComfyUI workflow")) g.workflow = *p;
  }
  if (auto v = r.str(t, "import_dir", where, false, tp)) {
    if (auto p = r.existing_path(*v, r.pos(*t.get("import_dir")), "import folder", true)) g.import_dir = *p;
  }
  if (const toml::table* h = r.table(t, "hires")) {
    std::string hw = where == "[generation]" ? "[generation.hires]" : where + ".hires";
    r.check_keys(*h, {"scale", "upscaler", "denoising_strength", "second_pass_steps"}, hw);
    Hires hr = g.hires.value_or(Hires{});
    if (auto v = r.number(*h, "scale", 1, 8)) hr.scale = *v;
    if (auto v = r.str(*h, "upscaler", hw, false, r.pos(*h))) hr.upscaler = *v;
    if (auto v = r.number(*h, "denoising_strength", 0, 1)) hr.denoising_strength = *v;
    if (auto v = r.integer(*h, "second_pass_steps", 0, 10000)) hr.second_pass_steps = *v;
    g.hires = hr;
  }
}

std::optional<ModelFile> read_model(Reader& r, const toml::table& models, const std::string& key,
                                    const std::vector<std::string>& known) {
  const toml::table* t = r.table(models, key);
  if (!t) return std::nullopt;
  std::string where = "[models] " + key;
  r.check_keys(*t, known, where);
  ModelFile m;
  m.pos = r.pos(*t);
  auto file = r.str(*t, "file", where, true, m.pos);
  if (file) {
    if (auto p = r.existing_path(*file, r.pos(*t->get("file")), "model file")) m.file = *p;
  }
  m.arch = r.str(*t, "arch", where, false, m.pos).value_or("");
  m.layout = r.str(*t, "layout", where, false, m.pos).value_or("");
  m.activation = r.str(*t, "activation", where, false, m.pos).value_or("");
  m.clip = r.str(*t, "clip", where, false, m.pos).value_or("");
  return m;
}


/// arch: a known name or a HF config.json (resolved relative to the file); layout, activation.
void check_clip(Reader& r, const toml::table& t, ModelFile& m) {
  if (m.arch.empty()) {
    m.arch = "ViT-L/14";
  } else if (auto name = models::clip_arch_name(m.arch)) {
    m.arch = *name;  // one spelling in keys: "vit-l-14" is "ViT-L/14"
  } else {
    if (auto p = r.existing_path(m.arch, r.pos(*t.get("arch")), "CLIP config (arch is not a known name: " +
                                                                    util::join(models::clip_arch_names(), ", ") + ")"))
      m.arch = *p;
  }
  if (!m.layout.empty() && m.layout != "hf" && m.layout != "openai")
    r.error(r.pos(*t.get("layout")), "layout must be 'hf' or 'openai', not '" + m.layout + "'");
  if (!m.activation.empty() && m.activation != "quick_gelu" && m.activation != "gelu")
    r.error(r.pos(*t.get("activation")), "activation must be 'quick_gelu' or 'gelu', not '" + m.activation + "'");
}

std::vector<std::string> list_images(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!e.is_regular_file(ec)) continue;
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (std::find(k_image_exts.begin(), k_image_exts.end(), ext) != k_image_exts.end())
      out.push_back(e.path().lexically_normal().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

const std::vector<std::string> k_fixup_kinds = {"swap_version", "default_weight", "add_missing_tags", "exclude_made_with"};

/// A LoRA weight: negative weights are real (they remove a concept), so only the size is bounded.
std::optional<double> lora_weight(Reader& r, const toml::table& t, const std::string& key) {
  return r.number(t, key, -100, 100);
}

/// [lora_defaults], [[lora]] with [[lora.showcase]], and [[fixup]] of a LoRA suite.
void read_loras(Reader& r, const toml::table& root, Suite& s, std::set<std::string>& ids) {
  if (const toml::table* t = r.table(root, "lora_defaults")) {
    r.check_keys(*t, {"weight"}, "[lora_defaults]");
    if (auto w = lora_weight(r, *t, "weight")) s.lora_default_weight = *w;
  }
  if (const toml::array* loras = r.table_array(root, "lora")) {
    for (const auto& n : *loras) {
      const toml::table& t = *n.as_table();
      r.check_keys(t, {"id", "tag", "file", "made_with", "showcase"}, "[[lora]]");
      Lora l;
      l.pos = r.pos(t);
      l.id = r.str(t, "id", "[[lora]]", true, l.pos).value_or("");
      l.tag = r.str(t, "tag", "[[lora]]", false, l.pos).value_or(l.id);
      if (l.tag.find_first_of(":<>") != std::string::npos || l.tag.find_first_not_of(" \t") == std::string::npos)
        r.error(t.get("tag") ? r.pos(*t.get("tag")) : l.pos, "LoRA tag '" + l.tag + "' must be a name without ':', '<' or '>'");
      if (auto f = r.str(t, "file", "[[lora]]", false, l.pos)) {
        if (auto p = r.existing_path(*f, r.pos(*t.get("file")), "LoRA file")) l.file = *p;
      }
      if (auto m = r.strings(t, "made_with")) l.made_with = *m;
      if (!l.id.empty() && !ids.insert(l.id).second) r.error(r.pos(*t.get("id")), "duplicate id '" + l.id + "'");
      if (const toml::array* shows = r.table_array(t, "showcase")) {
        for (const auto& sn : *shows) {
          const toml::table& st = *sn.as_table();
          std::string where = "[[lora.showcase]] of '" + l.id + "'";
          r.check_keys(st, {"image", "prompt", "negative", "skip", "uses"}, where);
          Showcase sc;
          sc.pos = r.pos(st);
          if (auto img = r.str(st, "image", where, true, sc.pos)) {
            if (auto p = r.existing_path(*img, r.pos(*st.get("image")), "showcase image")) sc.image = *p;
          }
          sc.prompt = r.str(st, "prompt", where, true, sc.pos).value_or("");
          if (auto v = r.str(st, "negative", where, false, sc.pos)) sc.negative = *v;
          sc.skip = r.boolean(st, "skip").value_or(false);
          if (const toml::node* un = st.get("uses")) {
            const toml::array* ua = un->as_array();
            if (!ua) r.error(r.pos(*un), "'uses' must be an array of { lora = ID, weight = W } tables");
            for (size_t i = 0; ua && i < ua->size(); ++i) {
              const toml::table* ut = (*ua)[i].as_table();
              if (!ut) {
                r.error(r.pos((*ua)[i]), "'uses' must hold tables like { lora = \"id\", weight = 0.5 }");
                continue;
              }
              r.check_keys(*ut, {"lora", "weight"}, "'uses'");
              LoraUse u;
              u.pos = r.pos(*ut);
              u.lora = r.str(*ut, "lora", "'uses'", true, u.pos).value_or("");
              u.weight = lora_weight(r, *ut, "weight");
              sc.uses.push_back(std::move(u));
            }
          }
          l.showcase.push_back(std::move(sc));
        }
      }
      s.loras.push_back(std::move(l));
    }
    for (const Lora& l : s.loras)
      for (const Showcase& sc : l.showcase)
        for (const LoraUse& u : sc.uses)
          if (!u.lora.empty() && !s.lora(u.lora)) {
            std::vector<std::string> known;
            for (const Lora& o : s.loras) known.push_back(o.id);
            std::string msg = "'uses' names LoRA '" + u.lora + "', which is not a [[lora]] id of this suite";
            std::string near = util::closest_match(u.lora, known);
            if (!near.empty()) msg += " (did you mean '" + near + "'?)";
            r.error(u.pos, msg);
          }
  }
  if (const toml::array* fixups = r.table_array(root, "fixup")) {
    if (s.loras.empty() && !fixups->empty())
      r.error(r.pos((*fixups)[0]), "[[fixup]] rules rewrite LoRA showcase prompts, and this suite has no [[lora]]");
    for (const auto& n : *fixups) {
      const toml::table& t = *n.as_table();
      Fixup f;
      f.pos = r.pos(t);
      f.weight = s.lora_default_weight;
      std::string kind = r.str(t, "kind", "[[fixup]]", true, f.pos).value_or("");
      auto k = std::find(k_fixup_kinds.begin(), k_fixup_kinds.end(), kind);
      if (k == k_fixup_kinds.end()) {
        if (t.get("kind") && t.get("kind")->is_string()) {
          std::string msg = "unknown fixup kind '" + kind + "' (one of: " + util::join(k_fixup_kinds, ", ") + ")";
          std::string near = util::closest_match(kind, k_fixup_kinds);
          if (!near.empty()) msg += " (did you mean '" + near + "'?)";
          r.error(r.pos(*t.get("kind")), msg);
        }
        continue;
      }
      f.kind = static_cast<FixupKind>(k - k_fixup_kinds.begin());
      std::string where = "[[fixup]] " + kind;
      switch (f.kind) {
        case FixupKind::swap_version:
          r.check_keys(t, {"kind", "from", "to"}, where);
          f.from = r.str(t, "from", where, true, f.pos).value_or("");
          f.to = r.str(t, "to", where, true, f.pos).value_or("");
          if (f.to.find_first_of(":<>") != std::string::npos)
            r.error(r.pos(*t.get("to")), "'to' must be a LoRA name without ':', '<' or '>'");
          break;
        case FixupKind::default_weight:
          r.check_keys(t, {"kind", "weight"}, where);
          if (auto w = lora_weight(r, t, "weight")) f.weight = *w;
          break;
        default: r.check_keys(t, {"kind"}, where); break;
      }
      s.fixups.push_back(std::move(f));
    }
  }
}

std::optional<Suite> read_suite(const std::string& path, Diagnostics& d) {
  Reader r(path, d);
  auto doc = r.parse();
  if (!doc) return std::nullopt;
  const toml::table& root = *doc;
  r.check_keys(root, {"suite", "prompt", "style", "lora", "lora_defaults", "fixup"}, "a suite file");
  Suite s;
  s.file = path;
  if (const toml::table* st = r.table(root, "suite")) {
    r.check_keys(*st, {"name", "description"}, "[suite]");
    s.name = r.str(*st, "name", "[suite]", true, r.pos(*st)).value_or("");
    r.str(*st, "description", "[suite]", false, r.pos(*st));
  } else if (!root.get("suite")) {
    r.error(r.file_pos(), "missing required table [suite]");
  }
  std::set<std::string> ids;
  if (const toml::array* prompts = r.table_array(root, "prompt")) {
    for (const auto& n : *prompts) {
      const toml::table& t = *n.as_table();
      r.check_keys(t, {"id", "text", "negative", "skip"}, "[[prompt]]");
      Prompt p;
      p.pos = r.pos(t);
      p.id = r.str(t, "id", "[[prompt]]", true, p.pos).value_or("");
      p.text = r.str(t, "text", "[[prompt]]", true, p.pos).value_or("");
      if (auto v = r.str(t, "negative", "[[prompt]]", false, p.pos)) p.negative = *v;
      p.skip = r.boolean(t, "skip").value_or(false);
      if (!p.id.empty() && !ids.insert(p.id).second) r.error(r.pos(*t.get("id")), "duplicate prompt id '" + p.id + "'");
      s.prompts.push_back(std::move(p));
    }
  }
  if (const toml::array* styles = r.table_array(root, "style")) {
    for (const auto& n : *styles) {
      const toml::table& t = *n.as_table();
      r.check_keys(t, {"id", "prompts", "targets"}, "[[style]]");
      Style st;
      st.pos = r.pos(t);
      st.id = r.str(t, "id", "[[style]]", true, st.pos).value_or("");
      if (auto v = r.strings(t, "prompts")) {
        st.prompts = *v;
        if (v->empty()) r.error(r.pos(*t.get("prompts")), "style '" + st.id + "' has no prompts");
      } else if (!t.get("prompts")) {
        r.error(st.pos, "missing required key 'prompts' in [[style]]");
      }
      if (auto v = r.str(t, "targets", "[[style]]", true, st.pos)) {
        SourcePos tp = r.pos(*t.get("targets"));
        if (auto dir = r.existing_path(*v, tp, "targets folder", true)) {
          st.targets_dir = *dir;
          st.target_files = list_images(*dir);
          d.note_input("listing " + fs::absolute(*dir).lexically_normal().string() + " " +
                       util::xxh3_128(util::join(st.target_files, "\n")).hex());
          if (st.target_files.empty()) r.error(tp, "targets folder '" + *v + "' holds no png/jpg/webp image");
        }
      }
      if (!st.id.empty() && !ids.insert(st.id).second) r.error(r.pos(*t.get("id")), "duplicate id '" + st.id + "'");
      s.styles.push_back(std::move(st));
    }
  }
  read_loras(r, root, s, ids);
  if (d.has_errors()) return std::nullopt;
  return s;
}

}  // namespace

std::optional<Suite> load_suite(const std::string& path, Diagnostics& diags) {
  size_t before = diags.error_count();
  auto s = read_suite(path, diags);
  if (diags.error_count() != before) return std::nullopt;
  return s;
}

std::optional<Review> load_review(const std::string& path, Diagnostics& diags) {
  Reader r(path, diags);
  auto doc = r.parse();
  if (!doc) return std::nullopt;
  const toml::table& root = *doc;
  Review rv;
  rv.file = path;
  r.check_keys(root, {"experiment", "generation", "checkpoint", "models", "metrics", "statistics", "section", "cache"},
               "the experiment file");

  if (const toml::table* t = r.table(root, "cache")) {
    r.check_keys(*t, {"remote"}, "[cache]");
    if (auto u = r.str(*t, "remote", "[cache]", false, r.pos(*t))) {
      if (u->rfind("http://", 0) != 0 && u->rfind("https://", 0) != 0)
        r.error(r.pos(*t->get("remote")), "[cache] remote must be an http:// or https:// URL, not '" + *u + "'");
      else
        rv.cache_remote = *u;
    }
  }

  if (const toml::table* t = r.table(root, "experiment")) {
    r.check_keys(*t, {"name", "version", "seed", "description"}, "[experiment]");
    SourcePos tp = r.pos(*t);
    rv.name = r.str(*t, "name", "[experiment]", true, tp).value_or("");
    rv.version = r.str(*t, "version", "[experiment]", true, tp).value_or("");
    if (auto v = r.integer(*t, "seed", 0, 4294967295LL)) rv.seed = *v;
    rv.description = r.str(*t, "description", "[experiment]", false, tp).value_or("");
    for (char c : rv.name) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
        r.error(r.pos(*t->get("name")), "experiment name '" + rv.name + "' may hold only letters, digits, '-', '_', '.'");
        break;
      }
    }
  } else if (!root.get("experiment")) {
    r.error(r.file_pos(), "missing required table [experiment]");
  }

  if (const toml::table* t = r.table(root, "generation")) {
    r.check_keys(*t, k_generation_keys, "[generation]");
    read_generation(r, *t, rv.generation, "[generation]");
  }

  if (const toml::array* cps = r.table_array(root, "checkpoint")) {
    std::set<std::string> names;
    for (const auto& n : *cps) {
      const toml::table& t = *n.as_table();
      r.check_keys(t, {"name", "file", "backend_name", "sha256"}, "[[checkpoint]]");
      Checkpoint c;
      c.pos = r.pos(t);
      c.name = r.str(t, "name", "[[checkpoint]]", true, c.pos).value_or("");
      if (auto f = r.str(t, "file", "[[checkpoint]]", false, c.pos)) {
        if (auto p = r.existing_path(*f, r.pos(*t.get("file")), "checkpoint file")) c.file = *p;
      }
      c.backend_name = r.str(t, "backend_name", "[[checkpoint]]", false, c.pos).value_or("");
      if (auto s = r.str(t, "sha256", "[[checkpoint]]", false, c.pos)) {
        std::string h = *s;
        std::transform(h.begin(), h.end(), h.begin(), [](unsigned char ch) { return std::tolower(ch); });
        if (h.size() != 64 || h.find_first_not_of("0123456789abcdef") != std::string::npos)
          r.error(r.pos(*t.get("sha256")), "sha256 must be 64 hex digits");
        else
          c.sha256 = h;
      }
      if (!t.get("file") && !t.get("backend_name"))
        r.error(c.pos, "checkpoint '" + c.name + "' needs 'file' or 'backend_name'");
      if (!c.name.empty() && !names.insert(c.name).second)
        r.error(r.pos(*t.get("name")), "duplicate checkpoint name '" + c.name + "'");
      rv.checkpoints.push_back(std::move(c));
    }
  }
  if (!root.get("checkpoint")) r.error(r.file_pos(), "no [[checkpoint]]: a review needs at least one");

  if (const toml::table* t = r.table(root, "models")) {
    const std::vector<std::string> fixed = {"clip", "tokenizer", "vgg19", "aesthetic", "rating", "artifacts", "hpsv2", "pickscore"};
    for (auto&& [k, v] : *t) {
      std::string key(k.str());
      bool is_clip = key == "clip" || key.rfind("clip_", 0) == 0 || key == "hpsv2" || key == "pickscore";
      bool is_head = key == "aesthetic" || key == "rating" || key == "artifacts";
      if (is_clip) {
        if (auto m = read_model(r, *t, key, {"file", "arch", "layout", "activation"})) {
          check_clip(r, *v.as_table(), *m);
          rv.models.clips[key] = *m;
        }
      } else if (is_head) {
        if (auto m = read_model(r, *t, key, {"file", "clip"})) {
          if (m->clip.empty()) m->clip = "clip";
          rv.models.heads[key] = *m;
        }
      } else if (key != "vgg19" && key != "tokenizer") {
        std::string msg = "unknown key '" + key + "' in [models]";
        std::string near = util::closest_match(key, fixed);
        if (!near.empty()) msg += " (did you mean '" + near + "'?)";
        else msg += " (CLIP entries are 'clip', 'clip_<name>', 'hpsv2', 'pickscore'; heads 'aesthetic', 'rating', 'artifacts')";
        r.error(r.pos(k.source()), msg);
      }
    }
    for (const auto& [name, h] : rv.models.heads) {
      if (!rv.models.clip(h.clip)) {
        const toml::node* c = t->get(name)->as_table()->get("clip");
        r.error(c ? r.pos(*c) : h.pos, name + ".clip names '" + h.clip + "', which is not a CLIP entry of [models]");
      }
    }
    rv.models.vgg19 = read_model(r, *t, "vgg19", {"file"});
    if (auto tok = r.str(*t, "tokenizer", "[models]", false, r.pos(*t))) {
      if (auto p = r.existing_path(*tok, r.pos(*t->get("tokenizer")), "tokenizer file")) rv.models.tokenizer = *p;
    }
  }

  if (const toml::table* t = r.table(root, "metrics")) {
    r.check_keys(*t, {"style_loss", "clip_score"}, "[metrics]");
    if (const toml::table* s = r.table(*t, "style_loss")) {
      r.check_keys(*s, {"variant", "layers"}, "[metrics] style_loss");
      if (auto l = r.str(*s, "layers", "[metrics] style_loss", false, r.pos(*s))) {
        try {
          rv.metrics.style_layers = models::style_layers(*l).name;
        } catch (const std::exception& e) {
          r.error(r.pos(*s->get("layers")), std::string("[metrics] style_loss: ") + e.what());
        }
      }
      if (auto v = r.str(*s, "variant", "[metrics] style_loss", false, r.pos(*s))) {
        if (*v == "ghostreview") rv.metrics.style_loss = StyleLossVariant::ghostreview;
        else if (*v == "normalized") rv.metrics.style_loss = StyleLossVariant::normalized;
        else r.error(r.pos(*s->get("variant")), "style_loss variant must be 'ghostreview' or 'normalized', not '" + *v + "'");
      }
    }
    if (const toml::table* s = r.table(*t, "clip_score")) {
      r.check_keys(*s, {"variant"}, "[metrics] clip_score");
      if (auto v = r.str(*s, "variant", "[metrics] clip_score", false, r.pos(*s))) {
        if (*v == "raw") rv.metrics.clip_score = ClipScoreVariant::raw;
        else if (*v == "hessel") rv.metrics.clip_score = ClipScoreVariant::hessel;
        else if (*v == "x100") rv.metrics.clip_score = ClipScoreVariant::x100;
        else r.error(r.pos(*s->get("variant")), "clip_score variant must be 'raw', 'hessel' or 'x100', not '" + *v + "'");
      }
    }
  }

  if (const toml::table* t = r.table(root, "statistics")) {
    r.check_keys(*t, {"bootstrap", "ci", "seed"}, "[statistics]");
    if (auto v = r.integer(*t, "bootstrap", 0, stats::k_max_bootstrap)) {
      // Fewer replicates cannot resolve the Holm-corrected tails (docs/statistics.md); 0 = off.
      if (*v != 0 && *v < stats::k_min_bootstrap)
        r.error(r.pos(*t->get("bootstrap")), "'bootstrap' = " + std::to_string(*v) + " is too few: 0 (no intervals) or at least " +
                                             std::to_string(stats::k_min_bootstrap));
      else
        rv.statistics.bootstrap = *v;
    }
    if (auto v = r.number(*t, "ci", 0.5, 0.999)) rv.statistics.ci = *v;
    if (auto v = r.integer(*t, "seed", 0, std::numeric_limits<int64_t>::max())) rv.statistics.seed = *v;
  }

  std::map<std::string, std::optional<Suite>> suites;  // by resolved path: each file loaded once
  auto suite_at = [&](const std::string& resolved) -> std::optional<Suite>& {
    auto it = suites.find(resolved);
    if (it == suites.end()) it = suites.emplace(resolved, load_suite(resolved, diags)).first;
    return it->second;
  };

  if (const toml::array* secs = r.table_array(root, "section")) {
    std::set<std::string> ids;
    std::vector<std::string> known = {"id", "prompts", "styles", "loras", "metrics", "style_size"};
    known.insert(known.end(), k_generation_keys.begin(), k_generation_keys.end());
    for (const auto& n : *secs) {
      const toml::table& t = *n.as_table();
      Section s;
      s.pos = r.pos(t);
      s.id = r.str(t, "id", "[[section]]", true, s.pos).value_or("");
      std::string where = "[[section]] '" + s.id + "'";
      r.check_keys(t, known, where);
      s.generation = rv.generation;
      read_generation(r, t, s.generation, where);
      if (!s.id.empty() && !ids.insert(s.id).second) r.error(r.pos(*t.get("id")), "duplicate section id '" + s.id + "'");
      if (s.generation.backend == "comfyui" && s.generation.workflow.empty())
        r.error(s.pos, "section '" + s.id + "': the comfyui backend needs 'workflow' (an API-format workflow template)");
      if (s.generation.backend == "import" && s.generation.import_dir.empty())
        r.error(s.pos, "section '" + s.id + "': the import backend needs 'import_dir' (a folder of images)");
      if (auto v = r.str(t, "prompts", where, false, s.pos)) {
        if (auto p = r.existing_path(*v, r.pos(*t.get("prompts")), "prompt suite")) {
          auto& su = suite_at(*p);
          if (su && su->prompts.empty()) r.error(r.pos(*t.get("prompts")), "suite '" + *v + "' has no [[prompt]]");
          s.prompts = su;
        }
      }
      if (auto v = r.str(t, "styles", where, false, s.pos)) {
        if (auto p = r.existing_path(*v, r.pos(*t.get("styles")), "style suite")) {
          auto& su = suite_at(*p);
          if (su && su->styles.empty()) r.error(r.pos(*t.get("styles")), "suite '" + *v + "' has no [[style]]");
          s.styles = su;
        }
      }
      if (auto v = r.str(t, "loras", where, false, s.pos)) {
        SourcePos lp = r.pos(*t.get("loras"));
        if (t.get("prompts") || t.get("styles"))
          r.error(lp, "section '" + s.id + "': 'loras' cannot be combined with 'prompts' or 'styles' (one suite per LoRA section)");
        if (auto p = r.existing_path(*v, lp, "LoRA suite")) {
          auto& su = suite_at(*p);
          size_t shown = 0;
          if (su)
            for (const auto& l : su->loras)
              for (const auto& sc : l.showcase) shown += !sc.skip;
          if (su && shown == 0) r.error(lp, "suite '" + *v + "' has no [[lora]] with a (non-skipped) [[lora.showcase]]");
          s.loras = su;
        }
      }
      if (!t.get("prompts") && !t.get("styles") && !t.get("loras"))
        r.error(s.pos, "section '" + s.id + "' needs 'prompts', 'styles' or 'loras'");
      if (auto m = r.strings(t, "metrics")) {
        std::set<std::string> seen;
        for (const auto& name : *m) {
          SourcePos mp = r.pos(*t.get("metrics"));
          if (std::find(k_metrics.begin(), k_metrics.end(), name) == k_metrics.end()) {
            std::string msg = "unknown metric '" + name + "'";
            std::string near = util::closest_match(name, k_metrics);
            if (!near.empty()) msg += " (did you mean '" + near + "'?)";
            r.error(mp, msg);
          } else if (!seen.insert(name).second) {
            r.error(mp, "metric '" + name + "' listed twice");
          }
        }
        s.metrics = *m;
        if (m->empty()) r.error(r.pos(*t.get("metrics")), "section '" + s.id + "' lists no metric");
      } else if (!t.get("metrics")) {
        r.error(s.pos, "missing required key 'metrics' in " + where);
      }
      if (const toml::node* ss = t.get("style_size")) {
        const toml::array* a = ss->as_array();
        if (!a || a->size() != 2 || !(*a)[0].is_integer() || !(*a)[1].is_integer()) {
          r.error(r.pos(*ss), "style_size must be [width, height] (two integers)");
        } else {
          int64_t w = *(*a)[0].value<int64_t>(), h = *(*a)[1].value<int64_t>();
          if (w < 8 || h < 8 || w > 4096 || h > 4096) r.error(r.pos(*ss), "style_size values must be in [8, 4096]");
          else s.style_size = std::make_pair(w, h);
        }
      }
      auto wants = [&](const char* m) { return std::find(s.metrics.begin(), s.metrics.end(), m) != s.metrics.end(); };
      bool wants_style = wants("style_loss");
      for (const auto& m : s.metrics) {
        if (m == "style_loss") continue;
        if (!t.get("prompts") && !t.get("loras"))
          r.error(s.pos, "section '" + s.id + "': metric '" + m + "' needs a prompt suite ('prompts' or 'loras')");
        if (is_head_metric(m) && !rv.models.head(m))
          r.error(s.pos, "section '" + s.id + "': metric '" + m + "' needs [models] " + m + " (a head) and its CLIP");
        std::string clip = m == "clip_score" ? "clip" : m;
        if ((m == "clip_score" || is_preference_metric(m)) && !rv.models.clip(clip))
          r.error(s.pos, "section '" + s.id + "': metric '" + m + "' needs [models] " + clip);
        // A declared tokenizer whose file is missing was reported already: one error per cause.
        bool tokenizer_declared = root.get("models") && root["models"]["tokenizer"];
        if ((m == "clip_score" || is_preference_metric(m)) && !tokenizer_declared)
          r.error(s.pos, "section '" + s.id + "': metric '" + m + "' needs [models] tokenizer");
      }
      if (wants_style && !t.get("styles") && !t.get("loras"))
        r.error(s.pos, "section '" + s.id + "': style_loss needs a style suite ('styles') or a LoRA suite ('loras')");
      if (wants_style && !rv.models.vgg19 && !(root.get("models") && root["models"]["vgg19"]))
        r.error(s.pos, "section '" + s.id + "': style_loss needs [models] vgg19");
      rv.sections.push_back(std::move(s));
    }
  }
  if (!root.get("section")) r.error(r.file_pos(), "no [[section]]: a review needs at least one");

  // Rules that change nothing are warnings (docs/language.md), once per LoRA suite file.
  std::vector<std::string> names;
  for (const auto& c : rv.checkpoints) names.push_back(c.name);
  std::set<std::string> warned;
  for (const auto& sec : rv.sections)
    if (sec.loras && warned.insert(sec.loras->file).second) {
      warn_unused_fixups(*sec.loras, names, diags);
      warn_unreadable_tags(*sec.loras, diags);
    }

  if (diags.has_errors()) return std::nullopt;
  rv.inputs_digest = util::xxh3_128(diags.inputs()).hex();
  return rv;
}

}  // namespace ghx::dsl
