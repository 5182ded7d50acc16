// ghx_bench_fill: marks every step of a review's plan done in a cache, so that `ghx run` on it is
// a no-op (the planner benchmark's "no-op re-run", bench/plan_bench.sh).
// Usage: ghx_bench_fill REVIEW.toml CACHE_DIR
// Every step gets the same placeholder bytes (the content-addressed blob store writes one blob);
// the report step(s) get a minimal valid results JSON so that the no-op run renders a report.
// Goes through Cache::put only, one row per call, as the runner does.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "cache/cache.h"
#include "dsl/loader.h"
#include "plan/plan.h"

namespace {

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: ghx_bench_fill REVIEW.toml CACHE_DIR\n";
    return 2;
  }
  try {
    auto t0 = std::chrono::steady_clock::now();
    ghx::dsl::Diagnostics diags;
    auto review = ghx::dsl::load_review(argv[1], diags);
    std::cerr << diags.format_all();
    if (!review) return 2;
    double t_load = since(t0);

    auto cache = ghx::cache::Cache::open(argv[2]);
    ghx::plan::FileHasher hasher(cache.get());
    auto t1 = std::chrono::steady_clock::now();
    auto plan = ghx::plan::build_plan(*review, hasher, diags);
    std::cerr << diags.format_all();
    if (!plan) return 2;
    double t_plan = since(t1);

    nlohmann::json results = {
        {"experiment", {{"name", review->name}, {"version", review->version}, {"seed", std::to_string(review->seed)}}},
        {"checkpoints", nlohmann::json::array()},
        {"sections", nlohmann::json::array()},
        {"metric_directions", nlohmann::json::object()},
        {"score", ""}};
    const std::string report_bytes = results.dump();
    const std::string placeholder = "ghx bench placeholder result\n";
    std::vector<bool> is_report(plan->steps.size(), false);
    for (uint32_t ri : plan->report_steps) is_report[ri] = true;

    ghx::cache::Provenance prov;
    prov.tool_version = "ghx_bench_fill";
    prov.device = "none";
    auto t2 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < plan->steps.size(); ++i) {
      const auto& s = plan->steps[i];
      cache->put(s.key, ghx::plan::kind_name(s.kind), is_report[i] ? report_bytes : placeholder, prov);
    }
    double t_put = since(t2);
    std::fprintf(stderr, "ghx_bench_fill: %zu steps marked done in %s (load %.3f s, plan %.3f s, %zu puts %.3f s)\n",
                 plan->steps.size(), argv[2], t_load, t_plan, plan->steps.size(), t_put);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "ghx_bench_fill: error: " << e.what() << "\n";
    return 1;
  }
}
