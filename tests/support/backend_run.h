#pragma once
// Test support for backend end-to-end tests: plan and run a review with the built-in executors
// (fast retries, --keep-going, 2 workers), and read back the stored images.
#include <map>
#include <string>
#include <utility>

#include <catch2/catch.hpp>

#include "backends/backends.h"
#include "cache/cache.h"
#include "dsl/loader.h"
#include "exec/runner.h"
#include "plan/plan.h"

namespace ghx::test {

struct RanReview {
  exec::RunSummary sum;
  plan::Plan plan;
};

inline RanReview run_review(const std::string& exp, const std::string& cache_dir, backends::BackendOptions opts = {}) {
  dsl::Diagnostics d;
  auto review = dsl::load_review(exp, d);
  INFO(d.format_all());
  REQUIRE(review);
  auto cache = cache::Cache::open(cache_dir);
  plan::FileHasher h(cache.get());
  auto p = plan::build_plan(*review, h, d);
  REQUIRE(p);
  opts.backoff_s = 0.01;
  opts.timeout_s = opts.timeout_s == 600 ? 10 : opts.timeout_s;
  auto execs = exec::ExecutorSet::builtin(backends::make_generators(opts));
  exec::RunOptions ro;
  ro.keep_going = exec::KeepGoing::yes;
  ro.jobs = 2;
  RanReview out{exec::run_plan(*p, *cache, *execs, ro), std::move(*p)};
  return out;
}

/// Every stored generate result: (checkpoint identity, seed) -> PNG bytes.
inline std::map<std::pair<std::string, std::string>, std::string> stored_images(const std::string& cache_dir,
                                                                               const plan::Plan& p) {
  auto cache = cache::Cache::open(cache_dir);
  std::map<std::pair<std::string, std::string>, std::string> out;
  for (const auto& s : p.steps)
    if (s.kind == plan::StepKind::generate)
      if (auto b = cache->get(s.key)) out[{s.param("checkpoint"), s.param("seed")}] = *b;
  return out;
}

}  // namespace ghx::test
