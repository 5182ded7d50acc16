// ghx's forwarders to libghx_heavy.so (see heavy.h): the same names as the real functions, which
// ghx does not link; each loads the module on first use and calls its entry. Linked into the ghx
// executable only (tests and the module link the real functions).
#include <mutex>

#include "backends/a1111.h"
#include "backends/backends.h"
#include "cli/models_tokens.h"
#include "cli/score.h"
#include "heavy/heavy.h"
#include "models/tokenizer.h"
#include "util/error.h"
#include "util/module.h"
#include "util/strings.h"

namespace ghx {

namespace {

const heavy::HeavyApi& api() {
  static std::once_flag once;
  static const heavy::HeavyApi* table = nullptr;
  static std::string failure;
  std::call_once(once, [] {
    try {
      auto entry = reinterpret_cast<const heavy::HeavyApi* (*)()>(util::load_module_entry(
          GHX_HEAVY_MODULE_NAME, "GHX_HEAVY_MODULE", "ghx_heavy_api", "the ghx heavy-library module"));
      const heavy::HeavyApi* t = entry();
      if (!t || t->version != heavy::k_heavy_api_version)
        throw Error(std::string(GHX_HEAVY_MODULE_NAME) + ": module API version " +
                    std::to_string(t ? t->version : -1) + ", ghx needs " + std::to_string(heavy::k_heavy_api_version) +
                    " (rebuild)");
      if (t->adopt_interning) t->adopt_interning(util::interning_handle());
      table = t;
    } catch (const Error& e) {
      failure = e.what();
    }
  });
  if (!table) throw Error(failure);
  return *table;
}

}  // namespace

namespace backends {
exec::Generators make_generators(const BackendOptions& o) { return api().make_generators(o); }
std::vector<std::string> probe(const std::string& backend, const std::vector<std::string>& urls, double timeout_s,
                               std::vector<std::string>* errors) {
  return api().probe(backend, urls, timeout_s, errors);
}
std::vector<std::string> probe_a1111(const std::vector<std::string>& urls, double timeout_s,
                                     std::vector<std::string>* errors) {
  return api().probe_a1111(urls, timeout_s, errors);
}
std::vector<ServerModel> a1111_models(const std::string& url, double timeout_s) {
  return api().a1111_models(url, timeout_s);
}
void a1111_load_model(const std::string& url, const std::string& title, double connect_timeout_s, double timeout_s) {
  api().a1111_load_model(url, title, connect_timeout_s, timeout_s);
}
ImportReport match_import(const plan::Plan& plan, const std::function<bool(uint32_t)>& done) {
  return api().match_import(plan, done);
}
std::string import_summary(const ImportReport& report, const plan::Plan& plan, bool json) {
  return api().import_summary(report, plan, json);
}
}  // namespace backends

namespace exec {
std::unique_ptr<ExecutorSet> ExecutorSet::builtin(Generators generators) {
  return api().builtin_executors(std::move(generators));
}
}  // namespace exec

namespace cache {
std::unique_ptr<StepStore> open_remote_store(Cache& local, const std::string& url, double timeout_s) {
  return api().open_remote(local, url, timeout_s);
}
bool remote_reachable(StepStore& remote, std::string* why) { return api().remote_reachable(remote, why); }
RemoteStats remote_stats(const StepStore& remote) { return api().remote_stats(remote); }
}  // namespace cache

namespace report {
size_t write_gallery(const nlohmann::json& results, const std::string& out_dir, const ImageSource& source,
                     const std::string& previous) {
  return api().write_gallery(results, out_dir, source, previous);
}
std::optional<Compression> compression_from_name(const std::string& file) { return api().compression_from_name(file); }
std::optional<Compression> parse_compression(const std::string& word) { return api().parse_compression(word); }
BundleSummary write_bundle(const dsl::Review& review, const plan::Plan& plan, cache::Cache& cache,
                           const std::string& out, const BundleOptions& opts) {
  return api().write_bundle(review, plan, cache, out, opts);
}
VerifyResult verify_bundle(const std::string& file, const std::string& templates) {
  return api().verify_bundle(file, templates);
}
}  // namespace report

namespace cli {
int score_style(const ScoreArgs& a) { return api().score_style(a); }
int score_clip_family(const ScoreArgs& a, bool aesthetic) { return api().score_clip_family(a, aesthetic); }
int cmd_models_tokens(const TokensArgs& a) { return api().cmd_models_tokens(a); }
}  // namespace cli

namespace models {
int write_tiny_bpe_vocab(const std::string& path) { return api().write_tiny_bpe_vocab(path); }
}  // namespace models

}  // namespace ghx
