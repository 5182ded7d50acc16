// CLIP executors: image embeddings (image_features with model = clip), text embeddings
// (text_features), and the metrics over them (aesthetic, clip_score).
#include <chrono>
#include <map>
#include <mutex>

#include <nlohmann/json.hpp>

#include "exec/executor.h"
#include "exec/scoring.h"
#include "models/clip_preprocess.h"
#include "models/heads.h"
#include "models/tokenizer.h"
#include "util/error.h"
#include "util/png.h"

namespace ghx::exec {

namespace {

using nlohmann::json;

}  // namespace

/// Loaded CLIP models, keyed by everything that identifies them in a step key; shared by the
/// image and text executors so a model is in memory once.
class ClipModels {
 public:
  models::ClipModel& get(const plan::Step& s) {
    std::string id = s.param("model.sha256") + '\x1f' + s.param("arch") + '\x1f' + s.param("layout") + '\x1f' +
                     s.param("activation");
    std::lock_guard<std::mutex> lock(m_mu);
    auto it = m_models.find(id);
    if (it == m_models.end()) {
      const std::string& layout = s.param("layout");
      it = m_models.emplace(id, load_clip(s.param("model.path"), s.param("arch.path"), layout == "auto" ? "" : layout,
                                          s.param("activation")))
               .first;
    }
    return *it->second;
  }

 private:
  std::mutex m_mu;
  std::map<std::string, std::unique_ptr<models::ClipModel>> m_models;
};

namespace {

class ClipImageExecutor : public Executor {
 public:
  explicit ClipImageExecutor(std::shared_ptr<ClipModels> m) : m_models(std::move(m)) {}
  size_t max_batch() const override { return 8; }
  void run(const std::vector<Job>& jobs, std::vector<Outcome>& out) override {
    out.assign(jobs.size(), Outcome{});
    std::map<std::string, std::vector<size_t>> groups;  // one forward pass per model
    for (size_t i = 0; i < jobs.size(); ++i) {
      out[i].error = numerics_problem(*jobs[i].step);
      if (out[i].error.empty()) groups[jobs[i].step->param("model.sha256") + jobs[i].step->param("arch")].push_back(i);
    }
    for (const auto& [id, idx] : groups) {
      auto t0 = std::chrono::steady_clock::now();
      try {
        models::ClipModel& m = m_models->get(*jobs[idx[0]].step);
        const models::ClipConfig& cfg = m.config();
        std::vector<std::vector<float>> pixels;
        for (size_t i : idx) {
          if (jobs[i].inputs.empty() || !jobs[i].inputs[0]) throw Error("image_features step without its image");
          pixels.push_back(models::clip_preprocess(util::decode_image(*jobs[i].inputs[0], "generated image"),
                                                   cfg.image_size, cfg.mean, cfg.std));
        }
        std::vector<models::ImageEmbedding> e = m.encode_images(pixels);
        double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / idx.size();
        for (size_t k = 0; k < idx.size(); ++k) {
          out[idx[k]].bytes = encode_embedding(e[k]);
          out[idx[k]].ok = true;
          out[idx[k]].duration_s = dt;
        }
      } catch (const std::exception& ex) {
        for (size_t i : idx) out[i].error = ex.what();
      }
    }
  }

 private:
  std::shared_ptr<ClipModels> m_models;
};

class TextExecutor : public Executor {
 public:
  explicit TextExecutor(std::shared_ptr<ClipModels> m) : m_models(std::move(m)) {}
  size_t max_batch() const override { return 16; }
  void run(const std::vector<Job>& jobs, std::vector<Outcome>& out) override {
    out.assign(jobs.size(), Outcome{});
    std::map<std::string, std::vector<size_t>> groups;
    for (size_t i = 0; i < jobs.size(); ++i) {
      out[i].error = numerics_problem(*jobs[i].step);
      if (out[i].error.empty()) groups[jobs[i].step->param("model.sha256") + jobs[i].step->param("tokenizer.sha256")].push_back(i);
    }
    for (const auto& [id, idx] : groups) {
      auto t0 = std::chrono::steady_clock::now();
      try {
        const plan::Step& first = *jobs[idx[0]].step;
        models::ClipModel& m = m_models->get(first);
        const models::ClipTokenizer& tok = tokenizer(first);
        int context = std::stoi(first.param("context"));
        std::vector<std::vector<int32_t>> ids;
        std::vector<int32_t> eot;
        for (size_t i : idx) {
          models::TokenizedText t = tok.encode(jobs[i].step->param("text"), context);
          ids.push_back(std::move(t.ids));
          eot.push_back(t.eot_index);
        }
        std::vector<std::vector<float>> e = m.encode_texts(ids, eot);
        double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / idx.size();
        for (size_t k = 0; k < idx.size(); ++k) {
          out[idx[k]].bytes = encode_embedding({e[k], {}});
          out[idx[k]].ok = true;
          out[idx[k]].duration_s = dt;
        }
      } catch (const std::exception& ex) {
        for (size_t i : idx) out[i].error = ex.what();
      }
    }
  }

 private:
  const models::ClipTokenizer& tokenizer(const plan::Step& s) {
    const std::string& sha = s.param("tokenizer.sha256");
    std::lock_guard<std::mutex> lock(m_mu);
    auto it = m_tok.find(sha);
    if (it == m_tok.end()) it = m_tok.emplace(sha, models::ClipTokenizer::load(s.param("tokenizer.path"))).first;
    return *it->second;
  }
  std::shared_ptr<ClipModels> m_models;
  std::mutex m_mu;
  std::map<std::string, std::unique_ptr<models::ClipTokenizer>> m_tok;
};

class HeadExecutor : public Executor {
 public:
  size_t max_batch() const override { return 64; }
  void run(const std::vector<Job>& jobs, std::vector<Outcome>& out) override {
    out.assign(jobs.size(), Outcome{});
    for (size_t i = 0; i < jobs.size(); ++i) {
      auto t0 = std::chrono::steady_clock::now();
      try {
        models::ScoreHead& h = head(*jobs[i].step);
        models::ImageEmbedding e = decode_embedding(*jobs[i].inputs.at(0));
        const std::vector<float>& in = h.input() == models::HeadInput::projected ? e.projected : e.pooled;
        double v = h.score({in}).at(0);
        out[i].bytes = json({{"value", v}}).dump();
        out[i].ok = true;
      } catch (const std::exception& ex) {
        out[i].error = ex.what();
      }
      out[i].duration_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
  }

 private:
  models::ScoreHead& head(const plan::Step& s) {
    const std::string& sha = s.param("head.sha256");
    std::lock_guard<std::mutex> lock(m_mu);
    auto it = m_heads.find(sha);
    if (it == m_heads.end()) it = m_heads.emplace(sha, models::ScoreHead::load(s.param("head.path"))).first;
    return *it->second;
  }
  std::mutex m_mu;
  std::map<std::string, std::unique_ptr<models::ScoreHead>> m_heads;
};

class ClipScoreExecutor : public Executor {
 public:
  size_t max_batch() const override { return 64; }
  void run(const std::vector<Job>& jobs, std::vector<Outcome>& out) override {
    out.assign(jobs.size(), Outcome{});
    for (size_t i = 0; i < jobs.size(); ++i) {
      try {
        models::ImageEmbedding img = decode_embedding(*jobs[i].inputs.at(0));
        models::ImageEmbedding txt = decode_embedding(*jobs[i].inputs.at(1));
        double cos = cosine(img.projected, txt.projected);
        out[i].bytes = json({{"value", clip_score_value(cos, jobs[i].step->param("variant"))}, {"cosine", cos}}).dump();
        out[i].ok = true;
      } catch (const std::exception& ex) {
        out[i].error = ex.what();
      }
    }
  }
};

}  // namespace

std::shared_ptr<ClipModels> make_clip_models() { return std::make_shared<ClipModels>(); }
std::unique_ptr<Executor> make_clip_image_executor(std::shared_ptr<ClipModels> m) {
  return std::make_unique<ClipImageExecutor>(std::move(m));
}
std::unique_ptr<Executor> make_text_executor(std::shared_ptr<ClipModels> m) {
  return std::make_unique<TextExecutor>(std::move(m));
}
std::shared_ptr<Executor> make_head_executor() { return std::make_shared<HeadExecutor>(); }
std::shared_ptr<Executor> make_clip_score_executor() { return std::make_shared<ClipScoreExecutor>(); }

}  // namespace ghx::exec
