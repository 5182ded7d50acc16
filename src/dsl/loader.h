#pragma once
// Loads an experiment file and the suites it names into a typed dsl::Review.
// Owns: TOML syntax and schema checks (unknown keys with a "did you mean", wrong types, ranges,
// required keys, duplicate ids), path resolution and existence checks of every file named.
// Fails: never throws for bad input; every problem becomes a Diagnostic with FILE:LINE:COL, all
// of a file's problems at once. Never: reads model weights, hashes files, or writes anything.
#include <optional>
#include <string>

#include "dsl/diagnostics.h"
#include "dsl/review.h"

namespace ghx::dsl {

/// Returns the review when `diags` holds no error after loading, else std::nullopt.
std::optional<Review> load_review(const std::string& path, Diagnostics& diags);

/// Loads a suite file on its own ([[prompt]] and [[style]] tables).
std::optional<Suite> load_suite(const std::string& path, Diagnostics& diags);

}  // namespace ghx::dsl
