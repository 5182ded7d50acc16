#pragma once
// Inside models/: the text cleaning tokenizer.cpp runs before BPE (tokenizer_clean.cpp). Not a
// contract outside models/; users call tokenizer.h's clip_clean_text.
#include <unicode/unistr.h>

#include <string>

namespace ghx::models::tokenizer_detail {

/// Appends the UTF-8 bytes of one code point.
void append_utf8(std::string& out, char32_t c);
/// Whether `s` is well-formed UTF-8 (decoding and encoding again gives the same bytes).
bool valid_utf8(const std::string& s);
/// basic_clean + whitespace_clean + lower(), as ICU text ready for the split pattern.
icu::UnicodeString clean_to_icu(const std::string& text);

}  // namespace ghx::models::tokenizer_detail
