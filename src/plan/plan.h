#pragma once
// The plan: a review expanded into a DAG of keyed steps.
// Owns: which steps exist, their parameters (hashed), their context (not hashed: paths and
// labels executors and reports need), their inputs, and their keys. Steps are stored in
// topological order (every input precedes its users) and de-duplicated by key.
// Fails: returns std::nullopt with diagnostics (a pinned sha256 that does not match, an
// unreadable file). Never: touches the cache, runs anything.
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "dsl/diagnostics.h"
#include "dsl/review.h"
#include "plan/file_hasher.h"
#include "plan/key.h"

namespace ghx::plan {

/// Separates fields inside one parameter value (aggregate rows); never appears in names.
constexpr char k_field_sep = '\x1f';
/// The fields of a value joined with k_field_sep.
std::vector<std::string> split_fields(const std::string& value);

struct Step {
  StepKind kind = StepKind::generate;
  StepKey key;
  Params params;   ///< hashed into the key, in this order
  Params context;  ///< not hashed: paths, labels
  std::vector<uint32_t> inputs;

  /// The value of a parameter (or context entry); throws ghx::Error if absent.
  const std::string& param(std::string_view name) const;
  const std::string* find_param(std::string_view name) const;
  const std::string* find_context(std::string_view name) const;
  /// All values of a repeated parameter, in order.
  std::vector<const std::string*> params_named(std::string_view name) const;
  /// "generate ghostmix_v2 anime#0 seed=3" and the like.
  std::string label() const;
};

struct PromptRecord {
  std::string section;
  std::string id;
  std::string original;
  std::string final_text;
  std::vector<std::string> rules;
  std::string checkpoint;  ///< set only where the final text differs per checkpoint
  std::string negative;    ///< the negative prompt it is generated with
};

struct Plan {
  std::vector<Step> steps;
  /// Slots of an open-addressing table over steps' keys (step index + 1; 0 = empty), a power of
  /// two at most half full: 4 bytes a slot where a hash map spends ~50 per step.
  std::vector<uint32_t> index;
  std::vector<PromptRecord> prompts;
  std::vector<uint32_t> report_steps;  ///< the final step(s): results of the whole review
  std::map<std::string, std::string> file_sha256;  ///< every file the plan hashed: path -> SHA-256
  std::vector<std::string> checkpoint_identity;    ///< per checkpoint, declared order (step keys' identity)

  /// Adds a step (computing its key) unless one with the same key exists; returns its index.
  uint32_t add(Step step);
  const Step* find(const StepKey& key) const;
  /// Room for `n` steps in all without growing (planning reserves what it will add).
  void reserve(size_t n);
};

/// Hashes every file the review names through `hasher`.
std::optional<Plan> build_plan(const dsl::Review& review, FileHasher& hasher, dsl::Diagnostics& diags);

}  // namespace ghx::plan
