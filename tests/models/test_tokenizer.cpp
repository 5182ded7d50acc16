// Mirrors src/models/tokenizer.cpp: ids against an independent Python implementation of the
// published algorithm (tests/models/clip_tokenizer_ref.py -> tests/data/tokenizer/expected.json,
// on the committed tiny vocabulary that write_tiny_bpe_vocab writes), the Hugging Face
// vocab.json + merges.txt path, the 48,894-merge cap of the real file, and the errors.
#include <catch2/catch.hpp>

#include "support.h"

#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/tokenizer.h"
#include "util/error.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ghx::models::ClipTokenizer;

namespace {

using ghx::test::Scratch;
using ghx::test::slurp;
using ghx::test::spit;

const std::string k_dir = std::string(GHX_TEST_DATA) + "/tokenizer/";

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string gunzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  REQUIRE(f != nullptr);
  std::string out;
  char buf[4096];
  int n = 0;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  REQUIRE(n == 0);
  gzclose(f);
  return out;
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

nlohmann::json expected() {
  std::ifstream in(k_dir + "expected.json");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

/// GPT-2's byte -> character table, as UTF-8, in vocabulary order (written out independently).
std::vector<std::string> byte_tokens() {
  std::vector<int> order;
  std::vector<bool> kept(256, false);
  for (int b = 0; b < 256; ++b)
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE)) order.push_back(b), kept[b] = true;
  std::vector<std::string> out;
  auto utf8 = [](int cp) {
    std::string s;
    if (cp < 0x80) {
      s.push_back(static_cast<char>(cp));
    } else {
      s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    return s;
  };
  for (int b : order) out.push_back(utf8(b));
  int n = 0;
  for (int b = 0; b < 256; ++b)
    if (!kept[b]) out.push_back(utf8(256 + n++));
  return out;
}

void check_against_expected(const ClipTokenizer& tok, const nlohmann::json& ex) {
  CHECK(tok.sot() == ex["sot"].get<int>());
  CHECK(tok.eot() == ex["eot"].get<int>());
  CHECK(tok.vocab_size() == ex["vocab_size"].get<int>());
  for (const auto& c : ex["cases"]) {
    INFO("case " << c["name"].get<std::string>());
    const std::string text = from_hex(c["text_hex"]);
    CHECK(ghx::models::clip_clean_text(text) == c["clean"].get<std::string>());
    CHECK(tok.tokens(text) == c["tokens"].get<std::vector<std::int32_t>>());
    const ghx::models::TokenizedText t = tok.encode(text, ex["context"].get<int>());
    CHECK(t.ids == c["ids"].get<std::vector<std::int32_t>>());
    CHECK(t.eot_index == c["eot_index"].get<int>());
    CHECK(t.truncated == c["truncated"].get<bool>());
  }
}

}  // namespace

TEST_CASE("ClipTokenizer matches the independent Python reference on hard strings", "[models][tokenizer]") {
  const nlohmann::json ex = expected();
  REQUIRE(ex["cases"].size() >= 30);
  const auto tok = ClipTokenizer::load(k_dir + "tiny_bpe.txt.gz");
  check_against_expected(*tok, ex);
}

TEST_CASE("ClipTokenizer: Hugging Face vocab.json + merges.txt give the same ids", "[models][tokenizer]") {
  const nlohmann::json ex = expected();
  const auto hf = ClipTokenizer::load(k_dir + "hf/vocab.json");
  check_against_expected(*hf, ex);
  const auto by_folder = ClipTokenizer::load(k_dir + "hf");
  CHECK(by_folder->encode("a photo of a cat").ids == hf->encode("a photo of a cat").ids);
}

TEST_CASE("ClipTokenizer: encode truncates with EOT last, pads with zeros", "[models][tokenizer]") {
  const auto tok = ClipTokenizer::load(k_dir + "tiny_bpe.txt.gz");
  const auto words = tok->tokens("the cat and the dog");
  REQUIRE(words.size() == 5u);  // common words are single tokens in the tiny vocabulary
  const auto t = tok->encode("the cat and the dog", 8);
  CHECK(t.ids == std::vector<std::int32_t>{tok->sot(), words[0], words[1], words[2], words[3], words[4],
                                           tok->eot(), 0});
  CHECK(t.eot_index == 6);
  CHECK_FALSE(t.truncated);
  const auto cut = tok->encode("the cat and the dog", 4);
  CHECK(cut.ids == std::vector<std::int32_t>{tok->sot(), words[0], words[1], tok->eot()});
  CHECK(cut.eot_index == 3);
  CHECK(cut.truncated);
  const auto empty = tok->encode("", 77);
  CHECK(empty.ids.size() == 77u);
  CHECK(empty.ids[0] == tok->sot());
  CHECK(empty.ids[1] == tok->eot());
  CHECK(empty.eot_index == 1);
  CHECK(tok->encode("x", 2).ids == std::vector<std::int32_t>{tok->sot(), tok->eot()});
  CHECK_THROWS_AS(tok->encode("x", 1), ghx::Error);
}

TEST_CASE("ClipTokenizer: encode is const and thread-safe", "[models][tokenizer]") {
  const auto tok = ClipTokenizer::load(k_dir + "tiny_bpe.txt.gz");
  const nlohmann::json ex = expected();
  std::vector<std::string> texts;
  for (const auto& c : ex["cases"]) texts.push_back(from_hex(c["text_hex"]));
  std::vector<std::vector<std::int32_t>> serial;
  for (const auto& t : texts) serial.push_back(tok->encode(t).ids);
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int round = 0; round < 20; ++round)
        for (std::size_t i = 0; i < texts.size(); ++i)
          if (tok->encode(texts[(i + k * 7) % texts.size()]).ids != serial[(i + k * 7) % texts.size()])
            ++mismatches[k];
    });
  }
  for (auto& t : threads) t.join();
  CHECK(mismatches == std::vector<int>(4, 0));
}

TEST_CASE("write_tiny_bpe_vocab: deterministic, valid merges, the committed file", "[models][tokenizer]") {
  Scratch dir("tiny");
  const int merges = ghx::models::write_tiny_bpe_vocab(dir / "sub/bpe_vocab.txt.gz");
  CHECK(merges >= 200);
  CHECK(merges == expected()["merges"].get<int>());
  const std::string text = gunzip(dir / "sub/bpe_vocab.txt.gz");
  CHECK(text == gunzip(k_dir + "tiny_bpe.txt.gz"));  // the committed copy is this writer's output
  CHECK(text.back() != '\n');
  const auto tok = ClipTokenizer::load(dir / "sub/bpe_vocab.txt.gz");
  CHECK(tok->vocab_size() == 512 + merges + 2);
  CHECK(tok->sot() == 512 + merges);
  CHECK(tok->eot() == 512 + merges + 1);
  // Every merge joins two existing tokens; whole words and "</w>" endings appear.
  std::set<std::string> known;
  for (const std::string& b : byte_tokens()) known.insert(b), known.insert(b + "</w>");
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);  // version
  int n = 0;
  while (std::getline(in, line)) {
    const auto sp = line.find(' ');
    REQUIRE(sp != std::string::npos);
    const std::string a = line.substr(0, sp), b = line.substr(sp + 1);
    INFO("merge " << line);
    CHECK(known.count(a) == 1);
    CHECK(known.count(b) == 1);
    known.insert(a + b);
    ++n;
  }
  CHECK(n == merges);
  for (const char* w : {"the</w>", "photo</w>", "of</w>", "cat</w>", "portrait</w>", "ing</w>"}) {
    INFO(w);
    CHECK(known.count(w) == 1);
  }
}

TEST_CASE("ClipTokenizer uses at most 48,894 merges: SOT 49406, EOT 49407", "[models][tokenizer]") {
  // A plain-text (not gzip) vocabulary with 49,000 merges of byte-token pairs; "q z" is the last
  // merge used (rank 48,893), "z q" the first one past the cap.
  const std::vector<std::string> bytes = byte_tokens();
  std::string text = "\"synthetic#version: 0.2\n";
  int count = 0;
  auto add = [&](const std::string& a, const std::string& b) {
    text += a + " " + b + "\n";
    ++count;
  };
  for (std::size_t i = 0; i < bytes.size() && count < 49000; ++i) {
    for (std::size_t j = 0; j < bytes.size() && count < 49000; ++j) {
      if (bytes[i] == "q" || bytes[i] == "z" || bytes[j] == "q" || bytes[j] == "z") continue;
      if (count == 48893) add("q", "z");
      if (count == 48894) add("z", "q");
      add(bytes[i], bytes[j]);
    }
  }
  REQUIRE(count == 49000);
  Scratch dir("cap");
  write_file(dir / "big.txt", text);
  const auto tok = ClipTokenizer::load(dir / "big.txt");
  CHECK(tok->sot() == 49406);
  CHECK(tok->eot() == 49407);
  CHECK(tok->vocab_size() == 49408);
  CHECK(tok->tokens("qzq") == std::vector<std::int32_t>{512 + 48893, 256 + 'q' - '!'});
  CHECK(tok->tokens("zqz").size() == 3u);  // "z q" is past the cap
  // Fewer merges than the cap (and a trailing newline, as editors leave): SOT/EOT follow them.
  Scratch small("small");
  write_file(small / "v.txt", "#version: 0.2\nt h\nth e</w>\n\n");
  const auto s = ClipTokenizer::load(small / "v.txt");
  CHECK(s->sot() == 514);
  CHECK(s->eot() == 515);
  CHECK(s->tokens("the") == std::vector<std::int32_t>{513});
}

TEST_CASE("ClipTokenizer: missing and malformed vocabularies are errors naming the file", "[models][tokenizer]") {
  Scratch dir("bad");
  auto fails_with = [](const std::string& path, const std::string& what) {
    INFO(path);
    CHECK_THROWS_WITH(ClipTokenizer::load(path), Contains(path) && Contains(what));
  };
  fails_with(dir / "nope.txt.gz", "no such file");
  write_file(dir / "empty.txt", "");
  fails_with(dir / "empty.txt", "empty");
  write_file(dir / "version_only.txt", "#version: 0.2\n");
  fails_with(dir / "version_only.txt", "no merges");
  write_file(dir / "three.txt", "#version: 0.2\nt h\na b c\n");
  fails_with(dir / "three.txt", ":3: malformed merge");
  write_file(dir / "blank.txt", "#version: 0.2\nt h\n\na b\n");
  fails_with(dir / "blank.txt", ":3: malformed merge");
  write_file(dir / "latin1.txt", "#version: 0.2\nt \xe9\n");
  fails_with(dir / "latin1.txt", "not UTF-8");
  write_file(dir / "corrupt.txt.gz", std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage!", 18));
  CHECK_THROWS_AS(ClipTokenizer::load(dir / "corrupt.txt.gz"), ghx::Error);
  CHECK_THROWS_WITH(ClipTokenizer::load(dir / "corrupt.txt.gz"), Contains(dir / "corrupt.txt.gz"));
  fails_with(dir.path, "neither vocab.json");
  // Hugging Face layout.
  fs::create_directories(dir / "hf1");
  write_file(dir / "hf1/vocab.json", "{}");
  fails_with(dir / "hf1/merges.txt", "no such file");
  fs::create_directories(dir / "hf2");
  write_file(dir / "hf2/vocab.json", "{\"a\": 1,");
  write_file(dir / "hf2/merges.txt", "#version: 0.2\na b\n");
  fails_with(dir / "hf2/vocab.json", "invalid JSON");
  fs::create_directories(dir / "hf3");
  write_file(dir / "hf3/vocab.json", "{\"a\": 0, \"b\": \"x\"}");
  write_file(dir / "hf3/merges.txt", "#version: 0.2\na b\n");
  fails_with(dir / "hf3/vocab.json", "no valid integer id");
  fs::create_directories(dir / "hf4");
  write_file(dir / "hf4/vocab.json", "{\"a\": 0, \"b\": 1, \"<|startoftext|>\": 2, \"<|endoftext|>\": 3}");
  write_file(dir / "hf4/merges.txt", "#version: 0.2\na b\n");
  fails_with(dir / "hf4/vocab.json", "lacks the token for byte");
  // A merge whose result vocab.json lacks.
  nlohmann::json vocab = nlohmann::json::object();
  int id = 0;
  for (const std::string& b : byte_tokens()) vocab[b] = id++;
  for (const std::string& b : byte_tokens()) vocab[b + "</w>"] = id++;
  vocab["<|startoftext|>"] = id++;
  vocab["<|endoftext|>"] = id++;
  fs::create_directories(dir / "hf5");
  write_file(dir / "hf5/vocab.json", vocab.dump());
  write_file(dir / "hf5/merges.txt", "#version: 0.2\nt h\n");
  fails_with(dir / "hf5/vocab.json", "not in the vocabulary");
  vocab["th"] = id++;
  write_file(dir / "hf5/vocab.json", vocab.dump());
  const auto ok = ClipTokenizer::load(dir / "hf5/vocab.json");
  CHECK(ok->sot() == 512);
  CHECK(ok->eot() == 513);
  CHECK(ok->vocab_size() == 515);
  CHECK(ok->tokens("thx") == std::vector<std::int32_t>{514, 256 + 'x' - '!'});
}

TEST_CASE("ClipTokenizer on the real OpenAI vocabulary (GHX_CLIP_BPE)", "[models][tokenizer]") {
  const char* path = std::getenv("GHX_CLIP_BPE");
  if (!path || !*path) {
    WARN("GHX_CLIP_BPE not set: real bpe_simple_vocab_16e6.txt.gz not checked");
    return;
  }
  const auto tok = ClipTokenizer::load(path);
  CHECK(tok->sot() == 49406);
  CHECK(tok->eot() == 49407);
  CHECK(tok->vocab_size() == 49408);
  const auto ids = tok->tokens("a photo of a cat");
  CHECK(ids.size() == 5u);
  CHECK(ids[0] == ids[3]);
}
