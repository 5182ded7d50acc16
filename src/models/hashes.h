#pragma once
// The hashes users recognise for model files (shared reference/generation.md):
// SHA-256 of the whole file; AutoV2 = its first 10 hex digits (A1111 "Model hash", Civitai);
// legacy AutoV1 = SHA-256 of the 64 KiB at offset 1 MiB, first 8 hex digits; LoRA hash = SHA-256
// of a safetensors file's data after its header, first 12 hex digits (A1111 "Lora hashes").
// As A1111: AutoV1 of a file shorter than 1 MiB + 64 KiB hashes what is there (no bytes: e3b0c442);
// the LoRA hash is computed for files named *.safetensors (any case) whose 8-byte header length
// stays within the file, else it is absent.
// Fails: throws ghx::Error naming the file (missing, unreadable, a folder).
// Never: keeps state (memoisation is plan/file_hasher.h's).
#include <optional>
#include <string>

namespace ghx::models {

struct ModelHashes {
  std::string sha256;                  ///< 64 hex digits
  std::string autov2;                  ///< first 10
  std::string autov1;                  ///< legacy, 8 hex digits
  std::optional<std::string> lora;     ///< 12 hex digits, safetensors files only
};

/// Reads the file once (OpenSSL SHA-256, streamed; the LoRA hash shares the same pass).
ModelHashes hash_model_file(const std::string& path);

}  // namespace ghx::models
