#include "cli/models_tokens.h"

#include <iostream>

#include <nlohmann/json.hpp>

#include "models/tokenizer.h"
#include "util/error.h"
#include "util/strings.h"

namespace ghx::cli {

namespace {

using ojson = nlohmann::ordered_json;

constexpr int k_a1111_chunk = 75;

struct Cut {
  bool truncated = false;
  size_t word = 0;    ///< first whitespace word not wholly inside the window
  std::string rest;   ///< that word and everything after it
};

/// Where a window of `fits` tokens cuts `cleaned`: tokens do not cross whitespace (the split
/// regex never joins across it), so the count of a prefix of whole words is exact.
Cut find_cut(const models::ClipTokenizer& tok, const std::string& cleaned, size_t fits) {
  Cut c;
  const std::vector<std::string> words = util::split(cleaned, ' ');
  std::string prefix;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string next = prefix.empty() ? words[i] : prefix + " " + words[i];
    if (tok.tokens(next).size() > fits) {
      c.truncated = true;
      c.word = i;
      std::vector<std::string> rest(words.begin() + static_cast<std::ptrdiff_t>(i), words.end());
      c.rest = util::join(rest, " ");
      return c;
    }
    prefix = next;
  }
  return c;
}

}  // namespace

int cmd_models_tokens(const TokensArgs& a) {
  if (a.context < 3) throw Error("--context must be at least 3 (start, one token, end)");
  std::unique_ptr<models::ClipTokenizer> tok = models::ClipTokenizer::load(a.tokenizer);
  std::vector<std::string> texts;
  for (const std::string& t : a.texts) {
    if (t != "-") {
      texts.push_back(t);
      continue;
    }
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      texts.push_back(line);
    }
  }
  const size_t fits = static_cast<size_t>(a.context - 2);
  ojson out = ojson::array();
  for (const std::string& text : texts) {
    const std::string cleaned = models::clip_clean_text(text);
    const std::vector<int32_t> tokens = tok->tokens(text);
    const models::TokenizedText enc = tok->encode(text, a.context);
    const size_t chunks = std::max<size_t>(1, (tokens.size() + k_a1111_chunk - 1) / k_a1111_chunk);
    const Cut cut = enc.truncated ? find_cut(*tok, cleaned, fits) : Cut{};
    if (a.json) {
      ojson o = {{"text", text},          {"cleaned", cleaned},  {"tokens", tokens},
                 {"ids", enc.ids},        {"truncated", enc.truncated}, {"count", tokens.size()},
                 {"a1111_chunks", chunks}};
      if (enc.truncated) {
        o["cut_word"] = cut.word;
        o["cut_text"] = cut.rest;
      }
      out.push_back(std::move(o));
      continue;
    }
    std::cout << tokens.size() << " tokens, " << chunks << " A1111 chunk" << (chunks == 1 ? "" : "s") << " of "
              << k_a1111_chunk;
    if (enc.truncated)
      std::cout << "; a " << a.context << "-token context keeps " << fits << ", drops " << tokens.size() - fits
                << " from word " << cut.word + 1 << ": \"" << util::printable_prefix(cut.rest, 80) << "\"";
    else
      std::cout << "; fits a " << a.context << "-token context";
    std::cout << "\n  " << cleaned << "\n";
  }
  if (a.json) std::cout << out.dump(2, ' ', false, ojson::error_handler_t::replace) << "\n";
  return 0;
}

}  // namespace ghx::cli
