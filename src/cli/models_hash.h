#pragma once
// `ghx models hash FILE... [--json]`: the hashes users recognise for model files (SHA-256,
// AutoV2, AutoV1, LoRA; models/hashes.h), one line or one JSON object per file.
// Fails per file: a missing or unreadable file is a "ghx: error: ..." line on stderr, the other
// files are still hashed and printed, and the exit code is 1. Never: caches or writes anything.
#include <string>
#include <vector>

namespace ghx::cli {

/// Human: `PATH  sha256 <64 hex>  AutoV2 <10>  LoRA <12 or ->`, paths padded to one width.
/// JSON: {"files": [{"path", "sha256", "autov2", "autov1", "lora_hash" (null if none)}]}, the
/// files that failed left out. Returns 0, or 1 when any file failed.
int cmd_models_hash(const std::vector<std::string>& files, bool json);

}  // namespace ghx::cli
