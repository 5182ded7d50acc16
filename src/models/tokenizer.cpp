// CLIP's byte-level BPE tokenizer (OpenAI simple_tokenizer semantics); contract in tokenizer.h,
// choices and deviations in docs/models.md ("Tokenizer").
#include "models/tokenizer.h"
#include "models/tokenizer_clean.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/regex.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <array>
#include <climits>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace ghx::models {
namespace {

namespace fs = std::filesystem;

/// OpenAI's cap: merges[1 : 49152 - 256 - 2 + 1].
constexpr int k_max_merges = 49152 - 256 - 2;
const std::string k_sot_text = "<|startoftext|>";
const std::string k_eot_text = "<|endoftext|>";

// The published split pattern. Two adjustments reproduce what the `regex` module does with
// re.IGNORECASE on already-lowercased text (checked over every code point): "'ſ" (long s) is
// the contraction 's, and U+0345 (combining ypogegrammeni, which case-folds to a letter) is
// matched by no alternative, so it is dropped like whitespace.
const char* const k_split_pattern =
    "<\\|startoftext\\|>|<\\|endoftext\\|>|'[s\\u017f]|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|"
    "[^\\p{White_Space}\\p{L}\\p{N}\\u0345]+";

[[noreturn]] void fail(const std::string& path, const std::string& msg) {
  throw Error(path + ": " + msg);
}

// ---------------------------------------------------------------------------------------------
// Vocabulary files

/// GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 bytes to
/// U+0100.. in byte order. `order` lists the bytes in vocabulary order (id of byte b's token).
struct ByteTable {
  std::array<std::string, 256> text;  ///< UTF-8 of the character standing for byte b
  std::array<int, 256> index{};       ///< position of byte b in the vocabulary's first 256
};

const ByteTable& byte_table() {
  static const ByteTable k_table = [] {
    ByteTable t;
    std::vector<int> order;
    for (int b = 0x21; b <= 0x7E; ++b) order.push_back(b);
    for (int b = 0xA1; b <= 0xAC; ++b) order.push_back(b);
    for (int b = 0xAE; b <= 0xFF; ++b) order.push_back(b);
    std::array<char32_t, 256> cs{};
    std::array<bool, 256> printable{};
    for (int b : order) printable[b] = true, cs[b] = static_cast<char32_t>(b);
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      if (printable[b]) continue;
      order.push_back(b);
      cs[b] = static_cast<char32_t>(256 + extra++);
    }
    for (int i = 0; i < 256; ++i) t.index[order[i]] = i;
    for (int b = 0; b < 256; ++b) {
      t.text[b].clear();
      tokenizer_detail::append_utf8(t.text[b], cs[b]);
    }
    return t;
  }();
  return k_table;
}

/// The whole file, gunzipped when it is gzip (zlib reads plain files as they are).
std::string read_maybe_gzip(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail(path, "no such file");
  if (fs::is_directory(path, ec)) fail(path, "is a folder, expected a file");
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) fail(path, std::string("cannot open: ") + std::strerror(errno));
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const int got = gzread(f, buf, sizeof buf);
    if (got < 0) {
      int err = 0;
      const std::string msg = gzerror(f, &err);
      gzclose(f);
      fail(path, "cannot read (corrupt gzip?): " + msg);
    }
    if (got == 0) break;
    out.append(buf, static_cast<std::size_t>(got));
  }
  const int rc = gzclose(f);
  if (rc != Z_OK) fail(path, "truncated or corrupt gzip data");
  return out;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();  // trailing newlines
  return lines;
}

/// "a b" -> {a, b}; anything else is malformed.
std::pair<std::string, std::string> parse_merge(const std::string& path, int line_no,
                                                const std::string& line) {
  auto is_ws = [](char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f'; };
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_ws(line[i])) ++i;
    std::size_t j = i;
    while (j < line.size() && !is_ws(line[j])) ++j;
    if (j > i) parts.push_back(line.substr(i, j - i));
    i = j;
  }
  if (parts.size() != 2) {
    std::string shown = line.size() > 60 ? line.substr(0, 60) + "..." : line;
    fail(path + ":" + std::to_string(line_no),
         "malformed merge '" + shown + "' (expected two tokens separated by a space)");
  }
  return {std::move(parts[0]), std::move(parts[1])};
}

/// The merges after the version line (at most k_max_merges), with their 1-based line numbers.
std::vector<std::pair<std::string, std::string>> read_merges(const std::string& path,
                                                              const std::string& text) {
  if (!tokenizer_detail::valid_utf8(text)) fail(path, "not UTF-8 text (a BPE merges file was expected)");
  const std::vector<std::string> lines = split_lines(text);
  if (lines.empty()) fail(path, "empty vocabulary file");
  if (lines.size() < 2) fail(path, "no merges after the version line");
  std::vector<std::pair<std::string, std::string>> merges;
  const std::size_t used = std::min<std::size_t>(lines.size() - 1, k_max_merges);
  merges.reserve(used);
  for (std::size_t i = 1; i <= used; ++i)
    merges.push_back(parse_merge(path, static_cast<int>(i + 1), lines[i]));
  return merges;
}

std::string lower_ext(const std::string& path) {
  std::string e = fs::path(path).extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e;
}

// ---------------------------------------------------------------------------------------------
// The tokenizer

struct MergeRule {
  int rank;
  std::int32_t id;  ///< id of the merged token
};

std::uint64_t pair_key(std::int32_t a, std::int32_t b) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) |
         static_cast<std::uint32_t>(b);
}

class BpeTokenizer final : public ClipTokenizer {
 public:
  /// `encoder`: token text -> id (later entries of a list win, as Python's dict(zip(...))).
  BpeTokenizer(const std::string& path, const std::unordered_map<std::string, std::int32_t>& encoder,
               const std::vector<std::pair<std::string, std::string>>& merges, std::int32_t vocab_size,
               bool merged_must_exist)
      : m_vocab_size(vocab_size) {
    auto id_of = [&](const std::string& t) -> std::int32_t {
      auto it = encoder.find(t);
      return it == encoder.end() ? -1 : it->second;
    };
    const ByteTable& bytes = byte_table();
    for (int b = 0; b < 256; ++b) {
      m_byte_id[b] = id_of(bytes.text[b]);
      m_byte_end_id[b] = id_of(bytes.text[b] + "</w>");
      if (m_byte_id[b] < 0 || m_byte_end_id[b] < 0)
        fail(path, "vocabulary lacks the token for byte " + std::to_string(b) + " ('" +
                       bytes.text[b] + "' or '" + bytes.text[b] + "</w>')");
    }
    m_sot = id_of(k_sot_text);
    m_eot = id_of(k_eot_text);
    if (m_sot < 0 || m_eot < 0) fail(path, "vocabulary lacks <|startoftext|> or <|endoftext|>");
    for (std::size_t r = 0; r < merges.size(); ++r) {
      const auto& [a, b] = merges[r];
      const std::int32_t ia = id_of(a), ib = id_of(b);
      // A merge whose parts are not tokens can never apply (the reference skips it the same way).
      if (ia < 0 || ib < 0) continue;
      const std::int32_t im = id_of(a + b);
      if (im < 0) {
        if (merged_must_exist)
          fail(path, "merge '" + a + " " + b + "' (rank " + std::to_string(r) +
                         ") makes a token that is not in the vocabulary");
        continue;
      }
      m_rules[pair_key(ia, ib)] = MergeRule{static_cast<int>(r), im};  // a repeated pair: last wins
    }
    UErrorCode st = U_ZERO_ERROR;
    m_split.reset(icu::RegexPattern::compile(icu::UnicodeString::fromUTF8(k_split_pattern), 0, st));
    if (U_FAILURE(st)) throw Error(std::string("tokenizer: ICU regex: ") + u_errorName(st));
  }

  std::vector<std::int32_t> tokens(const std::string& text) const override {
    std::unordered_map<std::string, std::vector<std::int32_t>> cache;
    return tokens_cached(text, cache);
  }

  TokenizedText encode(const std::string& text, int context) const override {
    if (context < 2) throw Error("tokenizer: context must be at least 2, got " + std::to_string(context));
    std::unordered_map<std::string, std::vector<std::int32_t>> cache;
    const std::vector<std::int32_t> body = tokens_cached(text, cache);
    TokenizedText out;
    out.ids.reserve(static_cast<std::size_t>(context));
    out.ids.push_back(m_sot);
    out.ids.insert(out.ids.end(), body.begin(), body.end());
    out.ids.push_back(m_eot);
    if (out.ids.size() > static_cast<std::size_t>(context)) {
      out.truncated = true;
      out.ids.resize(static_cast<std::size_t>(context));
      out.ids.back() = m_eot;
    }
    // Where the models read the text feature: argmax(ids), i.e. the first EOT.
    out.eot_index = static_cast<std::int32_t>(
        std::find(out.ids.begin(), out.ids.end(), m_eot) - out.ids.begin());
    out.ids.resize(static_cast<std::size_t>(context), 0);
    return out;
  }

  std::int32_t sot() const override { return m_sot; }
  std::int32_t eot() const override { return m_eot; }
  std::int32_t vocab_size() const override { return m_vocab_size; }

 private:
  std::vector<std::int32_t> tokens_cached(
      const std::string& text,
      std::unordered_map<std::string, std::vector<std::int32_t>>& cache) const {
    const icu::UnicodeString cleaned = tokenizer_detail::clean_to_icu(text);
    UErrorCode st = U_ZERO_ERROR;
    std::unique_ptr<icu::RegexMatcher> m(m_split->matcher(cleaned, st));
    if (U_FAILURE(st)) throw Error(std::string("tokenizer: ICU regex: ") + u_errorName(st));
    std::vector<std::int32_t> out;
    std::string word;
    while (m->find(st) && U_SUCCESS(st)) {
      word.clear();
      m->group(st).toUTF8String(word);
      if (word == k_sot_text) {
        out.push_back(m_sot);
        continue;
      }
      if (word == k_eot_text) {
        out.push_back(m_eot);
        continue;
      }
      auto it = cache.find(word);
      if (it == cache.end()) it = cache.emplace(word, bpe(word)).first;
      out.insert(out.end(), it->second.begin(), it->second.end());
    }
    if (U_FAILURE(st)) throw Error(std::string("tokenizer: ICU regex: ") + u_errorName(st));
    return out;
  }

  /// BPE over the word's bytes, the last carrying "</w>": merge the lowest-ranked adjacent pair
  /// everywhere (left to right, non-overlapping) until no ranked pair is left.
  std::vector<std::int32_t> bpe(const std::string& word) const {
    std::vector<std::int32_t> w;
    w.reserve(word.size());
    for (std::size_t i = 0; i < word.size(); ++i) {
      const auto b = static_cast<unsigned char>(word[i]);
      w.push_back(i + 1 == word.size() ? m_byte_end_id[b] : m_byte_id[b]);
    }
    std::vector<std::int32_t> next;
    while (w.size() > 1) {
      int best = INT_MAX;
      std::int32_t first = 0, second = 0, merged = 0;
      for (std::size_t i = 0; i + 1 < w.size(); ++i) {
        auto it = m_rules.find(pair_key(w[i], w[i + 1]));
        if (it != m_rules.end() && it->second.rank < best) {
          best = it->second.rank;
          first = w[i], second = w[i + 1], merged = it->second.id;
        }
      }
      if (best == INT_MAX) break;
      next.clear();
      for (std::size_t i = 0; i < w.size();) {
        if (i + 1 < w.size() && w[i] == first && w[i + 1] == second) {
          next.push_back(merged);
          i += 2;
        } else {
          next.push_back(w[i++]);
        }
      }
      w.swap(next);
    }
    return w;
  }

  std::int32_t m_vocab_size = 0;
  std::int32_t m_sot = 0;
  std::int32_t m_eot = 0;
  std::array<std::int32_t, 256> m_byte_id{};
  std::array<std::int32_t, 256> m_byte_end_id{};
  std::unordered_map<std::uint64_t, MergeRule> m_rules;
  std::unique_ptr<icu::RegexPattern> m_split;
};

std::unique_ptr<ClipTokenizer> load_openai(const std::string& path) {
  const auto merges = read_merges(path, read_maybe_gzip(path));
  // Vocabulary order of the reference: bytes, bytes + "</w>", merges, SOT, EOT.
  const ByteTable& bytes = byte_table();
  std::vector<std::string> vocab(512);
  for (int b = 0; b < 256; ++b) {
    vocab[bytes.index[b]] = bytes.text[b];
    vocab[256 + bytes.index[b]] = bytes.text[b] + "</w>";
  }
  for (const auto& [a, b] : merges) vocab.push_back(a + b);
  vocab.push_back(k_sot_text);
  vocab.push_back(k_eot_text);
  std::unordered_map<std::string, std::int32_t> encoder;
  encoder.reserve(vocab.size());
  for (std::size_t i = 0; i < vocab.size(); ++i) encoder[vocab[i]] = static_cast<std::int32_t>(i);
  return std::make_unique<BpeTokenizer>(path, encoder, merges,
                                        static_cast<std::int32_t>(vocab.size()), false);
}

std::unique_ptr<ClipTokenizer> load_hf(const std::string& vocab_path) {
  const std::string merges_path = (fs::path(vocab_path).parent_path() / "merges.txt").string();
  std::error_code ec;
  if (!fs::exists(vocab_path, ec)) fail(vocab_path, "no such file");
  if (!fs::exists(merges_path, ec)) fail(merges_path, "no such file (merges.txt must be beside vocab.json)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_maybe_gzip(vocab_path));
  } catch (const nlohmann::json::exception& e) {
    fail(vocab_path, std::string("invalid JSON: ") + e.what());
  }
  if (!j.is_object() || j.empty()) fail(vocab_path, "expected a JSON object of token -> id");
  std::unordered_map<std::string, std::int32_t> encoder;
  encoder.reserve(j.size());
  std::int64_t max_id = -1;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<std::int64_t>() < 0 ||
        it.value().get<std::int64_t>() > INT32_MAX - 1)
      fail(vocab_path, "token '" + it.key() + "' has no valid integer id");
    const auto id = it.value().get<std::int64_t>();
    encoder[it.key()] = static_cast<std::int32_t>(id);
    max_id = std::max(max_id, id);
  }
  // transformers: merges.txt stripped, first (version) line skipped, the same cap.
  std::string text = read_maybe_gzip(merges_path);
  const auto merges = read_merges(merges_path, text);
  return std::make_unique<BpeTokenizer>(vocab_path, encoder, merges,
                                        static_cast<std::int32_t>(max_id + 1), true);
}

}  // namespace

std::unique_ptr<ClipTokenizer> ClipTokenizer::load(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const fs::path dir(path);
    if (fs::exists(dir / "vocab.json", ec)) return load_hf((dir / "vocab.json").string());
    if (fs::exists(dir / "bpe_simple_vocab_16e6.txt.gz", ec))
      return load_openai((dir / "bpe_simple_vocab_16e6.txt.gz").string());
    fail(path, "folder has neither vocab.json + merges.txt nor bpe_simple_vocab_16e6.txt.gz");
  }
  if (lower_ext(path) == ".json") return load_hf(path);
  return load_openai(path);
}

// ---------------------------------------------------------------------------------------------
// The tiny vocabulary: real BPE training (most frequent adjacent pair, ties to the smallest pair
// by byte order) on a small built-in English prompt corpus, so that every merge's parts exist and
// common words and "</w>" endings become single tokens.

namespace {

constexpr int k_tiny_merges = 400;

const char* const k_tiny_corpus =
    "a photo of a cat sitting on the table in the kitchen with a cup of coffee and a book "
    "a portrait of a woman with long hair and blue eyes looking at the camera in the rain "
    "masterpiece best quality high quality detailed face detailed eyes beautiful lighting "
    "a painting of a city at night with lights and people walking on the street in the snow "
    "an old man reading a newspaper in the park under a tree in the morning light "
    "the dog is running on the beach near the sea and the sun is setting over the water "
    "a beautiful landscape with mountains and a river in the valley under a blue sky "
    "a small house in the forest with green trees and flowers in the garden in spring "
    "anime girl with a red dress standing in a field of flowers under the moon at night "
    "the best photo of the year is a picture of a bird flying over the ocean at sunset "
    "a close up portrait of a young man wearing glasses and a black hat in the city "
    "digital art of a castle on a hill with clouds and birds in the sky in the evening "
    "highly detailed illustration of a dragon with wings and fire in the dark cave "
    "a watercolor painting of a boat on the lake in the mountains with reflections "
    "a cute puppy playing with a ball on the grass in the garden on a sunny day "
    "cinematic lighting sharp focus studio photo of a model wearing a white shirt "
    "the quick brown fox jumps over the lazy dog and the cat watches from the window "
    "people are walking in the rain with umbrellas on a busy street in the city at night "
    "there is a red car parked in front of the building next to the old train station "
    "she is smiling and holding a bunch of flowers while he is playing the guitar "
    "this is one of the most beautiful places in the world to watch the stars at night "
    "it was a dark and stormy night and the wind was blowing through the trees "
    "they have been working on the new project for many years and it is almost done "
    "we can see the light of the city from the top of the mountain in the winter "
    "oil painting of a still life with fruit and a vase of flowers on a wooden table "
    "photograph of a street market with food and colorful fruits in the morning sun "
    "realistic render of a robot standing in a futuristic city with neon lights "
    "soft light golden hour portrait of a girl with freckles and red hair smiling "
    "ultra detailed 8k wallpaper of a fantasy world with magic and ancient ruins "
    "black and white photo of an old bridge over the river in the fog at dawn "
    "the children are playing in the park while their parents talk on the bench "
    "a bowl of hot soup with bread and cheese on a plate next to a glass of wine "
    "a man and a woman dancing together in the ballroom under the golden lights "
    "what is the best way to learn how to draw and paint people and animals "
    "i think that you should not go there because it is going to rain all day "
    "a line of trees along the road leading to the small village on the hill "
    "the ship is sailing across the sea toward the island under a clear sky "
    "two cats sleeping together on a soft blanket near the fireplace in winter "
    "an astronaut riding a horse on the moon in a photorealistic style "
    "a bright colorful poster of a music festival with crowds and stage lights ";

}  // namespace

int write_tiny_bpe_vocab(const std::string& path) {
  const ByteTable& bytes = byte_table();
  // word (as symbols) -> count, in a deterministic (sorted) order.
  std::map<std::string, int> counts;
  {
    std::string w;
    for (const char* p = k_tiny_corpus;; ++p) {
      if (*p == ' ' || *p == '\0') {
        if (!w.empty()) ++counts[w];
        w.clear();
        if (*p == '\0') break;
      } else {
        w.push_back(*p);
      }
    }
  }
  std::vector<std::pair<std::vector<std::string>, int>> words;
  for (const auto& [w, n] : counts) {
    std::vector<std::string> syms;
    for (std::size_t i = 0; i < w.size(); ++i) {
      syms.push_back(bytes.text[static_cast<unsigned char>(w[i])]);
      if (i + 1 == w.size()) syms.back() += "</w>";
    }
    words.emplace_back(std::move(syms), n);
  }
  std::vector<std::pair<std::string, std::string>> merges;
  while (static_cast<int>(merges.size()) < k_tiny_merges) {
    std::map<std::pair<std::string, std::string>, int> pairs;
    for (const auto& [syms, n] : words)
      for (std::size_t i = 0; i + 1 < syms.size(); ++i) pairs[{syms[i], syms[i + 1]}] += n;
    if (pairs.empty()) break;
    auto best = pairs.begin();
    for (auto it = pairs.begin(); it != pairs.end(); ++it)
      if (it->second > best->second) best = it;  // strict: the smallest pair wins ties
    const auto [a, b] = best->first;
    merges.emplace_back(a, b);
    for (auto& [syms, n] : words) {
      std::vector<std::string> next;
      for (std::size_t i = 0; i < syms.size();) {
        if (i + 1 < syms.size() && syms[i] == a && syms[i + 1] == b) {
          next.push_back(a + b);
          i += 2;
        } else {
          next.push_back(syms[i++]);
        }
      }
      syms.swap(next);
    }
  }
  // No newline after the last merge: OpenAI's reader (split('\n')) would count an empty merge.
  std::string text = "\"ghx tiny bpe vocabulary#version: 0.2";
  for (const auto& [a, b] : merges) text += "\n" + a + " " + b;
  std::error_code ec;
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  gzFile f = gzopen(path.c_str(), "wb9");
  if (!f) fail(path, std::string("cannot create: ") + std::strerror(errno));
  const int wrote = gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
  const int rc = gzclose(f);
  if (wrote != static_cast<int>(text.size()) || rc != Z_OK) fail(path, "write failed");
  return static_cast<int>(merges.size());
}

}  // namespace ghx::models
