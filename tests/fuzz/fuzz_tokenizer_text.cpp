// Prompt text through the CLIP tokenizer (models/tokenizer.h), with the tiny vocabulary.
#include "fuzz.h"
#include "models/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto tok = [] {
    const std::string path = ghx::fuzz::scratch_dir() + "/tiny_vocab.txt.gz";
    ghx::models::write_tiny_bpe_vocab(path);
    return ghx::models::ClipTokenizer::load(path);
  }();
  const std::string text = ghx::fuzz::as_string(data, size);
  GHX_FUZZ_GUARD({
    (void)tok->encode(text);
    (void)ghx::models::clip_clean_text(text);
  });
  return 0;
}
