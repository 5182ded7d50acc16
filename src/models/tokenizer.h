#pragma once
// CLIP's byte-level BPE tokenizer (OpenAI's simple_tokenizer), torch-free.
// Reads OpenAI's `bpe_simple_vocab_16e6.txt.gz` (gzip or plain text: a version line, then one
// merge "a b" per line; at most 48,894 merges are used) or a Hugging Face vocab.json +
// merges.txt pair. Vocabulary = 256 byte tokens, the same 256 + "</w>", the merges in order, then
// <|startoftext|> and <|endoftext|> (49406 and 49407 for the real file).
// Text cleaning (as in the published code): ftfy's character-level fixes (ligatures, full/half
// width forms, curly quotes, control characters, NFC), HTML-unescape twice, collapse whitespace,
// strip, lowercase (full Unicode), split with
//   <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// then BPE on the UTF-8 bytes through the byte-to-unicode table. ftfy's mojibake repair is not
// done, and only the common named HTML entities are known (documented in docs/models.md).
// Invalid UTF-8 in the text becomes U+FFFD (Python's errors="replace").
// Fails: throws ghx::Error("FILE: ...") for a missing or malformed vocabulary.
// Never: keeps global state; encode() is const and thread-safe.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ghx::models {

struct TokenizedText {
  std::vector<int32_t> ids;  ///< exactly `context` ids: SOT, tokens, EOT, zero padding
  int32_t eot_index = 0;     ///< position of EOT (where the text feature is read)
  bool truncated = false;
};

class ClipTokenizer {
 public:
  /// `path`: the OpenAI vocabulary (.txt.gz or .txt), a vocab.json whose merges.txt is beside it,
  /// or a folder holding vocab.json + merges.txt or bpe_simple_vocab_16e6.txt.gz.
  static std::unique_ptr<ClipTokenizer> load(const std::string& path);
  virtual ~ClipTokenizer() = default;
  /// BPE ids of the cleaned text, without SOT/EOT.
  virtual std::vector<int32_t> tokens(const std::string& text) const = 0;
  /// SOT + tokens + EOT, truncated to `context` with EOT kept last, zero-padded.
  virtual TokenizedText encode(const std::string& text, int context = 77) const = 0;
  virtual int32_t sot() const = 0;
  virtual int32_t eot() const = 0;
  virtual int32_t vocab_size() const = 0;
};

/// The text the split sees (after cleaning and lowercasing), for tests and debugging.
std::string clip_clean_text(const std::string& text);

/// Writes a small deterministic OpenAI-format vocabulary (gzip) for tiny models and tests;
/// returns the number of merges written.
int write_tiny_bpe_vocab(const std::string& path);

}  // namespace ghx::models
