#include "dsl/csv_import.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "util/error.h"
#include "util/fs.h"
#include "util/strings.h"

namespace ghx::dsl {

namespace {

using util::trim;

constexpr std::string_view k_bom = "\xEF\xBB\xBF";

/// Length of the valid UTF-8 sequence at `i`, or 0 (overlong forms and surrogates are invalid).
size_t utf8_len(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  static constexpr uint32_t k_min[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < k_min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

/// TOML files must be UTF-8 without NUL, so a CSV that is not gets refused here, at its
/// position, rather than producing a suite the loader cannot read.
bool check_bytes(std::string_view t, size_t i, const std::string& file, Diagnostics& d) {
  int line = 1, col = 1;
  while (i < t.size()) {
    char c = t[i];
    if (c == '\n' || c == '\r') {
      i += (c == '\r' && i + 1 < t.size() && t[i + 1] == '\n') ? 2 : 1;
      ++line;
      col = 1;
      continue;
    }
    if (c == '\0') {
      d.error(SourcePos{file, line, col}, "binary file (NUL byte), not CSV");
      return false;
    }
    size_t n = utf8_len(t, i);
    if (n == 0) {
      d.error(SourcePos{file, line, col}, "invalid UTF-8 (save the file as UTF-8)");
      return false;
    }
    i += n;
    ++col;
  }
  return true;
}

/// Walks the text keeping the physical line and the column in code points.
class Cursor {
 public:
  Cursor(std::string_view t, size_t start, std::string file) : m_t(t), m_i(start), m_file(std::move(file)) {}
  bool done() const { return m_i >= m_t.size(); }
  char peek(size_t k = 0) const { return m_i + k < m_t.size() ? m_t[m_i + k] : '\0'; }
  bool at_line_end() const { return peek() == '\n' || peek() == '\r'; }
  SourcePos pos() const { return SourcePos{m_file, m_line, m_col}; }
  /// Consumes one byte that is not a line end.
  char next() {
    char c = m_t[m_i++];
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++m_col;
    return c;
  }
  /// Consumes a line end: CRLF, LF or a lone CR.
  void newline() {
    m_i += (peek() == '\r' && peek(1) == '\n') ? 2 : 1;
    ++m_line;
    m_col = 1;
  }

 private:
  std::string_view m_t;
  size_t m_i;
  std::string m_file;
  int m_line = 1;
  int m_col = 1;
};

/// Prompt cells lose surrounding white space (also line ends): the generation servers ignore
/// it, and in TOML it would be invisible.
std::string trim_text(std::string_view s) { return std::string(trim(s)); }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool is_blank(const CsvRecord& r) {
  for (const auto& f : r.fields)
    if (!trim(f.text, " \t\r\n").empty()) return false;
  return true;
}

/// A LoRA reference of the Add (or LoRA) column.
struct LoraRef {
  std::string name;
  std::optional<double> weight;
};

std::optional<double> parse_weight(std::string_view s) {
  s = trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  double v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

/// `NAME`, `NAME:W`, `<lora:NAME>` or `<lora:NAME:W>`, spaces tolerated. Returns "" or why not.
std::string parse_ref(std::string_view item, LoraRef& ref) {
  std::string_view body = trim(item);
  bool bracketed = !body.empty() && body.front() == '<';
  if (bracketed) {
    if (body.size() < 2 || body.back() != '>') return "missing '>'";
    body = body.substr(1, body.size() - 2);
  }
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    size_t colon = body.find(':', start);
    parts.push_back(trim(body.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start)));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (bracketed) {
    if (lower(parts[0]) != "lora" || parts.size() < 2) return "a tag is <lora:NAME> or <lora:NAME:W>";
    parts.erase(parts.begin());
  }
  if (parts.size() > 2)
    return bracketed && parts.size() == 3 ? "one weight expected, not <lora:NAME:TE:UNET>" : "too many ':'";
  if (parts[0].empty()) return "no LoRA name";
  if (parts[0].find_first_of("<>,") != std::string_view::npos) return "a LoRA name cannot hold '<', '>' or ','";
  ref.name = std::string(parts[0]);
  ref.weight.reset();
  if (parts.size() == 2) {
    auto w = parse_weight(parts[1]);
    if (!w) return "weight '" + std::string(parts[1]) + "' is not a number";
    // The loader's bound for LoRA weights (dsl/loader.cpp); refused here so the suite loads.
    if (std::fabs(*w) > 100) return "weight " + std::string(parts[1]) + " is out of range [-100, 100]";
    ref.weight = *w;
  }
  return "";
}

/// Splits an Add cell: items are separated by commas, and a <lora:...> tag is an item of its
/// own even without a comma (Civitai lists tags separated by spaces).
std::vector<std::string_view> split_refs(std::string_view cell) {
  std::vector<std::string_view> items;
  size_t i = 0;
  while (i < cell.size()) {
    char c = cell[i];
    if (c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      ++i;
      continue;
    }
    size_t end = c == '<' ? cell.find('>', i) : cell.find_first_of(",<", i);
    if (c == '<')
      end = end == std::string_view::npos ? cell.size() : end + 1;
    else if (end == std::string_view::npos)
      end = cell.size();
    items.push_back(cell.substr(i, end - i));
    i = end;
  }
  return items;
}

/// Replaces a file name's control characters so that it fits on one comment line.
std::string printable(std::string s) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  return s;
}

/// A TOML float: shortest round-trip digits, always with a '.' or exponent so it reads as float.
std::string toml_float(double v) {
  std::string s = util::shortest_double(v);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

/// Lowercase, every code point outside [a-z0-9_-] replaced by '_'.
std::string id_from_tag(std::string_view tag) {
  std::string id;
  for (size_t i = 0; i < tag.size();) {
    auto c = static_cast<unsigned char>(tag[i]);
    if (c >= 0x80) {
      id += '_';
      size_t n = utf8_len(tag, i);
      i += n == 0 ? 1 : n;
      continue;
    }
    char l = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c);
    bool ok = (l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '_' || l == '-';
    id += ok ? l : '_';
    ++i;
  }
  return id;
}

enum Column { c_prompt, c_negative, c_skip, c_lora, c_add, c_count };

/// Header names match ignoring case, surrounding spaces, and inner spaces, '_' and '-'
/// ("Negative Prompt", "negative_prompt" are NegativePrompt).
int column_of(std::string_view name) {
  std::string n;
  for (char c : lower(trim(name)))
    if (c != ' ' && c != '_' && c != '-') n += c;
  if (n == "prompt") return c_prompt;
  if (n == "negativeprompt") return c_negative;
  if (n == "skip") return c_skip;
  if (n == "lora") return c_lora;
  if (n == "add") return c_add;
  return -1;
}

struct Use {
  std::string key;  ///< lowercased tag
  std::optional<double> weight;
};

struct ShowcaseRow {
  std::string prompt;
  std::optional<std::string> negative;
  bool skip = false;
  std::vector<Use> uses;
};

struct LoraOut {
  std::string tag;  ///< first spelling seen
  std::string id;
  std::vector<ShowcaseRow> showcase;
};

struct PromptRow {
  std::string text;
  std::optional<std::string> negative;
  bool skip = false;
};

}  // namespace

std::optional<std::vector<CsvRecord>> parse_csv(std::string_view text, const std::string& file, Diagnostics& d) {
  size_t start = text.substr(0, k_bom.size()) == k_bom ? k_bom.size() : 0;
  if (!check_bytes(text, start, file, d)) return std::nullopt;
  std::vector<CsvRecord> records;
  Cursor cur(text, start, file);
  while (!cur.done()) {
    CsvRecord rec;
    rec.pos = cur.pos();
    for (;;) {
      CsvField f;
      f.pos = cur.pos();
      if (cur.peek() == '"') {
        cur.next();
        for (;;) {
          if (cur.done()) {
            d.error(f.pos, "unterminated quoted field (the closing '\"' is missing)");
            return std::nullopt;
          }
          if (cur.peek() == '"') {
            cur.next();
            if (cur.peek() != '"') break;
            cur.next();
            f.text += '"';
          } else if (cur.at_line_end()) {
            cur.newline();
            f.text += '\n';
          } else {
            f.text += cur.next();
          }
        }
      }
      // Unquoted text, or what follows a closing quote (kept, as Python's csv module does).
      while (!cur.done() && cur.peek() != ',' && !cur.at_line_end()) f.text += cur.next();
      rec.fields.push_back(std::move(f));
      if (cur.peek() == ',') {
        cur.next();
        continue;
      }
      if (!cur.done()) cur.newline();
      break;
    }
    if (!is_blank(rec)) records.push_back(std::move(rec));
  }
  return records;
}

std::string toml_quote(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    switch (ch) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default: {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04X", c);
          out += buf;
        } else {
          out += ch;
        }
      }
    }
  }
  out += '"';
  return out;
}

std::optional<CsvImport> import_csv_text(std::string_view text, const std::string& file, const std::string& suite_name,
                                         Diagnostics& d) {
  size_t errors_before = d.error_count();
  auto records = parse_csv(text, file, d);
  if (!records) return std::nullopt;
  if (records->empty()) {
    d.error(SourcePos{file, 1, 1}, "empty file: a header row with a 'Prompt' column is needed");
    return std::nullopt;
  }

  // Header: which field holds which column.
  const CsvRecord& header = records->front();
  int col[c_count];
  std::fill(col, col + c_count, -1);
  std::vector<std::string> unknown;
  for (size_t i = 0; i < header.fields.size(); ++i) {
    const CsvField& f = header.fields[i];
    int c = column_of(f.text);
    if (c < 0) {
      // Unnamed columns (a trailing comma in the header) carry nothing; not worth a warning.
      if (!trim(f.text).empty()) unknown.push_back("'" + std::string(trim(f.text)) + "'");
    } else if (col[c] >= 0) {
      d.error(f.pos,
              "duplicate column '" + std::string(trim(f.text)) + "' (also column " + std::to_string(col[c] + 1) + ")");
    } else {
      col[c] = static_cast<int>(i);
    }
  }
  if (!unknown.empty())
    d.warning(header.pos, std::string(unknown.size() == 1 ? "unknown column " : "unknown columns ") +
                              util::join(unknown, ", ") + " ignored (known: Prompt, NegativePrompt, Skip, LoRA, Add)");
  if (col[c_prompt] < 0) {
    d.error(header.pos, "the header row has no 'Prompt' column");
    return std::nullopt;
  }

  std::vector<PromptRow> prompts;
  std::vector<LoraOut> loras;
  std::map<std::string, size_t> lora_index;  // lowercased tag -> index in loras
  std::vector<std::string> extra_order;      // Add-only tags in first-seen order (lowercased)
  std::map<std::string, std::string> extra_spelling;

  for (size_t r = 1; r < records->size(); ++r) {
    const CsvRecord& rec = (*records)[r];
    if (rec.fields.size() > header.fields.size()) {
      d.error(rec.fields[header.fields.size()].pos, "this row has " + std::to_string(rec.fields.size()) +
                                                        " fields, the header only " +
                                                        std::to_string(header.fields.size()));
      continue;
    }
    auto cell = [&](Column c) -> const CsvField* {
      return col[c] >= 0 && static_cast<size_t>(col[c]) < rec.fields.size() ? &rec.fields[col[c]] : nullptr;
    };
    auto cell_pos = [&](Column c) { return cell(c) ? cell(c)->pos : rec.pos; };
    auto cell_text = [&](Column c) { return cell(c) ? std::string_view(cell(c)->text) : std::string_view(); };

    bool skip = false;
    std::string sv = lower(trim(cell_text(c_skip)));
    if (sv == "true" || sv == "1" || sv == "yes" || sv == "x") {
      skip = true;
    } else if (!(sv.empty() || sv == "false" || sv == "0" || sv == "no")) {
      d.error(cell_pos(c_skip),
              "bad Skip value '" + std::string(trim(cell_text(c_skip))) + "' (true/false, 1/0, yes/no, x, or empty)");
      continue;
    }
    std::string prompt = trim_text(cell_text(c_prompt));
    if (prompt.empty() && !skip) {
      d.error(cell_pos(c_prompt), "empty Prompt (mark the row skipped, or remove it)");
      continue;
    }
    std::optional<std::string> negative;
    if (std::string n = trim_text(cell_text(c_negative)); !n.empty()) negative = n;

    std::string lora_cell(trim(cell_text(c_lora), " \t\r\n"));
    if (lora_cell.empty()) {
      if (!trim(cell_text(c_add), " \t\r\n").empty())
        d.warning(cell_pos(c_add), "Add is ignored on a row without LoRA (a [[prompt]] names no other LoRAs)");
      prompts.push_back({prompt, negative, skip});
      continue;
    }

    // The LoRA cell names one LoRA; a <lora:NAME:W> tag there is read for its name.
    LoraRef self;
    auto items = split_refs(lora_cell);
    std::string why = items.size() == 1 ? parse_ref(items[0], self) : "one LoRA name expected";
    if (!why.empty()) {
      d.error(cell_pos(c_lora), "bad LoRA '" + lora_cell + "': " + why);
      continue;
    }
    if (self.weight)
      d.warning(cell_pos(c_lora), "the weight in LoRA '" + lora_cell + "' is ignored (the prompt's own tag sets it)");
    std::string self_key = lower(self.name);

    ShowcaseRow row{prompt, negative, skip, {}};
    bool bad_add = false;
    std::set<std::string> seen;
    for (std::string_view item : split_refs(cell_text(c_add))) {
      LoraRef ref;
      std::string err = parse_ref(item, ref);
      if (!err.empty()) {
        d.error(cell_pos(c_add), "bad Add reference '" + std::string(trim(item)) + "': " + err);
        bad_add = true;
        continue;
      }
      std::string key = lower(ref.name);
      if (key == self_key) {
        d.warning(cell_pos(c_add), "Add names the row's own LoRA '" + ref.name + "'; left out");
        continue;
      }
      if (!seen.insert(key).second) {
        d.warning(cell_pos(c_add), "Add names LoRA '" + ref.name + "' twice; the first is kept");
        continue;
      }
      row.uses.push_back({key, ref.weight});
      if (!extra_spelling.count(key)) {
        extra_spelling[key] = ref.name;
        extra_order.push_back(key);
      }
    }
    if (bad_add) continue;

    auto it = lora_index.find(self_key);
    if (it == lora_index.end()) {
      it = lora_index.emplace(self_key, loras.size()).first;
      loras.push_back({self.name, "", {}});
    }
    loras[it->second].showcase.push_back(std::move(row));
  }
  if (d.error_count() != errors_before) return std::nullopt;

  // LoRAs named only in Add come after those with rows, in first-seen order.
  for (const auto& key : extra_order) {
    if (lora_index.count(key)) continue;
    lora_index.emplace(key, loras.size());
    loras.push_back({extra_spelling[key], "", {}});
  }
  // LoRA ids share one namespace with the prompt ids p01, p02, ... in the loader.
  size_t width = std::max<size_t>(2, std::to_string(prompts.size()).size());
  auto prompt_id = [&](size_t i) {
    std::string n = std::to_string(i + 1);
    return "p" + std::string(width > n.size() ? width - n.size() : 0, '0') + n;
  };
  std::set<std::string> ids;
  for (size_t i = 0; i < prompts.size(); ++i) ids.insert(prompt_id(i));
  for (auto& l : loras) {
    std::string base = id_from_tag(l.tag), id = base;
    for (int n = 2; !ids.insert(id).second; ++n) id = base + "_" + std::to_string(n);
    l.id = id;
  }

  CsvImport out;
  std::string& t = out.toml;
  t += "# Imported from " + printable(std::filesystem::path(file).filename().string()) + " by `ghx suite import`.\n";
  t += "[suite]\nname = " + toml_quote(suite_name) + "\n";

  for (size_t i = 0; i < prompts.size(); ++i) {
    t += "\n[[prompt]]\nid = " + toml_quote(prompt_id(i)) + "\n";
    t += "text = " + toml_quote(prompts[i].text) + "\n";
    if (prompts[i].negative) t += "negative = " + toml_quote(*prompts[i].negative) + "\n";
    if (prompts[i].skip) t += "skip = true\n";
  }
  out.prompts = prompts.size();

  for (const auto& l : loras) {
    t += "\n[[lora]]\nid = " + toml_quote(l.id) + "\ntag = " + toml_quote(l.tag) + "\n";
    for (size_t i = 0; i < l.showcase.size(); ++i) {
      const ShowcaseRow& s = l.showcase[i];
      std::string image = "targets/loras/" + l.id + "/" + std::to_string(i + 1) + ".png";
      out.images.push_back(image);
      t += "\n[[lora.showcase]]\nimage = " + toml_quote(image) + "\n";
      t += "prompt = " + toml_quote(s.prompt) + "\n";
      if (s.negative) t += "negative = " + toml_quote(*s.negative) + "\n";
      if (s.skip) t += "skip = true\n";
      if (!s.uses.empty()) {
        t += "uses = [";
        for (size_t u = 0; u < s.uses.size(); ++u) {
          t += (u ? ", " : "") + std::string("{ lora = ") + toml_quote(loras[lora_index.at(s.uses[u].key)].id);
          if (s.uses[u].weight) t += ", weight = " + toml_float(*s.uses[u].weight);
          t += " }";
        }
        t += "]\n";
      }
    }
  }
  out.loras = loras.size();
  out.showcase = out.images.size();
  return out;
}

std::optional<CsvImport> import_csv(const std::string& path, const std::string& suite_name, Diagnostics& d) {
  if (util::is_directory(path)) {
    d.error(SourcePos{path, 0, 0}, "is a folder, not a CSV file");
    return std::nullopt;
  }
  std::string text;
  try {
    text = util::read_file(path);
  } catch (const Error& e) {
    // util::read_file names the path itself; the diagnostic already does.
    std::string msg = e.what();
    if (msg.rfind(path + ": ", 0) == 0) msg.erase(0, path.size() + 2);
    d.error(SourcePos{path, 0, 0}, msg);
    return std::nullopt;
  }
  return import_csv_text(text, path, suite_name, d);
}

}  // namespace ghx::dsl
