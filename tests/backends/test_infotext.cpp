// A1111 infotext: format() writes what A1111's create_infotext writes (quote() rules included);
// parse() reads like parse_generation_parameters (last line is parameters only with >= 3
// `key: value` pairs; "Negative prompt:" may span lines; quoted values unquoted).
#include <catch2/catch.hpp>

#include "backends/infotext.h"

using ghx::backends::Infotext;

namespace {

const std::string k_a1111 =
    "masterpiece, best quality, 1girl, <lora:add_detail:0.6>, (blue eyes:1.2)\n"
    "Negative prompt: lowres, bad anatomy, EasyNegative\n"
    "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 6, Seed: 1, Size: 512x768, Model hash: 6ce0161689, "
    "Model: v1-5-pruned-emaonly, Denoising strength: 0.5, Hires upscale: 2, Hires upscaler: 4x-UltraSharp, "
    "Lora hashes: \"add_detail: 7c6bad76eb54, more_art: 0123456789ab\", TI hashes: \"EasyNegative: c74b4e810b03\", "
    "Version: v1.10.1";

std::vector<std::pair<std::string, std::string>> kv(std::initializer_list<std::pair<std::string, std::string>> l) {
  return l;
}

}  // namespace

TEST_CASE("infotext: a real A1111 infotext parses and formats back byte for byte", "[infotext]") {
  auto it = Infotext::parse(k_a1111);
  REQUIRE(it);
  CHECK(it->prompt == "masterpiece, best quality, 1girl, <lora:add_detail:0.6>, (blue eyes:1.2)");
  CHECK(it->negative_prompt == "lowres, bad anatomy, EasyNegative");
  CHECK(it->params == kv({{"Steps", "30"},
                          {"Sampler", "DPM++ 2M Karras"},
                          {"CFG scale", "6"},
                          {"Seed", "1"},
                          {"Size", "512x768"},
                          {"Model hash", "6ce0161689"},
                          {"Model", "v1-5-pruned-emaonly"},
                          {"Denoising strength", "0.5"},
                          {"Hires upscale", "2"},
                          {"Hires upscaler", "4x-UltraSharp"},
                          {"Lora hashes", "add_detail: 7c6bad76eb54, more_art: 0123456789ab"},
                          {"TI hashes", "EasyNegative: c74b4e810b03"},
                          {"Version", "v1.10.1"}}));
  CHECK(it->seed() == 1);
  CHECK(it->model_hash() == "6ce0161689");
  REQUIRE(it->get("Hires upscaler"));
  CHECK(*it->get("Hires upscaler") == "4x-UltraSharp");
  CHECK(it->get("Clip skip") == nullptr);  // A1111's pasting defaults are not invented
  CHECK(it->format() == k_a1111);
}

TEST_CASE("infotext: format() follows create_infotext and quote()", "[infotext]") {
  Infotext it;
  it.prompt = "a cat";
  it.params = kv({{"Steps", "30"}, {"Seed", "-1"}});
  SECTION("no negative prompt line when it is empty") { CHECK(it.format() == "a cat\nSteps: 30, Seed: -1"); }
  SECTION("negative prompt") {
    it.negative_prompt = "blurry";
    CHECK(it.format() == "a cat\nNegative prompt: blurry\nSteps: 30, Seed: -1");
  }
  SECTION("values with ',', ':' or a newline are JSON-quoted; quotes alone are not") {
    it.set("Lora hashes", "a: 0123456789ab, b: ba9876543210");
    it.set("Note", "say \"hi\" \\ there");
    it.set("Multi", "line one\nline \"two\"\t\x01");
    it.set("Time", "12:30");
    CHECK(it.format() ==
          "a cat\nSteps: 30, Seed: -1, Lora hashes: \"a: 0123456789ab, b: ba9876543210\", Note: say \"hi\" \\ there, "
          "Multi: \"line one\\nline \\\"two\\\"\\t\\u0001\", Time: \"12:30\"");
    auto back = Infotext::parse(it.format());
    REQUIRE(back);
    CHECK(back->params == it.params);
  }
  SECTION("non-ASCII stays as is inside quotes (ensure_ascii=False)") {
    it.set("Model", "caf\xc3\xa9: \xf0\x9f\x8e\xa8");
    CHECK(it.format() == "a cat\nSteps: 30, Seed: -1, Model: \"caf\xc3\xa9: \xf0\x9f\x8e\xa8\"");
    CHECK(Infotext::parse(it.format())->params == it.params);
  }
  SECTION("set() replaces in place") {
    it.set("Steps", "20");
    CHECK(it.format() == "a cat\nSteps: 20, Seed: -1");
  }
  SECTION("A1111 strips the whole text and writes a value equal to its key as a bare word") {
    it.prompt = "  a cat \n";
    it.params.clear();
    CHECK(it.format() == "a cat");
    it.prompt = "a cat";
    it.params = kv({{"Steps", "30"}, {"Tiling", "Tiling"}});
    CHECK(it.format() == "a cat\nSteps: 30, Tiling");
  }
}

TEST_CASE("infotext: multi-line prompts and negative prompts", "[infotext]") {
  const std::string text =
      "line one of the prompt,\n"
      "  line two: with a colon  \n"
      "\n"
      "line four\n"
      "Negative prompt: neg one\n"
      "neg two\n"
      "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x512, Model hash: 45dee52b";
  auto it = Infotext::parse(text);
  REQUIRE(it);
  CHECK(it->prompt == "line one of the prompt,\nline two: with a colon\n\nline four");
  CHECK(it->negative_prompt == "neg one\nneg two");
  CHECK(it->params.size() == 6);
  CHECK(it->seed() == 965400086);
  CHECK(it->model_hash() == "45dee52b");

  Infotext round;
  round.prompt = "first\nsecond";
  round.negative_prompt = "bad\nworse";
  round.params = kv({{"Steps", "20"}, {"Sampler", "Euler"}, {"Seed", "5"}});
  auto back = Infotext::parse(round.format());
  REQUIRE(back);
  CHECK(back->prompt == round.prompt);
  CHECK(back->negative_prompt == round.negative_prompt);
  CHECK(back->params == round.params);
}

TEST_CASE("infotext: 'Steps:' inside a prompt is prompt text", "[infotext]") {
  auto it = Infotext::parse(
      "how-to poster, Steps: 1, 2, 3, Title: easy\n"
      "Steps: 25, Sampler: Euler, CFG scale: 7, Seed: 42");
  REQUIRE(it);
  CHECK(it->prompt == "how-to poster, Steps: 1, 2, 3, Title: easy");
  CHECK(it->params.size() == 4);
  CHECK(it->seed() == 42);

  // A last line with fewer than 3 `key: value` pairs is part of the prompt, as in A1111.
  auto short_last = Infotext::parse("a photo\nSteps: 20, Sampler: Euler");
  REQUIRE(short_last);
  CHECK(short_last->prompt == "a photo\nSteps: 20, Sampler: Euler");
  CHECK(short_last->params.empty());
  CHECK_FALSE(short_last->seed());
}

TEST_CASE("infotext: text without a parameters line, and empty text", "[infotext]") {
  // A1111 semantics: all of it is the prompt, no parameters (parse_generation_parameters never
  // fails). Only empty or whitespace-only text is not infotext.
  auto it = Infotext::parse("just a prompt, nothing else");
  REQUIRE(it);
  CHECK(it->prompt == "just a prompt, nothing else");
  CHECK(it->negative_prompt.empty());
  CHECK(it->params.empty());
  CHECK_FALSE(it->seed());
  CHECK(it->model_hash().empty());

  auto neg_only = Infotext::parse("a dog\nNegative prompt: cat");
  REQUIRE(neg_only);
  CHECK(neg_only->prompt == "a dog");
  CHECK(neg_only->negative_prompt == "cat");
  CHECK(neg_only->params.empty());

  auto params_only = Infotext::parse("Steps: 20, Sampler: Euler, Seed: 3");
  REQUIRE(params_only);
  CHECK(params_only->prompt.empty());
  CHECK(params_only->seed() == 3);

  CHECK_FALSE(Infotext::parse(""));
  CHECK_FALSE(Infotext::parse(" \n\t\n "));
}

TEST_CASE("infotext: missing negative prompt and Civitai-style extras", "[infotext]") {
  const std::string text =
      "portrait of a knight\n"
      "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 5, Seed: 3141592653, Size: 832x1216, "
      "Clip skip: 2, Created Date: 2024-05-01T12:30:45.1234567Z, ENSD: 31337, "
      "Hashes: \"{\\\"model\\\": \\\"6ce0161689\\\", \\\"lora:add_detail\\\": \\\"7c6bad76eb54\\\"}\", "
      "Emphasis: No norm";
  auto it = Infotext::parse(text);
  REQUIRE(it);
  CHECK(it->prompt == "portrait of a knight");
  CHECK(it->negative_prompt.empty());
  CHECK(it->seed() == 3141592653LL);
  REQUIRE(it->get("Created Date"));
  CHECK(*it->get("Created Date") == "2024-05-01T12:30:45.1234567Z");
  REQUIRE(it->get("Hashes"));
  CHECK(*it->get("Hashes") == "{\"model\": \"6ce0161689\", \"lora:add_detail\": \"7c6bad76eb54\"}");
  CHECK(it->params.back() == std::make_pair(std::string("Emphasis"), std::string("No norm")));
  CHECK(it->params.size() == 11);
  CHECK(it->model_hash().empty());  // Civitai's "Hashes" is not A1111's "Model hash"
}

TEST_CASE("infotext: A1111's corner cases of the parameters line", "[infotext]") {
  SECTION("duplicate keys: the later value, in the first one's place (a Python dict)") {
    auto it = Infotext::parse("p\nSeed: 1, Steps: 2, Seed: 3");
    REQUIRE(it);
    CHECK(it->params == kv({{"Seed", "3"}, {"Steps", "2"}}));
  }
  SECTION("an empty value is dropped") {
    auto it = Infotext::parse("p\nSteps: 2, Model: , Seed: 3, Sampler: Euler");
    REQUIRE(it);
    CHECK(it->params == kv({{"Steps", "2"}, {"Seed", "3"}, {"Sampler", "Euler"}}));
  }
  SECTION("a quoted value that is not valid JSON is kept with its quotes") {
    auto it = Infotext::parse("p\nSteps: 2, Bad: \"a\\qb\", Seed: 3");
    REQUIRE(it);
    REQUIRE(it->get("Bad"));
    CHECK(*it->get("Bad") == "\"a\\qb\"");
  }
  SECTION("keys may hold spaces, '-', '/' and non-ASCII letters") {
    auto it = Infotext::parse("p\nADetailer model: face_yolov8n.pt, Hires/CFG-scale: 4, Mod\xc3\xa8le: x");
    REQUIRE(it);
    CHECK(it->params == kv({{"ADetailer model", "face_yolov8n.pt"}, {"Hires/CFG-scale", "4"}, {"Mod\xc3\xa8le", "x"}}));
  }
  SECTION("seed() wants an integer") {
    Infotext it;
    CHECK_FALSE(it.seed());
    it.set("Seed", "12abc");
    CHECK_FALSE(it.seed());
    it.set("Seed", "-1");
    CHECK(it.seed() == -1);
    it.set("Seed", "99999999999999999999999");
    CHECK_FALSE(it.seed());
  }
}
