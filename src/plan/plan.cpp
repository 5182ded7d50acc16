#include "plan/plan.h"

#include <algorithm>

#include "util/error.h"
#include "util/strings.h"

namespace ghx::plan {

namespace {

const std::string* find_in(const Params& ps, std::string_view name) {
  for (const auto& [n, v] : ps)
    if (n == name) return &v;
  return nullptr;
}

std::string join_fields(std::initializer_list<std::string> fields) {
  std::string out;
  bool first = true;
  for (const auto& f : fields) {
    if (!first) out.push_back(k_field_sep);
    out += f;
    first = false;
  }
  return out;
}

/// The generation parameters that can change an image's pixels (batch_size and n_iter only
/// decide how many images exist and how requests are grouped: see docs/cache-keys.md).
void add_generation_params(Params& p, const dsl::Generation& g) {
  p.emplace_back("backend", g.backend);
  p.emplace_back("sampler", g.sampler);
  p.emplace_back("steps", std::to_string(g.steps));
  p.emplace_back("cfg_scale", util::shortest_double(g.cfg_scale));
  p.emplace_back("width", std::to_string(g.width));
  p.emplace_back("height", std::to_string(g.height));
  p.emplace_back("vae", g.vae);
  p.emplace_back("clip_skip", std::to_string(g.clip_skip));
  if (g.hires) {
    p.emplace_back("hires.scale", util::shortest_double(g.hires->scale));
    p.emplace_back("hires.upscaler", g.hires->upscaler);
    p.emplace_back("hires.denoising_strength", util::shortest_double(g.hires->denoising_strength));
    p.emplace_back("hires.second_pass_steps", std::to_string(g.hires->second_pass_steps));
  }
}

class Planner {
 public:
  Planner(const dsl::Review& r, FileHasher& h, dsl::Diagnostics& d) : m_r(r), m_hasher(h), m_d(d) {}

  std::optional<Plan> run() {
    hash_checkpoints();
    std::string vgg_sha;
    if (m_r.models.vgg19) vgg_sha = hash(m_r.models.vgg19->file, m_r.models.vgg19->pos);
    if (m_d.has_errors()) return std::nullopt;

    std::vector<uint32_t> aggregates;
    for (const auto& sec : m_r.sections) {
      if (sec.styles) {
        for (const auto& metric : sec.metrics)
          if (metric == "style_loss") aggregates.push_back(plan_style_section(sec, vgg_sha));
      }
      if (sec.prompts) record_prompts(sec);
    }
    if (m_d.has_errors()) return std::nullopt;

    Step rep;
    rep.kind = StepKind::report;
    rep.params.emplace_back("experiment.name", m_r.name);
    rep.params.emplace_back("experiment.version", m_r.version);
    rep.params.emplace_back("experiment.seed", std::to_string(m_r.seed));
    rep.params.emplace_back("statistics.bootstrap", std::to_string(m_r.statistics.bootstrap));
    rep.params.emplace_back("statistics.ci", util::shortest_double(m_r.statistics.ci));
    rep.params.emplace_back("statistics.seed", std::to_string(m_r.statistics.seed));
    for (size_t i = 0; i < m_r.checkpoints.size(); ++i)
      rep.params.emplace_back("checkpoint", join_fields({m_r.checkpoints[i].name, m_identity[i]}));
    rep.inputs = aggregates;
    m_plan.report_steps.push_back(m_plan.add(std::move(rep)));
    return std::move(m_plan);
  }

 private:
  std::string hash(const std::string& path, const dsl::SourcePos& pos) {
    try {
      return m_hasher.sha256(path);
    } catch (const std::exception& e) {
      m_d.error(pos, e.what());
      return "";
    }
  }

  void hash_checkpoints() {
    for (const auto& c : m_r.checkpoints) {
      std::string id;
      if (!c.file.empty()) {
        std::string sha = hash(c.file, c.pos);
        if (!c.sha256.empty() && !sha.empty() && sha != c.sha256)
          m_d.error(c.pos, "checkpoint '" + c.name + "': file " + c.file + " has sha256 " + sha + ", pinned " + c.sha256);
        id = "sha256:" + sha;
      } else if (!c.sha256.empty()) {
        id = "sha256:" + c.sha256;
      } else {
        // No file and no pin: with the synthetic backend the name the backend knows is the
        // identity (CONTRACT.md); server backends resolve it at run time (later issue).
        id = "backend_name:" + c.backend_name;
      }
      m_identity.push_back(id);
    }
  }

  uint32_t target_features(const std::string& file, const std::string& vgg_sha, int64_t w, int64_t h,
                           const dsl::SourcePos& pos) {
    Step s;
    s.kind = StepKind::target_features;
    s.params.emplace_back("model", "vgg19");
    s.params.emplace_back("model.sha256", vgg_sha);
    s.params.emplace_back("image.sha256", hash(file, pos));
    s.params.emplace_back("resize", std::to_string(w) + "x" + std::to_string(h));
    s.context.emplace_back("path", file);
    s.context.emplace_back("model.path", m_r.models.vgg19->file);
    return m_plan.add(std::move(s));
  }

  uint32_t plan_style_section(const dsl::Section& sec, const std::string& vgg_sha) {
    const dsl::Generation& g = sec.generation;
    int64_t sw = sec.style_size ? sec.style_size->first : g.width;
    int64_t sh = sec.style_size ? sec.style_size->second : g.height;
    const char* variant = dsl::to_string(m_r.metrics.style_loss);

    Step agg;
    agg.kind = StepKind::aggregate;
    agg.params.emplace_back("section", sec.id);
    agg.params.emplace_back("metric", "style_loss");
    agg.params.emplace_back("variant", variant);

    for (const auto& style : sec.styles->styles) {
      std::vector<uint32_t> targets;
      for (const auto& f : style.target_files) targets.push_back(target_features(f, vgg_sha, sw, sh, style.pos));
      for (size_t pj = 0; pj < style.prompts.size(); ++pj) {
        std::string prompt_id = style.id + "#" + std::to_string(pj);
        m_plan.prompts.push_back({sec.id, prompt_id, style.prompts[pj], style.prompts[pj], {}, ""});
        for (size_t ci = 0; ci < m_r.checkpoints.size(); ++ci) {
          const auto& cp = m_r.checkpoints[ci];
          for (int64_t i = 0; i < g.images_per_prompt(); ++i) {
            int64_t seed = m_r.seed + i;
            Step gen;
            gen.kind = StepKind::generate;
            gen.params.emplace_back("checkpoint", m_identity[ci]);
            gen.params.emplace_back("prompt", style.prompts[pj]);
            gen.params.emplace_back("negative_prompt", g.negative_prompt);
            gen.params.emplace_back("seed", std::to_string(seed));
            add_generation_params(gen.params, g);
            gen.context.emplace_back("checkpoint.name", cp.name);
            gen.context.emplace_back("checkpoint.backend_name", cp.backend_name);
            gen.context.emplace_back("section", sec.id);
            gen.context.emplace_back("prompt_id", prompt_id);
            gen.context.emplace_back("batch_size", std::to_string(g.batch_size));
            gen.context.emplace_back("image_index", std::to_string(i));
            uint32_t gi = m_plan.add(std::move(gen));

            Step feat;
            feat.kind = StepKind::image_features;
            feat.params.emplace_back("model", "vgg19");
            feat.params.emplace_back("model.sha256", vgg_sha);
            feat.params.emplace_back("resize", std::to_string(sw) + "x" + std::to_string(sh));
            feat.context.emplace_back("model.path", m_r.models.vgg19->file);
            feat.inputs = {gi};
            uint32_t fi = m_plan.add(std::move(feat));

            Step met;
            met.kind = StepKind::metric;
            met.params.emplace_back("metric", "style_loss");
            met.params.emplace_back("variant", variant);
            met.inputs.push_back(fi);
            met.inputs.insert(met.inputs.end(), targets.begin(), targets.end());
            uint32_t mi = m_plan.add(std::move(met));

            agg.params.emplace_back("row", join_fields({cp.name, prompt_id, style.id, std::to_string(seed)}));
            agg.inputs.push_back(mi);
          }
        }
      }
    }
    return m_plan.add(std::move(agg));
  }

  void record_prompts(const dsl::Section& sec) {
    for (const auto& p : sec.prompts->prompts) m_plan.prompts.push_back({sec.id, p.id, p.text, p.text, {}, ""});
  }

  const dsl::Review& m_r;
  FileHasher& m_hasher;
  dsl::Diagnostics& m_d;
  Plan m_plan;
  std::vector<std::string> m_identity;  // per checkpoint
};

}  // namespace

const std::string* Step::find_param(std::string_view name) const { return find_in(params, name); }
const std::string* Step::find_context(std::string_view name) const { return find_in(context, name); }

const std::string& Step::param(std::string_view name) const {
  if (const std::string* v = find_in(params, name)) return *v;
  if (const std::string* v = find_in(context, name)) return *v;
  throw Error(std::string(kind_name(kind)) + " step " + key.hex().substr(0, 12) + " has no parameter '" +
              std::string(name) + "'");
}

std::vector<const std::string*> Step::params_named(std::string_view name) const {
  std::vector<const std::string*> out;
  for (const auto& [n, v] : params)
    if (n == name) out.push_back(&v);
  return out;
}

std::string Step::label() const {
  std::string s = kind_name(kind);
  auto add = [&](const char* prefix, const std::string* v) {
    if (v && !v->empty()) s += std::string(" ") + prefix + *v;
  };
  switch (kind) {
    case StepKind::generate:
      add("", find_context("checkpoint.name"));
      add("", find_context("prompt_id"));
      add("seed=", find_param("seed"));
      break;
    case StepKind::target_features: add("", find_context("path")); break;
    case StepKind::image_features: add("", find_param("resize")); break;
    case StepKind::metric: add("", find_param("metric")); break;
    case StepKind::aggregate:
      add("", find_param("section"));
      add("", find_param("metric"));
      break;
    case StepKind::report: add("", find_param("experiment.name")); break;
  }
  return s;
}

uint32_t Plan::add(Step step) {
  std::vector<StepKey> in;
  in.reserve(step.inputs.size());
  for (uint32_t i : step.inputs) in.push_back(steps[i].key);
  step.key = step_key(step.kind, step.params, in);
  auto [it, inserted] = index.emplace(step.key, static_cast<uint32_t>(steps.size()));
  if (inserted) steps.push_back(std::move(step));
  return it->second;
}

const Step* Plan::find(const StepKey& key) const {
  auto it = index.find(key);
  return it == index.end() ? nullptr : &steps[it->second];
}

std::optional<Plan> build_plan(const dsl::Review& review, FileHasher& hasher, dsl::Diagnostics& diags) {
  return Planner(review, hasher, diags).run();
}

}  // namespace ghx::plan
