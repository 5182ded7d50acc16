#pragma once
// Executors: the code that turns one kind of step into its result bytes.
// Owns: the Executor interface the runner drives, and the registry of built-in executors.
// Fails: an executor never throws out of run(); each job gets an Outcome (ok + bytes, or an
// error message). Never: touches the cache (the runner commits outcomes).
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dsl/review.h"
#include "plan/plan.h"

namespace ghx::exec {

struct Job {
  const plan::Step* step = nullptr;
  std::vector<const std::string*> inputs;  ///< results of step->inputs, same order
};

struct Outcome {
  bool ok = false;
  std::string bytes;
  std::string error;
  double duration_s = 0;
  std::string meta;    ///< provenance JSON kept beside the result (request, answer), or ""
  std::string device;  ///< where it ran, when it differs from Executor::device() (an endpoint)
};

/// Empty when the step's `numerics` parameter (models/numerics.h) names the device class the
/// models of this process run on, or it has none; else why not (the step then fails).
std::string numerics_problem(const plan::Step& s);

class Executor {
 public:
  virtual ~Executor() = default;
  /// How many jobs of this kind the runner hands over at once.
  virtual size_t max_batch() const { return 1; }
  /// Steps with different keys never share a batch (e.g. one backend request per batch).
  virtual std::string batch_key(const plan::Step&) const { return ""; }
  /// The largest batch for the group of `first` (default max_batch()).
  virtual size_t batch_limit(const plan::Step& first) const { return max_batch(); }
  /// One line of live status for the progress display ("127.0.0.1:7860 0.8 img/s"), or "".
  virtual std::string status() const { return ""; }
  /// Fills `out` (same size as `jobs`). Must not throw.
  virtual void run(const std::vector<Job>& jobs, std::vector<Outcome>& out) = 0;
  /// "cpu", "synthetic", "http://host:port" ... recorded as provenance.
  virtual std::string device() const { return "cpu"; }
};

/// Executors of generate steps by backend name.
using Generators = std::map<std::string, std::shared_ptr<Executor>>;

/// One executor per step kind.
class ExecutorSet {
 public:
  /// The built-in scoring, aggregate and report executors; generate steps go to
  /// `generators[step's "backend"]` (backends/backends.h makes them; none: generation fails).
  static std::unique_ptr<ExecutorSet> builtin(Generators generators = {});
  virtual ~ExecutorSet() = default;
  /// Null if no executor handles this kind.
  virtual Executor* get(plan::StepKind kind) = 0;
};

/// A table-driven set; tests put fakes in it.
class SimpleExecutorSet : public ExecutorSet {
 public:
  void set(plan::StepKind kind, std::unique_ptr<Executor> e) { m_exec[static_cast<int>(kind)] = std::move(e); }
  Executor* get(plan::StepKind kind) override { return m_exec[static_cast<int>(kind)].get(); }

 private:
  std::unique_ptr<Executor> m_exec[plan::k_step_kind_count];
};

/// CLIP executors (clip_executors.cpp); the image and text executors share loaded models.
class ClipModels;
std::shared_ptr<ClipModels> make_clip_models();
std::unique_ptr<Executor> make_clip_image_executor(std::shared_ptr<ClipModels> models);
std::unique_ptr<Executor> make_text_executor(std::shared_ptr<ClipModels> models);
/// Heads over an image embedding (aesthetic, rating, artifacts).
std::shared_ptr<Executor> make_head_executor();
/// Cosine of image and text embeddings: clip_score (with its variant), hpsv2, pickscore.
std::shared_ptr<Executor> make_clip_score_executor();

}  // namespace ghx::exec
