#include "util/png_text.h"

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "util/error.h"

namespace ghx::util {

namespace {

const char k_signature[8] = {'\x89', 'P', 'N', 'G', '\r', '\n', '\x1a', '\n'};
/// Inflated text larger than this is refused (a zTXt/iTXt "zip bomb" must not exhaust memory).
const size_t k_max_inflated = size_t(64) << 20;

struct Chunk {
  size_t begin = 0;  ///< offset of the length field
  size_t end = 0;    ///< one past the CRC
  std::string type;  ///< 4 ASCII letters
  size_t data = 0;   ///< offset of the data
  size_t length = 0;
};

uint32_t read_be32(const std::string& s, size_t at) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(s[at + i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

void put_be32(uint32_t v, std::string* out) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}

uint32_t chunk_crc(const char* type_and_data, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib's crc32 takes a uInt length; feed large chunks in pieces.
  while (n > 0) {
    uInt part = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(type_and_data), part);
    type_and_data += part;
    n -= part;
  }
  return static_cast<uint32_t>(crc);
}

bool is_letter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

/// Every chunk from IHDR to IEND, CRCs checked. `*tail` = offset just past IEND's CRC.
std::vector<Chunk> parse_chunks(const std::string& png, const std::string& what, size_t* tail) {
  if (!is_png(png)) throw Error(what + ": not a PNG (no PNG signature)");
  std::vector<Chunk> chunks;
  size_t at = sizeof k_signature;
  for (;;) {
    if (png.size() - at < 12) {
      throw Error(what + ": truncated PNG (" + (chunks.empty() ? std::string("no IHDR") : "no IEND") +
                  " before the end of the data)");
    }
    Chunk c;
    c.begin = at;
    uint32_t len = read_be32(png, at);
    if (len > 0x7fffffffu) throw Error(what + ": corrupt PNG chunk length at byte " + std::to_string(at));
    c.length = len;
    c.type = png.substr(at + 4, 4);
    for (char ch : c.type)
      if (!is_letter(ch)) throw Error(what + ": corrupt PNG chunk type at byte " + std::to_string(at));
    c.data = at + 8;
    if (png.size() - c.data < size_t(len) + 4)
      throw Error(what + ": truncated PNG (chunk " + c.type + " at byte " + std::to_string(at) + " runs past the end)");
    c.end = c.data + len + 4;
    uint32_t stored = read_be32(png, c.data + len);
    if (chunk_crc(png.data() + at + 4, size_t(len) + 4) != stored)
      throw Error(what + ": corrupt PNG (CRC mismatch in chunk " + c.type + " at byte " + std::to_string(at) + ")");
    if (chunks.empty() && (c.type != "IHDR" || len != 13))
      throw Error(what + ": corrupt PNG (the first chunk is not a 13-byte IHDR)");
    chunks.push_back(c);
    at = c.end;
    if (c.type == "IEND") break;
  }
  *tail = at;
  return chunks;
}

std::string latin1_to_utf8(const char* p, size_t n) {
  std::string out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    unsigned char b = static_cast<unsigned char>(p[i]);
    if (b < 0x80) {
      out.push_back(static_cast<char>(b));
    } else {
      out.push_back(static_cast<char>(0xc0 | (b >> 6)));
      out.push_back(static_cast<char>(0x80 | (b & 0x3f)));
    }
  }
  return out;
}

/// UTF-8 -> Latin-1; false when `s` is not valid UTF-8 or has a code point above U+00FF.
bool utf8_to_latin1(const std::string& s, std::string* out) {
  out->clear();
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      out->push_back(static_cast<char>(b));
    } else if ((b == 0xc2 || b == 0xc3) && i + 1 < s.size() &&
               (static_cast<unsigned char>(s[i + 1]) & 0xc0) == 0x80) {
      out->push_back(static_cast<char>(((b & 0x03) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3f)));
      ++i;
    } else {
      return false;
    }
  }
  return true;
}

/// Strict UTF-8 check (no overlongs, no surrogates, nothing above U+10FFFF).
bool valid_utf8(const std::string& s) {
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if ((b & 0xe0) == 0xc0) {
      len = 2, cp = b & 0x1f, min = 0x80;
    } else if ((b & 0xf0) == 0xe0) {
      len = 3, cp = b & 0x0f, min = 0x800;
    } else if ((b & 0xf8) == 0xf0) {
      len = 4, cp = b & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      unsigned char c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

std::string inflate_text(const char* p, size_t n, const std::string& what, const std::string& where) {
  z_stream zs;
  std::memset(&zs, 0, sizeof zs);
  if (inflateInit(&zs) != Z_OK) throw Error(what + ": zlib inflateInit failed");
  std::string out;
  char buf[64 * 1024];
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(p));
  size_t left = n;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (zs.avail_in == 0 && left > 0) {
      uInt part = static_cast<uInt>(std::min<size_t>(left, 1u << 30));
      zs.avail_in = part;
      left -= part;
    }
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      throw Error(what + ": corrupt compressed text in " + where);
    }
    out.append(buf, sizeof buf - zs.avail_out);
    if (out.size() > k_max_inflated) {
      inflateEnd(&zs);
      throw Error(what + ": compressed text in " + where + " inflates beyond 64 MiB");
    }
    if (rc == Z_OK && zs.avail_in == 0 && left == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      throw Error(what + ": truncated compressed text in " + where);
    }
  }
  inflateEnd(&zs);
  return out;
}

bool is_text_chunk(const std::string& type) { return type == "tEXt" || type == "zTXt" || type == "iTXt"; }

/// The keyword (Latin-1 bytes) of a text chunk; throws when it has no NUL terminator.
std::string raw_keyword(const std::string& png, const Chunk& c, const std::string& what) {
  const char* d = png.data() + c.data;
  const void* nul = std::memchr(d, 0, c.length);
  if (!nul || nul == d)
    throw Error(what + ": corrupt PNG " + c.type + " chunk at byte " + std::to_string(c.begin) + " (no keyword)");
  return std::string(d, static_cast<const char*>(nul) - d);
}

/// Decodes one text chunk into (UTF-8 keyword, UTF-8 text).
std::pair<std::string, std::string> decode_text_chunk(const std::string& png, const Chunk& c,
                                                      const std::string& what) {
  std::string key = raw_keyword(png, c, what);
  const char* d = png.data() + c.data;
  size_t pos = key.size() + 1;
  std::string where = c.type + " chunk '" + latin1_to_utf8(key.data(), key.size()) + "'";
  auto corrupt = [&]() { return Error(what + ": corrupt PNG " + where + " at byte " + std::to_string(c.begin)); };
  if (c.type == "tEXt") {
    return {latin1_to_utf8(key.data(), key.size()), latin1_to_utf8(d + pos, c.length - pos)};
  }
  if (c.type == "zTXt") {
    if (pos >= c.length || d[pos] != 0) throw corrupt();  // compression method 0 (zlib) only
    std::string text = inflate_text(d + pos + 1, c.length - pos - 1, what, where);
    return {latin1_to_utf8(key.data(), key.size()), latin1_to_utf8(text.data(), text.size())};
  }
  // iTXt: flag, method, language tag NUL, translated keyword NUL, text.
  if (c.length - pos < 2) throw corrupt();
  char flag = d[pos], method = d[pos + 1];
  pos += 2;
  for (int field = 0; field < 2; ++field) {
    const void* nul = std::memchr(d + pos, 0, c.length - pos);
    if (!nul) throw corrupt();
    pos = static_cast<size_t>(static_cast<const char*>(nul) - d) + 1;
  }
  std::string text;
  if (flag == 0) {
    text.assign(d + pos, c.length - pos);
  } else if (flag == 1 && method == 0) {
    text = inflate_text(d + pos, c.length - pos, what, where);
  } else {
    throw corrupt();
  }
  if (!valid_utf8(text)) throw Error(what + ": " + where + " is not valid UTF-8");
  return {latin1_to_utf8(key.data(), key.size()), text};
}

std::string make_chunk(const char* type, const std::string& data) {
  std::string out;
  out.reserve(data.size() + 12);
  put_be32(static_cast<uint32_t>(data.size()), &out);
  out.append(type, 4);
  out += data;
  put_be32(chunk_crc(out.data() + 4, data.size() + 4), &out);
  return out;
}

/// PNG keyword rules: 1-79 Latin-1 printable characters, no leading, trailing or double spaces.
std::string check_keyword(const std::string& keyword, const std::string& what) {
  std::string latin1;
  if (!utf8_to_latin1(keyword, &latin1))
    throw Error(what + ": PNG text keyword '" + keyword + "' is not Latin-1");
  bool ok = !latin1.empty() && latin1.size() <= 79 && latin1.front() != ' ' && latin1.back() != ' ';
  for (size_t i = 0; ok && i < latin1.size(); ++i) {
    unsigned char b = static_cast<unsigned char>(latin1[i]);
    ok = (b >= 32 && b <= 126) || b >= 161;
    if (b == ' ' && i > 0 && latin1[i - 1] == ' ') ok = false;
  }
  if (!ok) throw Error(what + ": invalid PNG text keyword '" + keyword + "' (1-79 printable Latin-1 characters, single spaces inside)");
  return latin1;
}

}  // namespace

bool is_png(const std::string& bytes) {
  return bytes.size() >= sizeof k_signature && std::memcmp(bytes.data(), k_signature, sizeof k_signature) == 0;
}

std::map<std::string, std::string> png_text_chunks(const std::string& png, const std::string& what) {
  size_t tail = 0;
  std::map<std::string, std::string> out;
  for (const Chunk& c : parse_chunks(png, what, &tail)) {
    if (!is_text_chunk(c.type)) continue;
    auto kv = decode_text_chunk(png, c, what);
    out[kv.first] = std::move(kv.second);
  }
  return out;
}

std::string png_set_text(const std::string& png, const std::string& keyword, const std::string& text,
                         const std::string& what) {
  size_t tail = 0;
  std::vector<Chunk> chunks = parse_chunks(png, what, &tail);
  std::string key = check_keyword(keyword, what);
  if (text.find('\0') != std::string::npos) throw Error(what + ": PNG text for '" + keyword + "' contains a NUL byte");
  bool ascii = true;
  for (char ch : text) ascii = ascii && static_cast<unsigned char>(ch) < 0x80;

  std::string chunk;
  if (ascii) {
    chunk = make_chunk("tEXt", key + '\0' + text);
  } else {
    if (!valid_utf8(text)) throw Error(what + ": PNG text for '" + keyword + "' is not valid UTF-8");
    // Uncompressed, no language tag, no translated keyword.
    std::string data = key;
    data.append("\0\0\0\0\0", 5);
    data += text;
    chunk = make_chunk("iTXt", data);
  }

  std::string out;
  out.reserve(png.size() + chunk.size());
  out.append(png, 0, sizeof k_signature);
  for (const Chunk& c : chunks) {
    if (is_text_chunk(c.type) && raw_keyword(png, c, what) == key) continue;
    out.append(png, c.begin, c.end - c.begin);
    if (c.type == "IHDR") out += chunk;
  }
  out.append(png, tail, std::string::npos);  // bytes after IEND are kept as they were
  return out;
}

}  // namespace ghx::util
