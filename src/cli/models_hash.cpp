#include "cli/models_hash.h"

#include <algorithm>
#include <iostream>

#include <nlohmann/json.hpp>

#include "models/hashes.h"
#include "util/error.h"

namespace ghx::cli {

int cmd_models_hash(const std::vector<std::string>& files, bool json) {
  size_t width = 0;
  for (const auto& f : files) width = std::max(width, f.size());
  nlohmann::ordered_json out = {{"files", nlohmann::ordered_json::array()}};
  bool failed = false;
  for (const auto& f : files) {
    models::ModelHashes h;
    try {
      h = models::hash_model_file(f);
    } catch (const Error& e) {
      std::cout.flush();
      std::cerr << "ghx: error: " << e.what() << "\n";
      failed = true;
      continue;
    }
    if (json) {
      out["files"].push_back({{"path", f},
                              {"sha256", h.sha256},
                              {"autov2", h.autov2},
                              {"autov1", h.autov1},
                              {"lora_hash", h.lora ? nlohmann::ordered_json(*h.lora) : nlohmann::ordered_json(nullptr)}});
    } else {
      std::cout << f << std::string(width - f.size(), ' ') << "  sha256 " << h.sha256 << "  AutoV2 " << h.autov2
                << "  LoRA " << (h.lora ? *h.lora : std::string("-")) << std::endl;
    }
  }
  if (json) std::cout << out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
  return failed ? 1 : 0;
}

}  // namespace ghx::cli
