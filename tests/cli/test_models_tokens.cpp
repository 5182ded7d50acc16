// `ghx models tokens` through the binary: what CLIP's text encoder sees, checked against the
// tokenizer library itself (tiny vocabulary of `ghx models tiny`), in order, from arguments and
// from stdin; the cut of a text longer than the context.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "models/tokenizer.h"
#include "support.h"
#include "util/strings.h"

using namespace ghx;
using nlohmann::json;

namespace {

struct Tokens {
  test::TempDir dir;
  std::string vocab = dir / "vocab.txt.gz";
  std::unique_ptr<models::ClipTokenizer> tok;
  Tokens() {
    models::write_tiny_bpe_vocab(vocab);
    tok = models::ClipTokenizer::load(vocab);
  }
  test::CommandResult run(const std::string& args, const std::string& stdin_text = "") {
    std::string cmd = std::string(GHX_BINARY) + " models tokens --tokenizer " + vocab + " " + args + " 2>" + (dir / "err.txt");
    if (!stdin_text.empty()) {
      test::write_text(dir / "in.txt", stdin_text);
      cmd += " <" + (dir / "in.txt");
    }
    return test::run_command(cmd);
  }
};

}  // namespace

TEST_CASE("models tokens --json: tokens and ids as the tokenizer makes them, one object per text in order",
          "[cli][tokens]") {
  Tokens t;
  test::CommandResult r = t.run("--json 'A photo of a CAT' 'masterpiece, 1girl'");
  REQUIRE(r.code == 0);
  json j = json::parse(r.out);
  REQUIRE(j.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    const std::string text = i == 0 ? "A photo of a CAT" : "masterpiece, 1girl";
    INFO(text);
    CHECK(j[i]["text"] == text);
    CHECK(j[i]["cleaned"] == models::clip_clean_text(text));
    CHECK(j[i]["tokens"].get<std::vector<int32_t>>() == t.tok->tokens(text));
    CHECK(j[i]["ids"].get<std::vector<int32_t>>() == t.tok->encode(text, 77).ids);
    CHECK(j[i]["count"] == t.tok->tokens(text).size());
    CHECK(j[i]["truncated"] == false);
    CHECK(j[i]["a1111_chunks"] == 1);
    CHECK(!j[i].contains("cut_word"));
  }
}

TEST_CASE("models tokens: a text longer than the context is cut at the word where the window ends", "[cli][tokens]") {
  Tokens t;
  std::vector<std::string> words;
  for (int i = 0; i < 60; ++i) words.push_back("word" + std::to_string(i));
  const std::string text = util::join(words, " ");
  const size_t count = t.tok->tokens(text).size();
  REQUIRE(count > 150);  // the tiny vocabulary has few merges: several tokens a word
  test::CommandResult r = t.run("--json '" + text + "'");
  REQUIRE(r.code == 0);
  json o = json::parse(r.out).at(0);
  CHECK(o["truncated"] == true);
  CHECK(o["count"] == count);
  CHECK(o["a1111_chunks"] == (count + 74) / 75);
  const auto ids = o["ids"].get<std::vector<int32_t>>();
  REQUIRE(ids.size() == 77);
  CHECK(ids.front() == t.tok->sot());
  CHECK(ids.back() == t.tok->eot());  // the end token kept last
  const size_t cut = o["cut_word"].get<size_t>();
  REQUIRE(cut > 0);
  REQUIRE(cut < words.size());
  // the words before the cut fit in 75 tokens, one more word does not
  const std::vector<std::string> before(words.begin(), words.begin() + static_cast<std::ptrdiff_t>(cut));
  const std::vector<std::string> one_more(words.begin(), words.begin() + static_cast<std::ptrdiff_t>(cut) + 1);
  CHECK(t.tok->tokens(util::join(before, " ")).size() <= 75);
  CHECK(t.tok->tokens(util::join(one_more, " ")).size() > 75);
  CHECK(o["cut_text"].get<std::string>().rfind(words[cut] + " ", 0) == 0);
  // the human form says the same
  test::CommandResult h = t.run("'" + text + "'");
  REQUIRE(h.code == 0);
  CHECK(h.out.find(std::to_string(count) + " tokens") == 0);
  CHECK(h.out.find("from word " + std::to_string(cut + 1) + ": \"" + words[cut]) != std::string::npos);
  // a longer context keeps more
  json wide = json::parse(t.run("--json --context 1000 '" + text + "'").out).at(0);
  CHECK(wide["truncated"] == false);
  CHECK(wide["ids"].size() == 1000);
}

TEST_CASE("models tokens: - reads texts from stdin, in place among the others, a bad vocabulary is exit 2",
          "[cli][tokens]") {
  Tokens t;
  test::CommandResult r = t.run("--json first - last", "from stdin\r\nsecond line\n");
  REQUIRE(r.code == 0);
  json j = json::parse(r.out);
  REQUIRE(j.size() == 4);
  CHECK(j[0]["text"] == "first");
  CHECK(j[1]["text"] == "from stdin");
  CHECK(j[2]["text"] == "second line");
  CHECK(j[3]["text"] == "last");
  test::CommandResult bad = test::run_command(std::string(GHX_BINARY) + " models tokens --tokenizer " + (t.dir / "nope.gz") +
                                              " x 2>" + (t.dir / "err.txt"));
  CHECK(bad.code == 2);
  CHECK(test::read_text(t.dir / "err.txt").rfind("ghx: error: ", 0) == 0);
}
