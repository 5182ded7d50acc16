// CLIP's text cleaning before BPE (OpenAI simple_tokenizer's basic_clean + whitespace_clean:
// ftfy's character fixes, HTML unescaping twice, whitespace collapsed, lower case), in code
// points; the tokenizer itself is tokenizer.cpp. Contract: tokenizer.h (clip_clean_text) and,
// inside models/, tokenizer_clean.h.
#include "models/tokenizer_clean.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>

#include "models/tokenizer.h"
#include "util/error.h"

namespace ghx::models {
namespace tokenizer_detail {
namespace {

// ---------------------------------------------------------------------------------------------
// UTF-8

/// Decodes UTF-8; each maximal ill-formed subpart becomes U+FFFD (Python's errors="replace").
std::u32string decode_utf8(const std::string& s) {
  std::u32string out;
  out.reserve(s.size());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out.push_back(c);
      ++i;
      continue;
    }
    int need = 0;
    char32_t cp = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1, cp = c & 0x1Fu;
    } else if (c == 0xE0) {
      need = 2, cp = c & 0x0Fu, lo = 0xA0;
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
      need = 2, cp = c & 0x0Fu;
    } else if (c == 0xED) {
      need = 2, cp = c & 0x0Fu, hi = 0x9F;
    } else if (c == 0xF0) {
      need = 3, cp = c & 0x07u, lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3) {
      need = 3, cp = c & 0x07u;
    } else if (c == 0xF4) {
      need = 3, cp = c & 0x07u, hi = 0x8F;
    } else {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    bool ok = true;
    for (int k = 0; k < need; ++k, ++j) {
      if (j >= n) {
        ok = false;
        break;
      }
      const auto d = static_cast<unsigned char>(s[j]);
      const unsigned char dlo = k == 0 ? lo : 0x80, dhi = k == 0 ? hi : 0xBF;
      if (d < dlo || d > dhi) {
        ok = false;
        break;
      }
      cp = (cp << 6) | (d & 0x3Fu);
    }
    out.push_back(ok ? cp : char32_t{0xFFFD});
    i = j;
  }
  return out;
}

}  // namespace

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

namespace {

std::string encode_utf8(const std::u32string& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

}  // namespace

bool valid_utf8(const std::string& s) { return encode_utf8(decode_utf8(s)) == s; }

namespace {

icu::UnicodeString to_icu(const std::u32string& s) {
  return icu::UnicodeString::fromUTF32(reinterpret_cast<const UChar32*>(s.data()),
                                       static_cast<int32_t>(s.size()));
}

std::u32string from_icu(const icu::UnicodeString& s) {
  std::u32string out(static_cast<std::size_t>(s.countChar32()), U'\0');
  UErrorCode st = U_ZERO_ERROR;
  s.toUTF32(reinterpret_cast<UChar32*>(out.data()), static_cast<int32_t>(out.size()), st);
  return out;
}

// ---------------------------------------------------------------------------------------------
// ftfy's character-level fixes (fix_latin_ligatures, fix_character_width, uncurl_quotes,
// remove_control_chars, NFC), in ftfy's order. Its heuristic mojibake repair, its own HTML
// unescaping, C1-control decoding and terminal-escape removal are not done.

const std::u32string* ligature(char32_t c) {
  static const std::map<char32_t, std::u32string> k_table = {
      {0x0132, U"IJ"}, {0x0133, U"ij"}, {0x0149, U"\u02BCn"}, {0x01F1, U"DZ"},
      {0x01F2, U"Dz"}, {0x01F3, U"dz"}, {0x01C4, U"D\u017D"}, {0x01C5, U"D\u017E"},
      {0x01C6, U"d\u017E"}, {0x01C7, U"LJ"}, {0x01C8, U"Lj"}, {0x01C9, U"lj"},
      {0x01CA, U"NJ"}, {0x01CB, U"Nj"}, {0x01CC, U"nj"}, {0xFB00, U"ff"},
      {0xFB01, U"fi"}, {0xFB02, U"fl"}, {0xFB03, U"ffi"}, {0xFB04, U"ffl"},
      {0xFB05, U"\u017Ft"}, {0xFB06, U"st"}};
  auto it = k_table.find(c);
  return it == k_table.end() ? nullptr : &it->second;
}

/// U+3000 -> space and U+FF01..U+FFEF -> their NFKC form where that differs (ftfy's WIDTH_MAP).
const std::u32string* width_form(char32_t c) {
  static const std::map<char32_t, std::u32string> k_table = [] {
    std::map<char32_t, std::u32string> t;
    t[0x3000] = std::u32string(1, U' ');
    UErrorCode st = U_ZERO_ERROR;
    const icu::Normalizer2* nfkc = icu::Normalizer2::getNFKCInstance(st);
    if (U_FAILURE(st)) throw Error(std::string("ICU NFKC unavailable: ") + u_errorName(st));
    for (char32_t c = 0xFF01; c < 0xFFF0; ++c) {
      const icu::UnicodeString one(static_cast<UChar32>(c));
      const icu::UnicodeString n = nfkc->normalize(one, st);
      if (U_SUCCESS(st) && n != one) t[c] = from_icu(n);
    }
    return t;
  }();
  if (c != 0x3000 && (c < 0xFF01 || c >= 0xFFF0)) return nullptr;
  auto it = k_table.find(c);
  return it == k_table.end() ? nullptr : &it->second;
}

bool ftfy_control(char32_t c) {
  return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
         (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

std::u32string ftfy_char_fixes(const std::u32string& in) {
  std::u32string a;
  a.reserve(in.size());
  for (char32_t c : in) {
    if (const std::u32string* r = ligature(c)) {
      a += *r;
    } else {
      a.push_back(c);
    }
  }
  std::u32string b;
  b.reserve(a.size());
  for (char32_t c : a) {
    if (const std::u32string* r = width_form(c)) {
      b += *r;
    } else {
      b.push_back(c);
    }
  }
  std::u32string out;
  out.reserve(b.size());
  for (char32_t c : b) {
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) {
      out.push_back(U'\'');
    } else if (c >= 0x201C && c <= 0x201F) {
      out.push_back(U'"');
    } else if (!ftfy_control(c)) {
      out.push_back(c);
    }
  }
  UErrorCode st = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(st);
  if (U_FAILURE(st)) throw Error(std::string("ICU NFC unavailable: ") + u_errorName(st));
  const icu::UnicodeString u = to_icu(out);
  if (nfc->isNormalized(u, st) && U_SUCCESS(st)) return out;
  st = U_ZERO_ERROR;
  const icu::UnicodeString n = nfc->normalize(u, st);
  if (U_FAILURE(st)) throw Error(std::string("ICU NFC failed: ") + u_errorName(st));
  return from_icu(n);
}

// ---------------------------------------------------------------------------------------------
// html.unescape (Python's algorithm; the named entities are a documented subset, see below)

struct Entity {
  const char* name;  ///< as in Python's html.entities.html5: "amp;" and the legacy "amp"
  char32_t cp;
};

// HTML 4.01's 252 named entities plus &apos; and the uppercase legacy AMP/LT/GT/QUOT/COPY/REG,
// with and without ';' exactly where HTML5 (and so Python) accepts them; values from HTML5.
constexpr Entity k_entities[] = {
    {"AElig", 0x00C6}, {"AElig;", 0x00C6}, {"AMP", 0x0026}, {"AMP;", 0x0026}, {"Aacute", 0x00C1},
    {"Aacute;", 0x00C1}, {"Acirc", 0x00C2}, {"Acirc;", 0x00C2}, {"Agrave", 0x00C0},
    {"Agrave;", 0x00C0}, {"Alpha;", 0x0391}, {"Aring", 0x00C5}, {"Aring;", 0x00C5},
    {"Atilde", 0x00C3}, {"Atilde;", 0x00C3}, {"Auml", 0x00C4}, {"Auml;", 0x00C4},
    {"Beta;", 0x0392}, {"COPY", 0x00A9}, {"COPY;", 0x00A9}, {"Ccedil", 0x00C7},
    {"Ccedil;", 0x00C7}, {"Chi;", 0x03A7}, {"Dagger;", 0x2021}, {"Delta;", 0x0394},
    {"ETH", 0x00D0}, {"ETH;", 0x00D0}, {"Eacute", 0x00C9}, {"Eacute;", 0x00C9}, {"Ecirc", 0x00CA},
    {"Ecirc;", 0x00CA}, {"Egrave", 0x00C8}, {"Egrave;", 0x00C8}, {"Epsilon;", 0x0395},
    {"Eta;", 0x0397}, {"Euml", 0x00CB}, {"Euml;", 0x00CB}, {"GT", 0x003E}, {"GT;", 0x003E},
    {"Gamma;", 0x0393}, {"Iacute", 0x00CD}, {"Iacute;", 0x00CD}, {"Icirc", 0x00CE},
    {"Icirc;", 0x00CE}, {"Igrave", 0x00CC}, {"Igrave;", 0x00CC}, {"Iota;", 0x0399},
    {"Iuml", 0x00CF}, {"Iuml;", 0x00CF}, {"Kappa;", 0x039A}, {"LT", 0x003C}, {"LT;", 0x003C},
    {"Lambda;", 0x039B}, {"Mu;", 0x039C}, {"Ntilde", 0x00D1}, {"Ntilde;", 0x00D1}, {"Nu;", 0x039D},
    {"OElig;", 0x0152}, {"Oacute", 0x00D3}, {"Oacute;", 0x00D3}, {"Ocirc", 0x00D4},
    {"Ocirc;", 0x00D4}, {"Ograve", 0x00D2}, {"Ograve;", 0x00D2}, {"Omega;", 0x03A9},
    {"Omicron;", 0x039F}, {"Oslash", 0x00D8}, {"Oslash;", 0x00D8}, {"Otilde", 0x00D5},
    {"Otilde;", 0x00D5}, {"Ouml", 0x00D6}, {"Ouml;", 0x00D6}, {"Phi;", 0x03A6}, {"Pi;", 0x03A0},
    {"Prime;", 0x2033}, {"Psi;", 0x03A8}, {"QUOT", 0x0022}, {"QUOT;", 0x0022}, {"REG", 0x00AE},
    {"REG;", 0x00AE}, {"Rho;", 0x03A1}, {"Scaron;", 0x0160}, {"Sigma;", 0x03A3}, {"THORN", 0x00DE},
    {"THORN;", 0x00DE}, {"Tau;", 0x03A4}, {"Theta;", 0x0398}, {"Uacute", 0x00DA},
    {"Uacute;", 0x00DA}, {"Ucirc", 0x00DB}, {"Ucirc;", 0x00DB}, {"Ugrave", 0x00D9},
    {"Ugrave;", 0x00D9}, {"Upsilon;", 0x03A5}, {"Uuml", 0x00DC}, {"Uuml;", 0x00DC},
    {"Xi;", 0x039E}, {"Yacute", 0x00DD}, {"Yacute;", 0x00DD}, {"Yuml;", 0x0178}, {"Zeta;", 0x0396},
    {"aacute", 0x00E1}, {"aacute;", 0x00E1}, {"acirc", 0x00E2}, {"acirc;", 0x00E2},
    {"acute", 0x00B4}, {"acute;", 0x00B4}, {"aelig", 0x00E6}, {"aelig;", 0x00E6},
    {"agrave", 0x00E0}, {"agrave;", 0x00E0}, {"alefsym;", 0x2135}, {"alpha;", 0x03B1},
    {"amp", 0x0026}, {"amp;", 0x0026}, {"and;", 0x2227}, {"ang;", 0x2220}, {"apos;", 0x0027},
    {"aring", 0x00E5}, {"aring;", 0x00E5}, {"asymp;", 0x2248}, {"atilde", 0x00E3},
    {"atilde;", 0x00E3}, {"auml", 0x00E4}, {"auml;", 0x00E4}, {"bdquo;", 0x201E},
    {"beta;", 0x03B2}, {"brvbar", 0x00A6}, {"brvbar;", 0x00A6}, {"bull;", 0x2022},
    {"cap;", 0x2229}, {"ccedil", 0x00E7}, {"ccedil;", 0x00E7}, {"cedil", 0x00B8},
    {"cedil;", 0x00B8}, {"cent", 0x00A2}, {"cent;", 0x00A2}, {"chi;", 0x03C7}, {"circ;", 0x02C6},
    {"clubs;", 0x2663}, {"cong;", 0x2245}, {"copy", 0x00A9}, {"copy;", 0x00A9}, {"crarr;", 0x21B5},
    {"cup;", 0x222A}, {"curren", 0x00A4}, {"curren;", 0x00A4}, {"dArr;", 0x21D3},
    {"dagger;", 0x2020}, {"darr;", 0x2193}, {"deg", 0x00B0}, {"deg;", 0x00B0}, {"delta;", 0x03B4},
    {"diams;", 0x2666}, {"divide", 0x00F7}, {"divide;", 0x00F7}, {"eacute", 0x00E9},
    {"eacute;", 0x00E9}, {"ecirc", 0x00EA}, {"ecirc;", 0x00EA}, {"egrave", 0x00E8},
    {"egrave;", 0x00E8}, {"empty;", 0x2205}, {"emsp;", 0x2003}, {"ensp;", 0x2002},
    {"epsilon;", 0x03B5}, {"equiv;", 0x2261}, {"eta;", 0x03B7}, {"eth", 0x00F0}, {"eth;", 0x00F0},
    {"euml", 0x00EB}, {"euml;", 0x00EB}, {"euro;", 0x20AC}, {"exist;", 0x2203}, {"fnof;", 0x0192},
    {"forall;", 0x2200}, {"frac12", 0x00BD}, {"frac12;", 0x00BD}, {"frac14", 0x00BC},
    {"frac14;", 0x00BC}, {"frac34", 0x00BE}, {"frac34;", 0x00BE}, {"frasl;", 0x2044},
    {"gamma;", 0x03B3}, {"ge;", 0x2265}, {"gt", 0x003E}, {"gt;", 0x003E}, {"hArr;", 0x21D4},
    {"harr;", 0x2194}, {"hearts;", 0x2665}, {"hellip;", 0x2026}, {"iacute", 0x00ED},
    {"iacute;", 0x00ED}, {"icirc", 0x00EE}, {"icirc;", 0x00EE}, {"iexcl", 0x00A1},
    {"iexcl;", 0x00A1}, {"igrave", 0x00EC}, {"igrave;", 0x00EC}, {"image;", 0x2111},
    {"infin;", 0x221E}, {"int;", 0x222B}, {"iota;", 0x03B9}, {"iquest", 0x00BF},
    {"iquest;", 0x00BF}, {"isin;", 0x2208}, {"iuml", 0x00EF}, {"iuml;", 0x00EF},
    {"kappa;", 0x03BA}, {"lArr;", 0x21D0}, {"lambda;", 0x03BB}, {"lang;", 0x27E8},
    {"laquo", 0x00AB}, {"laquo;", 0x00AB}, {"larr;", 0x2190}, {"lceil;", 0x2308},
    {"ldquo;", 0x201C}, {"le;", 0x2264}, {"lfloor;", 0x230A}, {"lowast;", 0x2217},
    {"loz;", 0x25CA}, {"lrm;", 0x200E}, {"lsaquo;", 0x2039}, {"lsquo;", 0x2018}, {"lt", 0x003C},
    {"lt;", 0x003C}, {"macr", 0x00AF}, {"macr;", 0x00AF}, {"mdash;", 0x2014}, {"micro", 0x00B5},
    {"micro;", 0x00B5}, {"middot", 0x00B7}, {"middot;", 0x00B7}, {"minus;", 0x2212},
    {"mu;", 0x03BC}, {"nabla;", 0x2207}, {"nbsp", 0x00A0}, {"nbsp;", 0x00A0}, {"ndash;", 0x2013},
    {"ne;", 0x2260}, {"ni;", 0x220B}, {"not", 0x00AC}, {"not;", 0x00AC}, {"notin;", 0x2209},
    {"nsub;", 0x2284}, {"ntilde", 0x00F1}, {"ntilde;", 0x00F1}, {"nu;", 0x03BD},
    {"oacute", 0x00F3}, {"oacute;", 0x00F3}, {"ocirc", 0x00F4}, {"ocirc;", 0x00F4},
    {"oelig;", 0x0153}, {"ograve", 0x00F2}, {"ograve;", 0x00F2}, {"oline;", 0x203E},
    {"omega;", 0x03C9}, {"omicron;", 0x03BF}, {"oplus;", 0x2295}, {"or;", 0x2228},
    {"ordf", 0x00AA}, {"ordf;", 0x00AA}, {"ordm", 0x00BA}, {"ordm;", 0x00BA}, {"oslash", 0x00F8},
    {"oslash;", 0x00F8}, {"otilde", 0x00F5}, {"otilde;", 0x00F5}, {"otimes;", 0x2297},
    {"ouml", 0x00F6}, {"ouml;", 0x00F6}, {"para", 0x00B6}, {"para;", 0x00B6}, {"part;", 0x2202},
    {"permil;", 0x2030}, {"perp;", 0x22A5}, {"phi;", 0x03C6}, {"pi;", 0x03C0}, {"piv;", 0x03D6},
    {"plusmn", 0x00B1}, {"plusmn;", 0x00B1}, {"pound", 0x00A3}, {"pound;", 0x00A3},
    {"prime;", 0x2032}, {"prod;", 0x220F}, {"prop;", 0x221D}, {"psi;", 0x03C8}, {"quot", 0x0022},
    {"quot;", 0x0022}, {"rArr;", 0x21D2}, {"radic;", 0x221A}, {"rang;", 0x27E9}, {"raquo", 0x00BB},
    {"raquo;", 0x00BB}, {"rarr;", 0x2192}, {"rceil;", 0x2309}, {"rdquo;", 0x201D},
    {"real;", 0x211C}, {"reg", 0x00AE}, {"reg;", 0x00AE}, {"rfloor;", 0x230B}, {"rho;", 0x03C1},
    {"rlm;", 0x200F}, {"rsaquo;", 0x203A}, {"rsquo;", 0x2019}, {"sbquo;", 0x201A},
    {"scaron;", 0x0161}, {"sdot;", 0x22C5}, {"sect", 0x00A7}, {"sect;", 0x00A7}, {"shy", 0x00AD},
    {"shy;", 0x00AD}, {"sigma;", 0x03C3}, {"sigmaf;", 0x03C2}, {"sim;", 0x223C},
    {"spades;", 0x2660}, {"sub;", 0x2282}, {"sube;", 0x2286}, {"sum;", 0x2211}, {"sup1", 0x00B9},
    {"sup1;", 0x00B9}, {"sup2", 0x00B2}, {"sup2;", 0x00B2}, {"sup3", 0x00B3}, {"sup3;", 0x00B3},
    {"sup;", 0x2283}, {"supe;", 0x2287}, {"szlig", 0x00DF}, {"szlig;", 0x00DF}, {"tau;", 0x03C4},
    {"there4;", 0x2234}, {"theta;", 0x03B8}, {"thetasym;", 0x03D1}, {"thinsp;", 0x2009},
    {"thorn", 0x00FE}, {"thorn;", 0x00FE}, {"tilde;", 0x02DC}, {"times", 0x00D7},
    {"times;", 0x00D7}, {"trade;", 0x2122}, {"uArr;", 0x21D1}, {"uacute", 0x00FA},
    {"uacute;", 0x00FA}, {"uarr;", 0x2191}, {"ucirc", 0x00FB}, {"ucirc;", 0x00FB},
    {"ugrave", 0x00F9}, {"ugrave;", 0x00F9}, {"uml", 0x00A8}, {"uml;", 0x00A8}, {"upsih;", 0x03D2},
    {"upsilon;", 0x03C5}, {"uuml", 0x00FC}, {"uuml;", 0x00FC}, {"weierp;", 0x2118},
    {"xi;", 0x03BE}, {"yacute", 0x00FD}, {"yacute;", 0x00FD}, {"yen", 0x00A5}, {"yen;", 0x00A5},
    {"yuml", 0x00FF}, {"yuml;", 0x00FF}, {"zeta;", 0x03B6}, {"zwj;", 0x200D}, {"zwnj;", 0x200C},
};

const std::unordered_map<std::string, char32_t>& entity_table() {
  static const std::unordered_map<std::string, char32_t> k_table = [] {
    std::unordered_map<std::string, char32_t> t;
    for (const Entity& e : k_entities) t.emplace(e.name, e.cp);
    return t;
  }();
  return k_table;
}

/// What Python's html.unescape gives for a numeric reference (`num` saturated at 0x110000).
void append_charref(std::u32string& out, std::uint32_t num) {
  // The windows-1252 reinterpretations of html._invalid_charrefs (0x80..0x9F), 0 -> U+FFFD.
  static const char32_t k_c1[32] = {
      0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
      0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
      0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};
  if (num == 0) return out.push_back(0xFFFD);
  if (num == 0x0D) return out.push_back(0x0D);
  if (num >= 0x80 && num <= 0x9F) return out.push_back(k_c1[num - 0x80]);
  if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) return out.push_back(0xFFFD);
  // html._invalid_codepoints: dropped.
  if ((num >= 0x01 && num <= 0x08) || num == 0x0B || (num >= 0x0E && num <= 0x1F) ||
      (num >= 0x7F && num <= 0x9F) || (num >= 0xFDD0 && num <= 0xFDEF) ||
      (num & 0xFFFE) == 0xFFFE)
    return;
  out.push_back(num);
}

bool is_digit(char32_t c) { return c >= U'0' && c <= U'9'; }
bool is_hex(char32_t c) {
  return is_digit(c) || (c >= U'a' && c <= U'f') || (c >= U'A' && c <= U'F');
}
int hex_value(char32_t c) {
  if (is_digit(c)) return static_cast<int>(c - U'0');
  if (c >= U'a' && c <= U'f') return static_cast<int>(c - U'a' + 10);
  return static_cast<int>(c - U'A' + 10);
}

/// Python's html.unescape: &#DDD;? &#xHHH;? and &NAME;? (NAME: 1..32 characters other than
/// \t \n \f space < & # ;), longest legacy prefix for unknown names.
std::u32string html_unescape(const std::u32string& s) {
  if (s.find(U'&') == std::u32string::npos) return s;
  const std::unordered_map<std::string, char32_t>& table = entity_table();
  std::u32string out;
  out.reserve(s.size());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    if (s[i] != U'&') {
      out.push_back(s[i++]);
      continue;
    }
    std::size_t j = i + 1;
    if (j < n && s[j] == U'#') {
      std::size_t k = j + 1;
      const bool hex = k + 1 < n && (s[k] == U'x' || s[k] == U'X') && is_hex(s[k + 1]);
      const bool dec = k < n && is_digit(s[k]);
      if (!hex && !dec) {
        out.push_back(s[i++]);
        continue;
      }
      std::uint32_t num = 0;
      if (dec) {
        for (; k < n && is_digit(s[k]); ++k)
          num = std::min<std::uint32_t>(num * 10 + (s[k] - U'0'), 0x110000);
      } else {
        for (k += 1; k < n && is_hex(s[k]); ++k)
          num = std::min<std::uint32_t>(num * 16 + hex_value(s[k]), 0x110000);
      }
      if (k < n && s[k] == U';') ++k;
      append_charref(out, num);
      i = k;
      continue;
    }
    std::size_t k = j;
    auto name_char = [](char32_t c) {
      return c != U'\t' && c != U'\n' && c != U'\f' && c != U' ' && c != U'<' && c != U'&' &&
             c != U'#' && c != U';';
    };
    while (k < n && k - j < 32 && name_char(s[k])) ++k;
    if (k == j) {
      out.push_back(s[i++]);
      continue;
    }
    if (k < n && s[k] == U';') ++k;
    const std::u32string name32 = s.substr(j, k - j);
    i = k;
    // Entity names are ASCII; a name with anything else can only match through a prefix.
    std::string name;
    for (char32_t c : name32) name.push_back(c < 0x80 ? static_cast<char>(c) : '\x01');
    if (auto it = table.find(name); it != table.end()) {
      out.push_back(it->second);
      continue;
    }
    bool found = false;
    for (std::size_t x = name.size() - 1; x >= 2 && x < name.size(); --x) {
      if (auto it = table.find(name.substr(0, x)); it != table.end()) {
        out.push_back(it->second);
        out.append(name32, x, std::u32string::npos);
        found = true;
        break;
      }
    }
    if (!found) {
      out.push_back(U'&');
      out += name32;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Whitespace

/// Python's str.isspace (what str.strip() removes): White_Space plus U+001C..U+001F.
bool py_isspace(char32_t c) {
  return (c >= 0x1C && c <= 0x1F) || u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_WHITE_SPACE);
}

/// The `regex` module's \s: the White_Space property.
bool white_space(char32_t c) {
  return u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_WHITE_SPACE);
}

std::u32string py_strip(const std::u32string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && py_isspace(s[b])) ++b;
  while (e > b && py_isspace(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::u32string collapse_whitespace(const std::u32string& s) {
  std::u32string out;
  out.reserve(s.size());
  bool in_run = false;
  for (char32_t c : s) {
    if (white_space(c)) {
      if (!in_run) out.push_back(U' ');
      in_run = true;
    } else {
      out.push_back(c);
      in_run = false;
    }
  }
  return out;
}

}  // namespace

/// Everything before the split: ftfy's character fixes, html.unescape twice, strip, whitespace
/// collapse, strip, full Unicode lowercase.
icu::UnicodeString clean_to_icu(const std::string& text) {
  std::u32string s = ftfy_char_fixes(decode_utf8(text));
  s = py_strip(html_unescape(html_unescape(s)));
  s = py_strip(collapse_whitespace(s));
  icu::UnicodeString u = to_icu(s);
  u.toLower(icu::Locale::getRoot());
  return u;
}

}  // namespace tokenizer_detail

std::string clip_clean_text(const std::string& text) {
  std::string out;
  tokenizer_detail::clean_to_icu(text).toUTF8String(out);
  return out;
}

}  // namespace ghx::models
