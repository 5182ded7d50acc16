#include "backends/infotext.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>

#include "util/strings.h"

namespace ghx::backends {

namespace {

// ---- code points ---------------------------------------------------------------------------
// The parser follows A1111's Python (str.strip, re's \s and \w on str), which work on code
// points; these helpers decode UTF-8 leniently (a stray byte counts as one code point).

/// The code point at byte `i` and its length in bytes.
uint32_t code_point(const std::string& s, size_t i, size_t* len) {
  unsigned char b = static_cast<unsigned char>(s[i]);
  size_t n = b < 0x80 ? 1 : (b & 0xe0) == 0xc0 ? 2 : (b & 0xf0) == 0xe0 ? 3 : (b & 0xf8) == 0xf0 ? 4 : 0;
  if (n <= 1 || s.size() - i < n) {
    *len = 1;
    return b;  // ASCII, or a byte that starts no valid sequence (0x80..0xff: neither \s nor ',')
  }
  uint32_t cp = b & (0x7f >> n);
  for (size_t k = 1; k < n; ++k) {
    unsigned char c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xc0) != 0x80) {
      *len = 1;
      return b;
    }
    cp = (cp << 6) | (c & 0x3f);
  }
  *len = n;
  return cp;
}

/// Python's str.isspace() (also what re's \s matches in a str pattern).
bool is_py_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
         cp == 0x205f || cp == 0x3000;
}

/// re's \w on str: ASCII letters, digits, '_', and (approximately) every non-ASCII code point
/// outside the common punctuation, symbol and emoji blocks (Python asks str.isalnum()).
bool is_word(uint32_t cp) {
  if (cp < 0x80)
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '_';
  if (cp <= 0xbf) return cp == 0xaa || cp == 0xb2 || cp == 0xb3 || cp == 0xb5 || cp == 0xb9 || cp == 0xba ||
                         (cp >= 0xbc && cp <= 0xbe);
  if (cp == 0xd7 || cp == 0xf7) return false;
  if (is_py_space(cp)) return false;
  if (cp >= 0x2000 && cp <= 0x206f) return false;  // general punctuation
  if (cp >= 0x2190 && cp <= 0x23ff) return false;  // arrows, mathematical operators, technical
  if (cp >= 0x2500 && cp <= 0x27bf) return false;  // box drawing, shapes, dingbats
  if (cp >= 0x3000 && cp <= 0x303f)                // CJK punctuation (a few are letters/numbers)
    return cp == 0x3005 || cp == 0x3006 || cp == 0x3007 || (cp >= 0x3021 && cp <= 0x3029) ||
           (cp >= 0x3031 && cp <= 0x3035) || (cp >= 0x3038 && cp <= 0x303c);
  if (cp >= 0xfe30 && cp <= 0xfe4f) return false;  // CJK compatibility forms
  if ((cp >= 0xff00 && cp <= 0xff0f) || (cp >= 0xff1a && cp <= 0xff20) || (cp >= 0xff3b && cp <= 0xff40) ||
      (cp >= 0xff5b && cp <= 0xff65))
    return cp == 0xff3f;  // fullwidth punctuation; the fullwidth low line is \w
  if (cp >= 0x1f000 && cp <= 0x1faff) return false;  // emoji and pictographs
  return true;
}

bool in_key_class(uint32_t cp) { return is_word(cp) || cp == ' ' || cp == '-' || cp == '/'; }

/// Python's str.strip().
std::string py_strip(const std::string& s) {
  size_t b = 0, e = 0, len = 0;
  bool started = false;
  for (size_t i = 0; i < s.size(); i += len) {
    if (is_py_space(code_point(s, i, &len))) continue;
    if (!started) b = i, started = true;
    e = i + len;
  }
  return started ? s.substr(b, e - b) : std::string();
}

// ---- A1111's re_param ----------------------------------------------------------------------
//   \s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)
// applied with re.findall. The pattern cannot backtrack into a different match (the key class
// excludes ':', a quoted value can only close at its first unescaped '"', and the second
// alternative always matches), so one forward scan per start position reproduces findall.

struct RawParam {
  std::string key;
  std::string value;  ///< as matched (still quoted)
};

std::vector<RawParam> find_params(const std::string& line) {
  std::vector<RawParam> out;
  const size_t n = line.size();
  size_t pos = 0, len = 0;
  while (pos < n) {
    size_t k = pos;
    while (k < n && is_py_space(code_point(line, k, &len))) k += len;
    if (k >= n || !is_word(code_point(line, k, &len))) {
      code_point(line, pos, &len);
      pos += len;
      continue;
    }
    size_t e = k + len;
    size_t more = 0;
    while (e < n && in_key_class(code_point(line, e, &len))) e += len, ++more;
    if (more == 0 || e >= n || line[e] != ':') {
      // Every start inside [pos, e) ends its key at e as well, so none of them can match.
      pos = e;
      continue;
    }
    RawParam p;
    p.key = line.substr(k, e - k);
    size_t v = e + 1;
    while (v < n && is_py_space(code_point(line, v, &len))) v += len;
    size_t end = std::string::npos;
    if (v < n && line[v] == '"') {
      size_t i = v + 1, iterations = 0;
      while (i < n && line[i] != '"') {
        if (line[i] == '\\') {
          if (i + 1 >= n) break;
          code_point(line, i + 1, &len);
          i += 1 + len;
        } else {
          code_point(line, i, &len);
          i += len;
        }
        ++iterations;
      }
      if (iterations > 0 && i < n && line[i] == '"' && (i + 1 == n || line[i + 1] == ',')) {
        p.value = line.substr(v, i + 1 - v);
        end = i + 1 < n ? i + 2 : n;
      }
    }
    if (end == std::string::npos) {
      size_t c = line.find(',', v);
      if (c == std::string::npos) c = n;
      p.value = line.substr(v, c - v);
      end = c < n ? c + 1 : n;
    }
    out.push_back(std::move(p));
    pos = end;
  }
  return out;
}

// ---- quote / unquote (Python's json.dumps(ensure_ascii=False) / json.loads on one string) ----

void put_utf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

std::string json_quote(const std::string& s) {
  static const char hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 0xf]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
  return out;
}

/// A1111's quote(): JSON-quoted when the value holds ',', '\n' or ':'; as is otherwise.
std::string quote(const std::string& v) {
  if (v.find_first_of(",\n:") == std::string::npos) return v;
  return json_quote(v);
}

int hex4(const std::string& s, size_t i) {
  if (s.size() - i < 4) return -1;
  int v = 0;
  for (size_t k = 0; k < 4; ++k) {
    char c = s[i + k];
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/// json.loads of a whole "..." string; false where Python's would raise.
bool json_unquote(const std::string& s, std::string* out) {
  out->clear();
  size_t i = 1, n = s.size() - 1;  // s[0] and s[n] are '"'
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c < 0x20) return false;  // extra data / control character (strict mode)
    if (c != '\\') {
      out->push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    if (i + 1 >= n) return false;
    char e = s[i + 1];
    i += 2;
    switch (e) {
      case '"': out->push_back('"'); break;
      case '\\': out->push_back('\\'); break;
      case '/': out->push_back('/'); break;
      case 'b': out->push_back('\b'); break;
      case 'f': out->push_back('\f'); break;
      case 'n': out->push_back('\n'); break;
      case 'r': out->push_back('\r'); break;
      case 't': out->push_back('\t'); break;
      case 'u': {
        int u = hex4(s, i);
        if (u < 0 || i + 4 > n) return false;
        i += 4;
        uint32_t cp = static_cast<uint32_t>(u);
        if (cp >= 0xd800 && cp <= 0xdbff && i + 6 <= n && s[i] == '\\' && s[i + 1] == 'u') {
          int lo = hex4(s, i + 2);
          if (lo >= 0xdc00 && lo <= 0xdfff) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + static_cast<uint32_t>(lo - 0xdc00);
            i += 6;
          }
        }
        if (cp >= 0xd800 && cp <= 0xdfff) return false;  // a lone surrogate has no UTF-8 form
        put_utf8(cp, out);
        break;
      }
      default: return false;
    }
  }
  return true;
}

/// A1111's unquote().
std::string unquote(const std::string& v) {
  if (v.size() < 2 || v.front() != '"' || v.back() != '"') return v;
  std::string out;
  return json_unquote(v, &out) ? out : v;
}

}  // namespace

const std::string* Infotext::get(const std::string& key) const {
  for (const auto& kv : params)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

void Infotext::set(const std::string& key, const std::string& value) {
  for (auto& kv : params) {
    if (kv.first == key) {
      kv.second = value;
      return;
    }
  }
  params.emplace_back(key, value);
}

std::optional<int64_t> Infotext::seed() const {
  const std::string* v = get("Seed");
  if (!v) return std::nullopt;
  std::string s = py_strip(*v);
  if (s.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long x = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size() || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
    return std::nullopt;
  return static_cast<int64_t>(x);
}

std::map<std::string, std::string> parse_lora_hashes(const std::string& value) {
  std::map<std::string, std::string> out;
  for (const std::string& item : util::split(value, ',')) {
    const std::string_view e(item);
    const size_t colon = e.rfind(':');
    if (colon == std::string_view::npos) continue;
    std::string h(util::trim(e.substr(colon + 1)));
    for (char& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out[std::string(util::trim(e.substr(0, colon)))] = h;
  }
  return out;
}

std::map<std::string, std::string> Infotext::lora_hashes() const {
  const std::string* v = get("Lora hashes");
  if (!v) v = get("LoRA hashes");
  return v ? parse_lora_hashes(*v) : std::map<std::string, std::string>{};
}

std::string Infotext::model_hash() const {
  const std::string* v = get("Model hash");
  return v ? *v : std::string();
}

std::string Infotext::format() const {
  std::string line;
  for (const auto& kv : params) {
    if (!line.empty()) line += ", ";
    if (kv.first == kv.second) {
      line += kv.first;  // A1111 writes a parameter whose value is its own name as a bare word
    } else {
      line += kv.first + ": " + quote(kv.second);
    }
  }
  std::string text = prompt;
  if (!negative_prompt.empty()) text += "\nNegative prompt: " + negative_prompt;
  text += "\n" + line;
  return py_strip(text);
}

std::optional<Infotext> Infotext::parse(const std::string& text) {
  std::string s = py_strip(text);
  if (s.empty()) return std::nullopt;

  std::vector<std::string> lines;
  for (size_t b = 0;;) {
    size_t e = s.find('\n', b);
    lines.push_back(s.substr(b, e == std::string::npos ? std::string::npos : e - b));
    if (e == std::string::npos) break;
    b = e + 1;
  }
  std::string last = lines.back();
  lines.pop_back();
  std::vector<RawParam> raw = find_params(last);
  if (raw.size() < 3) {
    lines.push_back(last);
    raw.clear();
  }

  Infotext it;
  bool negative = false;
  static const std::string k_negative = "Negative prompt:";
  for (const std::string& l : lines) {
    std::string line = py_strip(l);
    if (line.compare(0, k_negative.size(), k_negative) == 0) {
      negative = true;
      line = py_strip(line.substr(k_negative.size()));
    }
    std::string& into = negative ? it.negative_prompt : it.prompt;
    if (!into.empty()) into += "\n";
    into += line;
  }
  for (const RawParam& p : raw) {
    if (p.value.empty()) continue;  // A1111 skips these (v[0] raises, the pair is dropped)
    it.set(p.key, unquote(p.value));
  }
  return it;
}

Infotext infotext_of_step(const plan::Step& s) {
  Infotext t;
  t.prompt = s.param("prompt");
  t.negative_prompt = s.param("negative_prompt");
  t.set("Steps", s.param("steps"));
  t.set("Sampler", s.param("sampler"));
  t.set("CFG scale", s.param("cfg_scale"));
  t.set("Seed", s.param("seed"));
  t.set("Size", s.param("width") + "x" + s.param("height"));
  return t;
}

}  // namespace ghx::backends
