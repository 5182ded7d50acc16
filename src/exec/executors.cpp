// The built-in executors: generate (synthetic backend), VGG19 style features of targets and of
// generated images, the style_loss metric, aggregates and the review's results.
#include <chrono>
#include <map>
#include <mutex>
#include <tuple>

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "exec/executor.h"

#include "exec/scoring.h"
#include "stats/stats.h"
#include "models/numerics.h"
#include "models/style.h"
#include "models/torch_api.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/png.h"
#include "util/strings.h"
#include "util/version.h"

namespace ghx::exec {

using nlohmann::json;
using stats::AggregateRow;
using stats::aggregate_json;
using stats::compute_results;
using stats::ReviewInfo;

std::string numerics_problem(const plan::Step& s) {
  const std::string* n = s.find_param("numerics");
  if (!n) return "";
  static const std::string runtime = [] {
    try {
      return models::torch_description();
    } catch (const std::exception& e) {
      return std::string("libtorch unavailable: ") + e.what();
    }
  }();
  return models::numerics_mismatch(*n, runtime);
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// Runs `fn` for each job, turning exceptions into failed outcomes.
template <typename Fn>
void each_job(const std::vector<Job>& jobs, std::vector<Outcome>& out, Fn fn) {
  out.assign(jobs.size(), Outcome{});
  for (size_t i = 0; i < jobs.size(); ++i) {
    auto t0 = Clock::now();
    try {
      out[i].bytes = fn(jobs[i]);
      out[i].ok = true;
    } catch (const std::exception& e) {
      out[i].error = e.what();
    }
    out[i].duration_s = seconds_since(t0);
  }
}

std::pair<int, int> parse_size(const std::string& s) {
  auto x = s.find('x');
  if (x == std::string::npos) throw Error("bad size '" + s + "'");
  return {std::stoi(s.substr(0, x)), std::stoi(s.substr(x + 1))};
}

/// VGG19 Gram matrices, for target files (target_features) and generated images
/// (image_features). Models are loaded once per weights hash.
class StyleFeaturesExecutor : public Executor {
 public:
  explicit StyleFeaturesExecutor(bool targets) : m_targets(targets) {}
  size_t max_batch() const override { return 4; }

  void run(const std::vector<Job>& jobs, std::vector<Outcome>& out) override {
    out.assign(jobs.size(), Outcome{});
    // Group by (model, size, layers): one model call per group.
    std::map<std::tuple<std::string, std::string, std::string>, std::vector<size_t>> groups;
    for (size_t i = 0; i < jobs.size(); ++i) {
      const auto& s = *jobs[i].step;
      out[i].error = numerics_problem(s);
      if (out[i].error.empty() && s.param("preprocess") != "pil_bicubic")
        out[i].error = "VGG19 preprocess '" + s.param("preprocess") + "' is not this build's (pil_bicubic)";
      if (!out[i].error.empty()) continue;
      groups[{s.param("model.sha256"), s.param("resize"), s.param("layers")}].push_back(i);
    }
    for (const auto& [gk, idx] : groups) {
      auto t0 = Clock::now();
      std::vector<cv::Mat> imgs;
      std::vector<size_t> ok_idx;
      for (size_t i : idx) {
        try {
          imgs.push_back(load(jobs[i], parse_size(std::get<1>(gk))));
          ok_idx.push_back(i);
        } catch (const std::exception& e) {
          out[i].error = e.what();
        }
      }
      if (imgs.empty()) continue;
      try {
        models::Vgg19Style& vgg = model(*jobs[idx[0]].step);
        std::vector<models::GramSet> grams = vgg.grams(imgs, models::parse_style_layers(std::get<2>(gk)));
        double dt = seconds_since(t0) / static_cast<double>(ok_idx.size());
        for (size_t k = 0; k < ok_idx.size(); ++k) {
          out[ok_idx[k]].bytes = models::serialize_grams(grams[k]);
          out[ok_idx[k]].ok = true;
          out[ok_idx[k]].duration_s = dt;
        }
      } catch (const std::exception& e) {
        for (size_t i : ok_idx) out[i].error = e.what();
      }
    }
  }

 private:
  cv::Mat load(const Job& j, std::pair<int, int> size) {
    if (m_targets) {
      const std::string& path = j.step->param("path");
      std::string bytes = util::read_file(path);
      if (util::sha256_hex(bytes) != j.step->param("image.sha256"))
        throw Error(path + ": changed since the plan was made; run again");
      return prepare_for_vgg(util::decode_image(bytes, path), size.first, size.second);
    }
    if (j.inputs.empty() || !j.inputs[0]) throw Error("image_features step without its image");
    return prepare_for_vgg(util::decode_image(*j.inputs[0], "generated image"), size.first, size.second);
  }

  models::Vgg19Style& model(const plan::Step& s) {
    const std::string& sha = s.param("model.sha256");
    std::lock_guard<std::mutex> lock(m_mu);
    auto it = m_models.find(sha);
    if (it == m_models.end()) {
      const std::string& path = s.param("model.path");
      if (util::sha256_file_hex(path) != sha) throw Error(path + ": changed since the plan was made; run again");
      it = m_models.emplace(sha, models::Vgg19Style::load(path)).first;
    }
    return *it->second;
  }

  bool m_targets;
  std::mutex m_mu;
  std::map<std::string, std::unique_ptr<models::Vgg19Style>> m_models;
};

class StyleLossExecutor : public Executor {
 public:
  size_t max_batch() const override { return 64; }
  void run(const std::vector<Job>& jobs, std::vector<Outcome>& out) override {
    each_job(jobs, out, [](const Job& j) {
      models::StyleVariant v = j.step->param("variant") == "normalized" ? models::StyleVariant::normalized
                                                                        : models::StyleVariant::ghostreview;
      if (j.inputs.size() < 2) throw Error("style_loss needs an image and at least one target");
      models::GramSet image = models::deserialize_grams(*j.inputs[0]);
      json per = json::array();
      double sum = 0;
      for (size_t t = 1; t < j.inputs.size(); ++t) {
        double l = models::style_loss(image, models::deserialize_grams(*j.inputs[t]), v);
        per.push_back(l);
        sum += l;
      }
      json r = {{"value", sum / static_cast<double>(j.inputs.size() - 1)}, {"per_target", per}};
      return r.dump();
    });
  }
};

/// Hands each job to the executor named by one of its parameters (image_features by "model",
/// metric by "metric"), keeping the batch's order of outcomes.
class RoutingExecutor : public Executor {
 public:
  RoutingExecutor(std::string param, std::map<std::string, std::shared_ptr<Executor>> routes)
      : m_param(std::move(param)), m_routes(std::move(routes)) {}
  size_t max_batch() const override {
    size_t m = 1;
    for (const auto& [k, e] : m_routes) m = std::max(m, e->max_batch());
    return m;
  }
  std::string batch_key(const plan::Step& s) const override {
    const std::string* v = s.find_param(m_param);
    const Executor* e = route(s);
    return (v ? *v : "") + '\x1e' + (e ? e->batch_key(s) : "");
  }
  size_t batch_limit(const plan::Step& first) const override {
    const Executor* e = route(first);
    return e ? std::min(e->max_batch(), e->batch_limit(first)) : 1;
  }
  std::string status() const override {
    std::string s;
    for (const auto& [k, e] : m_routes) {
      std::string st = e->status();
      if (!st.empty()) s += (s.empty() ? "" : "; ") + st;
    }
    return s;
  }
  std::string device() const override { return m_routes.empty() ? "cpu" : m_routes.begin()->second->device(); }
  void run(const std::vector<Job>& jobs, std::vector<Outcome>& out) override {
    out.assign(jobs.size(), Outcome{});
    std::map<std::string, std::vector<size_t>> by_route;
    // (the runner never mixes routes in one batch: batch_key starts with the route)
    for (size_t i = 0; i < jobs.size(); ++i) {
      const std::string* v = jobs[i].step->find_param(m_param);
      by_route[v ? *v : ""].push_back(i);
    }
    for (const auto& [name, idx] : by_route) {
      auto it = m_routes.find(name);
      if (it == m_routes.end()) {
        for (size_t i : idx) out[i].error = m_param + " '" + name + "' is not implemented yet";
        continue;
      }
      std::vector<Job> sub;
      for (size_t i : idx) sub.push_back(jobs[i]);
      std::vector<Outcome> got;
      it->second->run(sub, got);
      for (size_t k = 0; k < idx.size(); ++k) {
        // Where it ran is the routed executor's device, not the router's (the first route's).
        if (got[k].device.empty()) got[k].device = it->second->device();
        out[idx[k]] = std::move(got[k]);
      }
    }
  }

 private:
  const Executor* route(const plan::Step& s) const {
    const std::string* v = s.find_param(m_param);
    auto it = m_routes.find(v ? *v : "");
    return it == m_routes.end() ? nullptr : it->second.get();
  }
  std::string m_param;
  std::map<std::string, std::shared_ptr<Executor>> m_routes;
};

class AggregateExecutor : public Executor {
 public:
  void run(const std::vector<Job>& jobs, std::vector<Outcome>& out) override {
    each_job(jobs, out, [](const Job& j) {
      auto rows = j.step->params_named("row");
      if (rows.size() != j.inputs.size()) throw Error("aggregate: rows and inputs differ in number");
      std::vector<AggregateRow> out_rows;
      out_rows.reserve(rows.size());
      for (size_t i = 0; i < rows.size(); ++i) {
        AggregateRow r;
        std::vector<std::string> f = plan::split_fields(*rows[i]);
        if (f.size() != 4) throw Error("aggregate: malformed row parameter");
        r.checkpoint = f[0], r.prompt = f[1], r.group = f[2], r.seed = f[3];
        r.value = json::parse(*j.inputs[i]).at("value").get<double>();
        out_rows.push_back(std::move(r));
      }
      // NoTM: the (checkpoint, LoRA) pairs a LoRA section's exclude_made_with rule leaves out.
      std::vector<std::pair<std::string, std::string>> notm;
      for (const std::string* e : j.step->params_named("notm_exclude")) {
        std::vector<std::string> f = plan::split_fields(*e);
        if (f.size() != 2) throw Error("aggregate: malformed notm_exclude parameter");
        notm.emplace_back(f[0], f[1]);
      }
      bool has_notm = j.step->find_param("notm") != nullptr;
      return aggregate_json(j.step->param("section"), j.step->param("metric"), j.step->param("variant"), out_rows,
                            has_notm ? &notm : nullptr)
          .dump();
    });
  }
};

/// Contact sheets: per section and prompt, the first image of each checkpoint by step key.
json gallery_json(const plan::Step& s) {
  json names = json::array();  // declared order: the order of each row's images
  for (const std::string* c : s.params_named("checkpoint")) names.push_back(plan::split_fields(*c).at(0));
  json sections = json::array();
  for (const std::string* g : s.params_named("gallery")) {
    std::vector<std::string> f = plan::split_fields(*g);
    if (f.size() < 4) throw Error("report: malformed gallery parameter");
    if (sections.empty() || sections.back()["section"] != f[0])
      sections.push_back({{"section", f[0]}, {"seed", f[3]}, {"checkpoints", names}, {"rows", json::array()}});
    sections.back()["rows"].push_back({{"prompt", f[1]}, {"text", f[2]}, {"images", std::vector<std::string>(f.begin() + 4, f.end())}});
  }
  return sections;
}

/// What produced these results, as far as the report step's key covers it (every byte of
/// results.json is a function of that key): the numerics the models ran with (models/numerics.h:
/// device, libtorch version, kernel selectors; also in every model step's key), models by content,
/// seeds per section, the plan's size and this step's key. The ghx build that wrote a report
/// folder differs between machines: it goes to provenance.json beside it (cli), not here.
json provenance_json(const plan::Step& s) {
  json p;
  const std::string* numerics = s.find_param("numerics");
  p["numerics"] = numerics ? *numerics : std::string("no model ran");
  p["report_key"] = s.key.hex();
  json models = json::array(), seeds = json::array(), steps = json::object();
  for (const std::string* m : s.params_named("model")) {
    std::vector<std::string> f = plan::split_fields(*m);
    if (f.size() != 2) throw Error("report: malformed model parameter");
    models.push_back({{"entry", f[0]}, {"sha256", f[1]}, {"autov2", f[1].substr(0, 10)}});
  }
  for (const std::string* m : s.params_named("seeds")) {
    std::vector<std::string> f = plan::split_fields(*m);
    if (f.size() != 3) throw Error("report: malformed seeds parameter");
    seeds.push_back({{"section", f[0]}, {"first", std::stoll(f[1])}, {"count", std::stoll(f[2])}});
  }
  for (const std::string* m : s.params_named("steps")) {
    std::vector<std::string> f = plan::split_fields(*m);
    if (f.size() != 2) throw Error("report: malformed steps parameter");
    steps[f[0]] = std::stoll(f[1]);
  }
  p["models"] = std::move(models);
  p["seeds"] = std::move(seeds);
  p["steps"] = std::move(steps);
  return p;
}

class ReportExecutor : public Executor {
 public:
  void run(const std::vector<Job>& jobs, std::vector<Outcome>& out) override {
    each_job(jobs, out, [](const Job& j) {
      ReviewInfo info;
      info.name = j.step->param("experiment.name");
      info.version = j.step->param("experiment.version");
      info.seed = j.step->param("experiment.seed");
      for (const std::string* c : j.step->params_named("checkpoint")) {
        auto sep = c->find(plan::k_field_sep);
        info.checkpoints.emplace_back(c->substr(0, sep), sep == std::string::npos ? "" : c->substr(sep + 1));
      }
      info.bootstrap = std::stoll(j.step->param("statistics.bootstrap"));
      info.ci = std::stod(j.step->param("statistics.ci"));
      info.stat_seed = std::stoull(j.step->param("statistics.seed"));
      std::vector<json> aggs;
      for (const std::string* in : j.inputs) aggs.push_back(json::parse(*in));
      json results = compute_results(info, aggs);
      // Every prompt a fixup rule rewrote (and NoTM's per-checkpoint entries), in plan order.
      json fixups = json::array();
      for (const std::string* f : j.step->params_named("fixup")) {
        std::vector<std::string> v = plan::split_fields(*f);
        if (v.size() != 6) throw Error("report: malformed fixup parameter");
        json rules = util::split(v[5], ',');  // a fixup parameter is written only with rules
        json o = {{"section", v[0]}, {"id", v[1]}, {"original", v[3]}, {"final", v[4]}, {"rules", rules}};
        if (!v[2].empty()) o["checkpoint"] = v[2];
        fixups.push_back(std::move(o));
      }
      results["fixups"] = std::move(fixups);
      results["gallery"] = gallery_json(*j.step);
      results["provenance"] = provenance_json(*j.step);
      return results.dump();
    });
  }
};

}  // namespace

std::unique_ptr<ExecutorSet> ExecutorSet::builtin(Generators generators) {
  auto set = std::make_unique<SimpleExecutorSet>();
  set->set(plan::StepKind::generate, std::make_unique<RoutingExecutor>("backend", std::move(generators)));
  set->set(plan::StepKind::target_features, std::make_unique<StyleFeaturesExecutor>(true));
  auto clip = make_clip_models();
  std::map<std::string, std::shared_ptr<Executor>> features, metrics;
  features["vgg19"] = std::make_unique<StyleFeaturesExecutor>(false);
  features["clip"] = make_clip_image_executor(clip);
  set->set(plan::StepKind::image_features, std::make_unique<RoutingExecutor>("model", std::move(features)));
  set->set(plan::StepKind::text_features, make_text_executor(clip));
  metrics["style_loss"] = std::make_unique<StyleLossExecutor>();
  auto heads = make_head_executor();
  for (const char* m : {"aesthetic", "rating", "artifacts"}) metrics[m] = heads;
  auto cosines = make_clip_score_executor();
  for (const char* m : {"clip_score", "hpsv2", "pickscore"}) metrics[m] = cosines;
  set->set(plan::StepKind::metric, std::make_unique<RoutingExecutor>("metric", std::move(metrics)));
  set->set(plan::StepKind::aggregate, std::make_unique<AggregateExecutor>());
  set->set(plan::StepKind::report, std::make_unique<ReportExecutor>());
  return set;
}

}  // namespace ghx::exec
