#pragma once
// The review document (review.json): a review as declared and planned, in a form that needs no
// files. Written into every report folder by `ghx run`, compared by `ghx diff`, carried by
// bundles. Holds the experiment, checkpoints by identity, models and every other file by SHA-256
// (paths relative to the experiment file), each section's generation settings, seeds and metrics,
// the LoRA fixup rules, every prompt before and after fixups, step counts and the sorted step keys.
// Same review and plan => same bytes: no times, no absolute paths.
#include <string>

#include <nlohmann/json.hpp>

#include "dsl/review.h"
#include "plan/plan.h"

namespace ghx::report {

constexpr int k_review_doc_format = 1;

/// `with_keys` false leaves out "keys" (the sorted step keys: most of the document at 100k
/// steps); the report key, which every step key feeds, stays.
nlohmann::json review_document(const dsl::Review& review, const plan::Plan& plan, bool with_keys = true);

/// `path` relative to the folder of `experiment_file` ("../models/x.safetensors"); absolute
/// paths stay absolute only when they share no root with it.
std::string relative_to_experiment(const std::string& experiment_file, const std::string& path);

}  // namespace ghx::report
