#pragma once
// `ghx models tokens --tokenizer VOCAB [--context 77] [--json] TEXT...`: what CLIP's text
// encoder sees of each text (a `-` among the texts reads more texts, one per line, from stdin).
// For each: the cleaned text the tokenizer splits, its BPE token count against A1111's 75-token
// chunks, and where a `context`-long window (start + context - 2 tokens + end) cuts it: the
// first whitespace word not wholly inside, with how many tokens are dropped.
// A1111's chunks are counted as ceil(count / 75) (at least 1); A1111 may move a chunk boundary
// back to a comma (its "comma padding backtrack" setting), which can make one chunk more.
// Fails: an unreadable vocabulary is one "ghx: error: ..." line, exit 2. Never: writes anything.
#include <string>
#include <vector>

namespace ghx::cli {

struct TokensArgs {
  std::string tokenizer;
  int context = 77;
  bool json = false;
  std::vector<std::string> texts;
};

/// Human: per text, a line with the counts and the cut, then the cleaned text. JSON: an array,
/// one object per text in order: text, cleaned, tokens (BPE ids, no start/end), ids (`context`
/// ids: start, tokens, end, zero padding; cut with the end kept last), truncated, count (BPE
/// tokens), a1111_chunks, and when truncated cut_word (0-based index among the cleaned text's
/// words) and cut_text (that word and the rest). Returns 0.
int cmd_models_tokens(const TokensArgs& args);

}  // namespace ghx::cli
