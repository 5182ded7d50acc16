#pragma once
// PNG text chunks (tEXt, zTXt, iTXt), where A1111 keeps an image's infotext (key "parameters").
// Knows no ghx types. Fails: throws ghx::Error naming `what` for bytes that are not a PNG or a
// corrupt chunk structure. Never: re-encodes pixels (chunks are spliced, IDAT is untouched).
#include <map>
#include <string>

namespace ghx::util {

/// Every text chunk of a PNG, keyword -> text (Latin-1 tEXt decoded to UTF-8; zTXt inflated;
/// iTXt as UTF-8). Later chunks with the same keyword win.
std::map<std::string, std::string> png_text_chunks(const std::string& png, const std::string& what);

/// The PNG with a tEXt (ASCII) or iTXt (otherwise) chunk `keyword` = `text` placed right after
/// IHDR; any existing chunk with that keyword is removed. Deterministic bytes.
std::string png_set_text(const std::string& png, const std::string& keyword, const std::string& text,
                         const std::string& what);

/// True when `bytes` start with the PNG signature.
bool is_png(const std::string& bytes);

}  // namespace ghx::util
