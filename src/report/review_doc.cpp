#include "report/review_doc.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "util/strings.h"

namespace ghx::report {

namespace fs = std::filesystem;
using nlohmann::json;

std::string relative_to_experiment(const std::string& experiment_file, const std::string& path) {
  fs::path base = fs::absolute(fs::path(experiment_file)).parent_path().lexically_normal();
  fs::path p = fs::absolute(fs::path(path)).lexically_normal();
  fs::path rel = p.lexically_relative(base);
  return rel.empty() ? p.string() : rel.generic_string();
}

namespace {

json generation_json(const dsl::Generation& g, const std::string& exp) {
  json j = {{"backend", g.backend},
            {"sampler", g.sampler},
            {"steps", g.steps},
            {"cfg_scale", g.cfg_scale},
            {"width", g.width},
            {"height", g.height},
            {"batch_size", g.batch_size},
            {"n_iter", g.n_iter},
            {"negative_prompt", g.negative_prompt},
            {"vae", g.vae},
            {"clip_skip", g.clip_skip},
            {"hires", nullptr}};
  if (g.hires)
    j["hires"] = {{"scale", g.hires->scale},
                  {"upscaler", g.hires->upscaler},
                  {"denoising_strength", g.hires->denoising_strength},
                  {"second_pass_steps", g.hires->second_pass_steps}};
  if (!g.workflow.empty()) j["workflow"] = relative_to_experiment(exp, g.workflow);
  if (!g.import_dir.empty()) j["import_dir"] = relative_to_experiment(exp, g.import_dir);
  return j;
}

json fixups_json(const dsl::Suite& s) {
  json rules = json::array();
  for (const auto& f : s.fixups) {
    json r = {{"kind", dsl::to_string(f.kind)}};
    if (f.kind == dsl::FixupKind::swap_version) r["from"] = f.from, r["to"] = f.to;
    if (f.kind == dsl::FixupKind::default_weight) r["weight"] = f.weight;
    rules.push_back(std::move(r));
  }
  return rules;
}

}  // namespace

json review_document(const dsl::Review& r, const plan::Plan& p, bool with_keys) {
  const std::string& exp = r.file;
  auto sha_of = [&](const std::string& path) -> std::string {
    auto it = p.file_sha256.find(path);
    return it == p.file_sha256.end() ? "" : it->second;
  };

  json doc;
  doc["format"] = k_review_doc_format;
  doc["experiment"] = {{"name", r.name}, {"version", r.version}, {"seed", r.seed}, {"description", r.description}};

  json cks = json::array();
  for (size_t i = 0; i < r.checkpoints.size(); ++i) {
    const auto& c = r.checkpoints[i];
    json o = {{"name", c.name},
              {"identity", i < p.checkpoint_identity.size() ? p.checkpoint_identity[i] : ""},
              {"backend_name", c.backend_name}};
    if (!c.file.empty()) {
      std::string sha = sha_of(c.file);
      o["file"] = relative_to_experiment(exp, c.file);
      o["sha256"] = sha;
      o["autov2"] = sha.substr(0, 10);
    }
    cks.push_back(std::move(o));
  }
  doc["checkpoints"] = std::move(cks);

  json models = json::object();
  auto model = [&](const std::string& entry, const dsl::ModelFile& m) {
    std::string sha = sha_of(m.file);
    json o = {{"file", relative_to_experiment(exp, m.file)}, {"sha256", sha}, {"autov2", sha.substr(0, 10)}};
    // An arch the plan hashed is a config.json file; otherwise it is a known name.
    if (!m.arch.empty()) o["arch"] = p.file_sha256.count(m.arch) ? "config.sha256:" + sha_of(m.arch) : m.arch;
    if (!m.layout.empty()) o["layout"] = m.layout;
    if (!m.activation.empty()) o["activation"] = m.activation;
    if (!m.clip.empty()) o["clip"] = m.clip;
    models[entry] = std::move(o);
  };
  for (const auto& [name, m] : r.models.clips) model(name, m);
  for (const auto& [name, m] : r.models.heads) model(name, m);
  if (r.models.vgg19) model("vgg19", *r.models.vgg19);
  if (!r.models.tokenizer.empty())
    models["tokenizer"] = {{"file", relative_to_experiment(exp, r.models.tokenizer)}, {"sha256", sha_of(r.models.tokenizer)}};
  doc["models"] = std::move(models);
  doc["metrics"] = {{"style_loss", dsl::to_string(r.metrics.style_loss)}, {"clip_score", dsl::to_string(r.metrics.clip_score)}};
  doc["statistics"] = {{"bootstrap", r.statistics.bootstrap}, {"ci", r.statistics.ci}, {"seed", r.statistics.seed}};

  json secs = json::array();
  for (const auto& s : r.sections) {
    json o = {{"id", s.id}, {"metrics", s.metrics}, {"generation", generation_json(s.generation, exp)}};
    json seeds = json::array();
    for (int64_t i = 0; i < s.generation.images_per_prompt(); ++i) seeds.push_back(r.seed + i);
    o["seeds"] = std::move(seeds);
    if (s.style_size) o["style_size"] = {s.style_size->first, s.style_size->second};
    if (s.prompts) o["prompts"] = relative_to_experiment(exp, s.prompts->file);
    if (s.styles) o["styles"] = relative_to_experiment(exp, s.styles->file);
    if (s.loras) {
      o["loras"] = relative_to_experiment(exp, s.loras->file);
      o["fixups"] = fixups_json(*s.loras);
      json made = json::object();
      for (const auto& l : s.loras->loras) made[l.id] = l.made_with;
      o["made_with"] = std::move(made);
    }
    secs.push_back(std::move(o));
  }
  doc["sections"] = std::move(secs);

  json prompts = json::array();
  for (const auto& pr : p.prompts) {
    json o = {{"section", pr.section}, {"id", pr.id},       {"original", pr.original},
              {"final", pr.final_text}, {"rules", pr.rules}, {"negative", pr.negative}};
    if (!pr.checkpoint.empty()) o["checkpoint"] = pr.checkpoint;
    prompts.push_back(std::move(o));
  }
  doc["prompts"] = std::move(prompts);

  // Every file by content, paths relative to the experiment (targets and showcase images too).
  json files = json::object();
  for (const auto& [path, sha] : p.file_sha256) files[relative_to_experiment(exp, path)] = sha;
  doc["files"] = std::move(files);

  std::map<std::string, int64_t> by_kind;
  for (const auto& st : p.steps) ++by_kind[plan::kind_name(st.kind)];
  doc["steps"] = {{"total", p.steps.size()}, {"by_kind", by_kind}};
  doc["report_key"] = p.report_steps.empty() ? "" : p.steps[p.report_steps.front()].key.hex();
  if (!with_keys) return doc;
  std::vector<plan::StepKey> sorted;
  sorted.reserve(p.steps.size());
  for (const auto& st : p.steps) sorted.push_back(st.key);
  // Digest order (hi, lo) is the order of their hex strings: sort the 16-byte keys, not strings.
  std::sort(sorted.begin(), sorted.end());
  json keys = json::array();
  for (const auto& k : sorted) keys.push_back(k.hex());
  doc["keys"] = std::move(keys);
  return doc;
}

}  // namespace ghx::report
