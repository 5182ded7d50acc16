// CLIP BPE vocabularies (models/tokenizer.h): the input as the OpenAI merges text, then a text
// tokenised with it.
#include "fuzz.h"
#include "models/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ghx::fuzz::write_input("bpe_vocab.txt", data, size);
  GHX_FUZZ_GUARD({
    auto t = ghx::models::ClipTokenizer::load(path);
    (void)t->encode("a photo of a cat, masterpiece, (best quality:1.2)");
  });
  return 0;
}
