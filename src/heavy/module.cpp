// libghx_heavy.so's table (see heavy.h). The module is linked with -Bsymbolic and without
// exporting its static libraries' symbols, so the functions named here are the real ones, not
// ghx's forwarders of the same names; ghx_heavy_api is the one exported symbol.
#include "heavy/heavy.h"

#include "backends/a1111.h"
#include "backends/backends.h"
#include "cli/models_tokens.h"
#include "cli/score.h"
#include "models/tokenizer.h"
#include "util/strings.h"

extern "C" __attribute__((visibility("default"))) const ghx::heavy::HeavyApi* ghx_heavy_api() {
  using namespace ghx;
  static const heavy::HeavyApi api = [] {
    heavy::HeavyApi a;
    a.adopt_interning = &util::adopt_interning;
    a.make_generators = &backends::make_generators;
    a.probe = &backends::probe;
    a.probe_a1111 = &backends::probe_a1111;
    a.a1111_models = &backends::a1111_models;
    a.a1111_load_model = &backends::a1111_load_model;
    a.match_import = static_cast<backends::ImportReport (*)(const plan::Plan&, const std::function<bool(uint32_t)>&)>(
        &backends::match_import);
    a.import_summary = &backends::import_summary;
    a.builtin_executors = &exec::ExecutorSet::builtin;
    a.open_remote = &cache::open_remote_store;
    a.remote_reachable = &cache::remote_reachable;
    a.remote_stats = &cache::remote_stats;
    a.write_gallery = &report::write_gallery;
    a.compression_from_name = &report::compression_from_name;
    a.parse_compression = &report::parse_compression;
    a.write_bundle = &report::write_bundle;
    a.verify_bundle = &report::verify_bundle;
    a.score_style = &cli::score_style;
    a.score_clip_family = &cli::score_clip_family;
    a.cmd_models_tokens = &cli::cmd_models_tokens;
    a.write_tiny_bpe_vocab = &models::write_tiny_bpe_vocab;
    return a;
  }();
  return &api;
}
