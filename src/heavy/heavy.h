#pragma once
// The seam between ghx and libghx_heavy.so, the module that holds every piece of ghx linked
// against a heavy library: OpenCV (image codecs, resizing, drawing), ICU (the CLIP tokenizer),
// cpp-httplib with OpenSSL (generation servers, the remote cache) and libarchive (bundles).
// Debian's OpenCV image codecs alone pull in GDAL and about a hundred more libraries: a process
// linked against them needs ~0.14 s to start, which `ghx --version`, planning, no-op runs and the
// cache commands must not pay (issue #18). The module is loaded with dlopen the first time one of
// the functions below is called; what ghx itself links is the rest (src/heavy/forward.cpp holds
// the forwarders, src/heavy/module.cpp the table). Tests link the real functions directly.
// The module is looked for in $GHX_HEAVY_MODULE, beside the executable, one folder up (tests/),
// then the library search path (util/module.h).
// Fails: a forwarder throws ghx::Error when the module cannot be loaded or has another API
// version. Never: loads the module unless one of these functions is called.
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/answers.h"
#include "backends/import.h"
#include "backends/options.h"
#include "cache/remote.h"
#include "exec/executor.h"
#include "report/bundle.h"
#include "report/gallery.h"

namespace ghx::cli {
struct ScoreArgs;
struct TokensArgs;
}  // namespace ghx::cli

namespace ghx::heavy {

/// Bump when HeavyApi changes; the module and ghx must agree.
constexpr int k_heavy_api_version = 1;

/// One entry per function of the headers named, same meaning (see there).
struct HeavyApi {
  int version = k_heavy_api_version;
  /// Called once by ghx right after loading: the module's code then reads and makes ghx's
  /// interned strings (util::adopt_interning), so the plans ghx hands over mean the same.
  void (*adopt_interning)(void* handle) = nullptr;
  // backends/backends.h, backends/a1111.h, backends/import.h
  exec::Generators (*make_generators)(const backends::BackendOptions&) = nullptr;
  std::vector<std::string> (*probe)(const std::string& backend, const std::vector<std::string>& urls, double timeout_s,
                                    std::vector<std::string>* errors) = nullptr;
  std::vector<std::string> (*probe_a1111)(const std::vector<std::string>& urls, double timeout_s,
                                          std::vector<std::string>* errors) = nullptr;
  std::vector<backends::ServerModel> (*a1111_models)(const std::string& url, double timeout_s) = nullptr;
  void (*a1111_load_model)(const std::string& url, const std::string& title, double connect_timeout_s,
                           double timeout_s) = nullptr;
  backends::ImportReport (*match_import)(const plan::Plan& plan, const std::function<bool(uint32_t)>& done) = nullptr;
  std::string (*import_summary)(const backends::ImportReport& report, const plan::Plan& plan, bool json) = nullptr;
  // exec/executor.h
  std::unique_ptr<exec::ExecutorSet> (*builtin_executors)(exec::Generators generators) = nullptr;
  // cache/remote.h
  std::unique_ptr<cache::StepStore> (*open_remote)(cache::Cache& local, const std::string& url,
                                                   double timeout_s) = nullptr;
  bool (*remote_reachable)(cache::StepStore& remote, std::string* why) = nullptr;
  cache::RemoteStats (*remote_stats)(const cache::StepStore& remote) = nullptr;
  // report/gallery.h, report/bundle.h
  size_t (*write_gallery)(const nlohmann::json& results, const std::string& out_dir,
                          const report::ImageSource& source, const std::string& previous) = nullptr;
  std::optional<report::Compression> (*compression_from_name)(const std::string& file) = nullptr;
  std::optional<report::Compression> (*parse_compression)(const std::string& word) = nullptr;
  report::BundleSummary (*write_bundle)(const dsl::Review& review, const plan::Plan& plan, cache::Cache& cache,
                                        const std::string& out, const report::BundleOptions& options) = nullptr;
  report::VerifyResult (*verify_bundle)(const std::string& file, const std::string& templates) = nullptr;
  // cli/score.h, cli/models_tokens.h, models/tokenizer.h
  int (*score_style)(const cli::ScoreArgs& a) = nullptr;
  int (*score_clip_family)(const cli::ScoreArgs& a, bool aesthetic) = nullptr;
  int (*cmd_models_tokens)(const cli::TokensArgs& a) = nullptr;
  int (*write_tiny_bpe_vocab)(const std::string& path) = nullptr;
};

}  // namespace ghx::heavy

/// The module's one exported symbol.
extern "C" const ghx::heavy::HeavyApi* ghx_heavy_api();
