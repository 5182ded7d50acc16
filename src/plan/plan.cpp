#include "plan/plan.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "dsl/lora.h"
#include "models/clip_config.h"
#include "models/numerics.h"
#include "models/style_layers.h"
#include "util/error.h"
#include "util/fs.h"
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

/// One prompt of a section: a style prompt (group = style id, with targets) or a suite prompt.
struct PromptItem {
  std::string id;
  std::string text;  ///< after fixups
  std::string negative;
  std::string group;  ///< style id or LoRA id
  const dsl::Style* style = nullptr;
  const dsl::Showcase* showcase = nullptr;  ///< LoRA sections: the image this prompt is compared with
  dsl::FixedPrompt fixed;
};

std::string join_floats(const std::array<float, 3>& v) {
  return util::shortest_float(v[0]) + "," + util::shortest_float(v[1]) + "," + util::shortest_float(v[2]);
}

class Planner {
 public:
  Planner(const dsl::Review& r, FileHasher& h, dsl::Diagnostics& d) : m_r(r), m_hasher(h), m_d(d) {}

  std::optional<Plan> run() {
    hash_checkpoints();
    // Only models some section uses are hashed and reported.
    bool style = false;
    std::set<std::string> clips, heads;
    for (const auto& sec : m_r.sections)
      for (const auto& m : sec.metrics) {
        if (m == "style_loss") style = true;
        else if (const dsl::ModelFile* h = m_r.models.head(m)) heads.insert(m), clips.insert(h->clip);
        else clips.insert(dsl::is_preference_metric(m) ? m : "clip");
      }
    if (m_r.models.vgg19 && style) {
      m_model_sha["vgg19"] = m_vgg_sha = hash(m_r.models.vgg19->file, m_r.models.vgg19->pos);
      m_vgg_layers = models::style_layers_text(models::style_layers(m_r.metrics.style_layers));
    }
    for (const auto& [name, m] : m_r.models.clips)
      if (clips.count(name)) load_clip(name, m);
    for (const auto& [name, m] : m_r.models.heads)
      if (heads.count(name)) m_model_sha[name] = m_head_sha[name] = hash(m.file, m.pos);
    if (!m_r.models.tokenizer.empty()) m_tokenizer_sha = hash(m_r.models.tokenizer, dsl::SourcePos{m_r.file, 0, 0});
    if (m_d.has_errors()) return std::nullopt;

    std::vector<uint32_t> aggregates;
    m_plan.reserve(expected_steps());
    for (const auto& sec : m_r.sections) plan_section(sec, aggregates);
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
    // What the report shows beyond the statistics: seeds per section, the plan's size, the
    // models by content, and the first image of every prompt and checkpoint (contact sheets).
    for (const auto& sec : m_r.sections)
      rep.params.emplace_back("seeds", join_fields({sec.id, std::to_string(m_r.seed),
                                                     std::to_string(sec.generation.images_per_prompt())}));
    std::map<std::string, int64_t> by_kind;
    for (const auto& st : m_plan.steps) ++by_kind[kind_name(st.kind)];
    for (const auto& [k, n] : by_kind) rep.params.emplace_back("steps", join_fields({k, std::to_string(n)}));
    for (const auto& [name, sha] : m_model_sha) rep.params.emplace_back("model", join_fields({name, sha}));
    rep.params.emplace_back("torch", m_model_sha.empty() ? "0" : "1");
    if (!m_model_sha.empty()) rep.params.emplace_back("numerics", numerics());
    for (const auto& g : m_gallery) rep.params.emplace_back("gallery", g);
    for (const auto& pr : m_plan.prompts)
      if (!pr.rules.empty())
        rep.params.emplace_back("fixup", join_fields({pr.section, pr.id, pr.checkpoint, pr.original, pr.final_text,
                                                       util::join(pr.rules, ",")}));
    rep.inputs = aggregates;
    m_plan.report_steps.push_back(m_plan.add(std::move(rep)));
    m_plan.checkpoint_identity = m_identity;
    return std::move(m_plan);
  }

 private:
  /// About how many steps the review plans (each image: its generation, and per metric a
  /// feature step and a metric step), so the plan's tables are sized once.
  size_t expected_steps() const {
    size_t n = 64;
    for (const auto& sec : m_r.sections) {
      size_t items = 0;
      if (sec.styles)
        for (const auto& st : sec.styles->styles) items += st.prompts.size();
      if (sec.prompts) items += sec.prompts->prompts.size();
      if (sec.loras)
        for (const auto& l : sec.loras->loras) items += l.showcase.size();
      const size_t images = items * m_r.checkpoints.size() * static_cast<size_t>(std::max<int64_t>(0, sec.generation.images_per_prompt()));
      n += images * (1 + 2 * sec.metrics.size()) + items * sec.metrics.size();
    }
    return n;
  }

  /// The numerics model steps are keyed with: the review's (a bundle being verified), else this machine's.
  const std::string& numerics() const { return m_r.numerics.empty() ? models::numerics_key() : m_r.numerics; }

  std::string hash(const std::string& path, const dsl::SourcePos& pos) {
    try {
      std::string sha = m_hasher.sha256(path);
      m_plan.file_sha256[path] = sha;
      return sha;
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
      } else if (!c.server_identity.empty()) {
        id = c.server_identity;
      } else {
        // No file and no pin: with the synthetic backend the name the backend knows is the
        // identity (docs/language.md); server backends resolve it at run time (later issue).
        id = "backend_name:" + c.backend_name;
      }
      m_identity.push_back(id);
    }
  }

  /// A CLIP's identity in keys: weights by content, the architecture (a known name, or the
  /// config file by content), layout, activation and every preprocessing constant.
  struct ClipEntry {
    models::ClipConfig config;
    Params params, context;
  };

  void load_clip(const std::string& name, const dsl::ModelFile& m) {
    ClipEntry e;
    std::string sha = hash(m.file, m.pos);
    try {
      e.config = models::clip_config(m.arch);
    } catch (const std::exception& ex) {
      m_d.error(m.pos, ex.what());
      return;
    }
    const bool known = models::clip_arch_name(m.arch).has_value();
    e.params = {{"model", "clip"},
                {"model.sha256", sha},
                {"arch", known ? m.arch : "config.sha256:" + hash(m.arch, m.pos)},
                {"layout", m.layout.empty() ? "auto" : m.layout},
                {"activation", m.activation.empty() ? e.config.activation : m.activation},
                {"numerics", numerics()}};
    e.context = {{"model.path", m.file}, {"arch.path", m.arch}, {"model.entry", name}};
    m_model_sha[name] = sha;
    m_clips[name] = std::move(e);
  }

  // What every VGG19 feature step shares after its size: the resize filter (exec::prepare_for_vgg),
  // the layers read, the numerics.
  void add_vgg_params(Step& s) {
    s.params.emplace_back("preprocess", "pil_bicubic");
    s.params.emplace_back("layers", m_vgg_layers);
    s.params.emplace_back("numerics", numerics());
  }

  uint32_t target_features(const std::string& file, int64_t w, int64_t h, const dsl::SourcePos& pos) {
    Step s;
    s.kind = StepKind::target_features;
    s.params.emplace_back("model", "vgg19");
    s.params.emplace_back("model.sha256", m_vgg_sha);
    s.params.emplace_back("image.sha256", hash(file, pos));
    s.params.emplace_back("resize", std::to_string(w) + "x" + std::to_string(h));
    add_vgg_params(s);
    s.context.emplace_back("path", file);
    s.context.emplace_back("model.path", m_r.models.vgg19->file);
    return m_plan.add(std::move(s));
  }

  std::vector<PromptItem> prompt_items(const dsl::Section& sec) {
    std::vector<PromptItem> items;
    const std::string& neg = sec.generation.negative_prompt;
    if (sec.styles) {
      for (const auto& style : sec.styles->styles)
        for (size_t j = 0; j < style.prompts.size(); ++j)
          items.push_back({style.id + "#" + std::to_string(j), style.prompts[j], neg, style.id, &style, nullptr,
                           {style.prompts[j], style.prompts[j], {}}});
    }
    if (sec.prompts) {
      for (const auto& p : sec.prompts->prompts) {
        if (p.skip) continue;
        items.push_back({p.id, p.text, p.negative.value_or(neg), "", nullptr, nullptr, {p.text, p.text, {}}});
      }
    }
    if (sec.loras) {
      for (const auto& l : sec.loras->loras)
        for (size_t k = 0; k < l.showcase.size(); ++k) {
          const dsl::Showcase& sc = l.showcase[k];
          if (sc.skip) continue;  // the index stays that of the suite, so ids are stable
          dsl::FixedPrompt fp = dsl::apply_fixups(*sec.loras, l, sc);
          items.push_back({l.id + "#" + std::to_string(k), fp.final_text, sc.negative.value_or(neg), l.id, nullptr, &sc,
                           std::move(fp)});
        }
    }
    return items;
  }

  uint32_t generate(const dsl::Section& sec, const PromptItem& item, size_t ci, int64_t i) {
    const dsl::Generation& g = sec.generation;
    Step gen;
    gen.kind = StepKind::generate;
    gen.params.reserve(13);
    gen.context.reserve(10);
    gen.params.emplace_back("checkpoint", m_identity[ci]);
    gen.params.emplace_back("prompt", item.text);
    gen.params.emplace_back("negative_prompt", item.negative);
    gen.params.emplace_back("seed", std::to_string(m_r.seed + i));
    add_generation_params(gen.params, g);
    const bool comfyui = g.backend == "comfyui";
    const std::vector<dsl::LoraTag> tags = comfyui || sec.loras ? dsl::find_lora_tags(item.text) : std::vector<dsl::LoraTag>{};
    if (comfyui) {
      gen.params.emplace_back("workflow.sha256", hash(g.workflow, sec.pos));
      // ComfyUI gets the prompt's LoRA tags as LoraLoader nodes (backends/comfyui.h): a different
      // graph than the template alone, so such steps say how their LoRAs were applied.
      for (const dsl::LoraTag& t : tags)
        if (!t.plain_weights() && m_bad_comfy_tags.insert(item.text).second)
          m_d.error(sec.pos, "section '" + sec.id + "', prompt '" + item.id + "': the comfyui backend applies <lora:NAME>, "
                             "<lora:NAME:W> and <lora:NAME:TE:UNET> with plain numbers, not '" +
                             item.text.substr(t.begin, t.end - t.begin) + "'");
      if (!tags.empty()) gen.params.emplace_back("lora.apply", "comfyui LoraLoader chain v1");
    }
    // A LoRA the prompt loads changes the pixels: where the suite names its file, its content
    // is part of the key (by tag, in prompt order).
    if (sec.loras)
      for (const dsl::LoraTag& t : tags)
        for (const auto& l : sec.loras->loras)
          if (!l.file.empty() && util::iequals(l.tag, t.name)) {
            gen.params.emplace_back("lora", join_fields({l.tag, hash(l.file, l.pos)}));
            gen.context.emplace_back("lora.file", join_fields({t.name, l.file}));  // a1111 checks the server's copy
          }
    gen.context.emplace_back("checkpoint.name", m_r.checkpoints[ci].name);
    const dsl::Checkpoint& cp = m_r.checkpoints[ci];
    gen.context.emplace_back("checkpoint.backend_name", cp.backend_name);
    gen.context.emplace_back("checkpoint.server_name",
                             !cp.backend_name.empty() ? cp.backend_name : std::filesystem::path(cp.file).filename().string());
    gen.context.emplace_back("endpoints", util::join(g.endpoints, " "));
    if (!g.workflow.empty()) gen.context.emplace_back("workflow.path", g.workflow);
    if (!g.import_dir.empty()) gen.context.emplace_back("import_dir", g.import_dir);
    gen.context.emplace_back("section", sec.id);
    gen.context.emplace_back("prompt_id", item.id);
    gen.context.emplace_back("batch_size", std::to_string(g.batch_size));
    gen.context.emplace_back("image_index", std::to_string(i));
    return m_plan.add(std::move(gen));
  }

  uint32_t clip_image_features(uint32_t gen, const ClipEntry& c) {
    Step f;
    f.kind = StepKind::image_features;
    f.params = c.params;
    f.params.emplace_back("preprocess", "pil_bicubic,center_crop");
    f.params.emplace_back("image_size", std::to_string(c.config.image_size));
    f.params.emplace_back("mean", join_floats(c.config.mean));
    f.params.emplace_back("std", join_floats(c.config.std));
    f.context = c.context;
    f.inputs = {gen};
    return m_plan.add(std::move(f));
  }

  uint32_t text_features(const std::string& text, const ClipEntry& c) {
    Step t;
    t.kind = StepKind::text_features;
    t.params = c.params;
    t.params.emplace_back("tokenizer.sha256", m_tokenizer_sha);
    t.params.emplace_back("context", std::to_string(c.config.context));
    t.params.emplace_back("text", text);
    t.context = c.context;
    t.context.emplace_back("tokenizer.path", m_r.models.tokenizer);
    return m_plan.add(std::move(t));
  }

  void plan_section(const dsl::Section& sec, std::vector<uint32_t>& aggregates) {
    const dsl::Generation& g = sec.generation;
    int64_t sw = sec.style_size ? sec.style_size->first : g.width;
    int64_t sh = sec.style_size ? sec.style_size->second : g.height;
    std::vector<PromptItem> items = prompt_items(sec);
    std::vector<std::string> names;
    for (const auto& c : m_r.checkpoints) names.push_back(c.name);
    std::vector<std::pair<std::string, std::string>> notm;
    bool has_notm = false;
    if (sec.loras) {
      notm = dsl::notm_exclusions(*sec.loras, names);
      for (const auto& f : sec.loras->fixups) has_notm |= f.kind == dsl::FixupKind::exclude_made_with;
    }
    for (const auto& it : items) {
      m_plan.prompts.push_back({sec.id, it.id, it.fixed.original, it.fixed.final_text, it.fixed.rules, "", it.negative});
      // NoTM makes a LoRA's prompts count differently for the checkpoints that made its showcase.
      for (const auto& [ck, lora] : notm) {
        if (lora != it.group) continue;
        std::vector<std::string> rules = it.fixed.rules;
        rules.push_back(dsl::to_string(dsl::FixupKind::exclude_made_with));
        m_plan.prompts.push_back({sec.id, it.id, it.fixed.original, it.fixed.final_text, rules, ck, it.negative});
      }
    }

    // The first image of each item per checkpoint, as the metrics plan it: the contact sheets show
    // these (an item no metric scores, such as a plain prompt in a style_loss-only section, has none).
    std::vector<std::vector<uint32_t>> first_images(items.size());
    for (const auto& metric : sec.metrics) {
      std::string variant = metric == "style_loss"   ? dsl::to_string(m_r.metrics.style_loss)
                            : metric == "clip_score" ? dsl::to_string(m_r.metrics.clip_score)
                                                     : "";
      Step agg;
      agg.kind = StepKind::aggregate;
      agg.params.emplace_back("section", sec.id);
      // In a LoRA section the style loss against the showcase images is the LoRA loss.
      agg.params.emplace_back("metric", sec.loras && metric == "style_loss" ? "lora_loss" : metric);
      agg.params.emplace_back("variant", variant);
      if (has_notm && metric == "style_loss") {
        agg.params.emplace_back("notm", "exclude_made_with");
        for (const auto& [ck, lora] : notm) agg.params.emplace_back("notm_exclude", join_fields({ck, lora}));
      }
      for (size_t n = 0; n < items.size(); ++n) {
        const PromptItem& item = items[n];
        std::vector<uint32_t> targets;
        if (metric == "style_loss") {
          if (item.style) {
            for (const auto& f : item.style->target_files) targets.push_back(target_features(f, sw, sh, item.style->pos));
          } else if (item.showcase) {
            targets.push_back(target_features(item.showcase->image, sw, sh, item.showcase->pos));
          } else {
            continue;  // only style and LoRA prompts have targets
          }
        }
        // The CLIP this metric reads: its own entry (preference models), the head's, or "clip".
        const dsl::ModelFile* head = m_r.models.head(metric);
        std::string clip_name = head ? head->clip : dsl::is_preference_metric(metric) ? metric : "clip";
        const ClipEntry* clip = metric == "style_loss" ? nullptr : &m_clips.at(clip_name);
        bool wants_text = metric == "clip_score" || dsl::is_preference_metric(metric);
        uint32_t text = wants_text ? text_features(item.text, *clip) : 0;
        for (size_t ci = 0; ci < m_r.checkpoints.size(); ++ci) {
          for (int64_t i = 0; i < g.images_per_prompt(); ++i) {
            uint32_t gi = generate(sec, item, ci, i);
            if (i == 0 && first_images[n].size() == ci) first_images[n].push_back(gi);
            Step met;
            met.kind = StepKind::metric;
            met.params.reserve(3);
            met.params.emplace_back("metric", metric);
            met.params.emplace_back("variant", variant);
            if (metric == "style_loss") {
              Step feat;
              feat.kind = StepKind::image_features;
              feat.params.reserve(6);
              feat.params.emplace_back("model", "vgg19");
              feat.params.emplace_back("model.sha256", m_vgg_sha);
              feat.params.emplace_back("resize", std::to_string(sw) + "x" + std::to_string(sh));
              add_vgg_params(feat);
              feat.context.emplace_back("model.path", m_r.models.vgg19->file);
              feat.inputs = {gi};
              met.inputs.push_back(m_plan.add(std::move(feat)));
              met.inputs.insert(met.inputs.end(), targets.begin(), targets.end());
            } else if (head) {
              met.params.emplace_back("head.sha256", m_head_sha.at(metric));
              met.context.emplace_back("head.path", head->file);
              met.inputs.push_back(clip_image_features(gi, *clip));
            } else {  // clip_score, hpsv2, pickscore
              met.inputs.push_back(clip_image_features(gi, *clip));
              met.inputs.push_back(text);
            }
            uint32_t mi = m_plan.add(std::move(met));
            agg.params.emplace_back("row", join_fields({m_r.checkpoints[ci].name, item.id, item.group,
                                                        std::to_string(m_r.seed + i)}));
            agg.inputs.push_back(mi);
          }
        }
      }
      aggregates.push_back(m_plan.add(std::move(agg)));
    }
    for (size_t n = 0; n < items.size(); ++n) {
      if (first_images[n].empty()) continue;
      std::vector<std::string> row = {sec.id, items[n].id, items[n].text, std::to_string(m_r.seed)};
      for (uint32_t gi : first_images[n]) row.push_back(m_plan.steps[gi].key.hex());
      m_gallery.push_back(util::join(row, std::string(1, k_field_sep)));
    }
  }

  const dsl::Review& m_r;
  FileHasher& m_hasher;
  dsl::Diagnostics& m_d;
  std::set<std::string> m_bad_comfy_tags;  ///< prompts already reported (one error per prompt)
  Plan m_plan;
  std::vector<std::string> m_identity;  // per checkpoint
  std::string m_vgg_sha, m_tokenizer_sha;
  std::string m_vgg_layers;  ///< the style layers as the VGG feature keys hold them ("ghostreview:0,5,...")
  std::map<std::string, std::string> m_head_sha;  // head entry -> weights sha256
  std::map<std::string, ClipEntry> m_clips;       // CLIP entry -> identity
  std::map<std::string, std::string> m_model_sha;  // [models] entry -> weights sha256 (used ones)
  std::vector<std::string> m_gallery;              // report: first image of each prompt per checkpoint
};

}  // namespace

std::vector<std::string> split_fields(const std::string& value) { return util::split(value, k_field_sep); }

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
    case StepKind::image_features:
      add("", find_param("model"));
      add("", find_param("resize"));
      break;
    case StepKind::metric:
      add("", find_param("metric"));
      add("", find_param("variant"));
      break;
    case StepKind::aggregate:
      add("", find_param("section"));
      add("", find_param("metric"));
      break;
    case StepKind::report: add("", find_param("experiment.name")); break;
    case StepKind::text_features: add("", find_param("text")); break;
  }
  return s;
}

namespace {

size_t slot_of(const StepKey& k, size_t mask) { return static_cast<size_t>(k.lo ^ (k.hi >> 7)) & mask; }

void grow_index(Plan& p, size_t slots) {
  std::vector<uint32_t> fresh(slots, 0);
  const size_t mask = slots - 1;
  for (uint32_t e : p.index)
    if (e) {
      size_t i = slot_of(p.steps[e - 1].key, mask);
      while (fresh[i]) i = (i + 1) & mask;
      fresh[i] = e;
    }
  p.index.swap(fresh);
}

}  // namespace

void Plan::reserve(size_t n) {
  steps.reserve(n);
  size_t slots = 64;
  while (slots < 2 * n) slots *= 2;
  if (slots > index.size()) grow_index(*this, slots);
}

uint32_t Plan::add(Step step) {
  // The inputs' keys, in a buffer kept between calls (planning adds steps one at a time).
  static thread_local std::vector<StepKey> in;
  in.clear();
  for (uint32_t i : step.inputs) in.push_back(steps[i].key);
  step.key = step_key(step.kind, step.params, in);
  if (2 * (steps.size() + 1) > index.size()) grow_index(*this, std::max<size_t>(64, index.size() * 2));
  const size_t mask = index.size() - 1;
  size_t i = slot_of(step.key, mask);
  for (; index[i]; i = (i + 1) & mask)
    if (steps[index[i] - 1].key == step.key) return index[i] - 1;
  const uint32_t at = static_cast<uint32_t>(steps.size());
  index[i] = at + 1;
  steps.push_back(std::move(step));
  return at;
}

const Step* Plan::find(const StepKey& key) const {
  if (index.empty()) return nullptr;
  const size_t mask = index.size() - 1;
  for (size_t i = slot_of(key, mask); index[i]; i = (i + 1) & mask)
    if (steps[index[i] - 1].key == key) return &steps[index[i] - 1];
  return nullptr;
}

std::optional<Plan> build_plan(const dsl::Review& review, FileHasher& hasher, dsl::Diagnostics& diags) {
  return Planner(review, hasher, diags).run();
}

}  // namespace ghx::plan
