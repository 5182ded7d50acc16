#pragma once
// PNG text chunks (tEXt, zTXt, iTXt), where A1111 keeps an image's infotext (key "parameters").
// Knows no ghx types. Every chunk from IHDR to IEND is walked and its CRC checked (zlib crc32);
// bytes after IEND are ignored when reading and kept when splicing.
// Fails: throws ghx::Error naming `what` for bytes that are not a PNG, a truncated file, a CRC
// mismatch, a text chunk without a keyword, or (when reading) bad compressed data, text that
// inflates beyond 64 MiB, or iTXt that is not UTF-8; and for a keyword PNG does not allow.
// Never: re-encodes pixels (chunks are spliced, IDAT and every other chunk copied byte for byte).
#include <map>
#include <string>

namespace ghx::util {

/// Every text chunk of a PNG, keyword -> text (Latin-1 tEXt decoded to UTF-8; zTXt inflated;
/// iTXt as UTF-8). Later chunks with the same keyword win.
std::map<std::string, std::string> png_text_chunks(const std::string& png, const std::string& what);

/// The PNG with a tEXt (ASCII text) or uncompressed iTXt (otherwise; must be UTF-8) chunk
/// `keyword` = `text` placed right after IHDR; any existing tEXt/zTXt/iTXt with that keyword is
/// removed. `keyword`: UTF-8 of 1-79 printable Latin-1 characters, no leading, trailing or double
/// spaces. `text` must hold no NUL. Deterministic bytes.
std::string png_set_text(const std::string& png, const std::string& keyword, const std::string& text,
                         const std::string& what);

/// True when `bytes` start with the PNG signature.
bool is_png(const std::string& bytes);

}  // namespace ghx::util
