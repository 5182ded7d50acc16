#pragma once
// Test support for planner tests: load an experiment and plan it, failing the test (with every
// diagnostic) when either step fails.
#include <catch2/catch.hpp>

#include <string>

#include "dsl/loader.h"
#include "plan/plan.h"

namespace ghx::test {

struct Planned {
  dsl::Review review;
  plan::Plan plan;
  std::string diagnostics;  ///< everything the loader and planner printed (warnings included)
  size_t files_read = 0;    ///< files the hasher read (not answered by `memo`)
};

inline Planned load_and_plan(const std::string& exp, plan::HashMemo* memo = nullptr) {
  dsl::Diagnostics d;
  auto r = dsl::load_review(exp, d);
  INFO(d.format_all());
  REQUIRE(r);
  plan::FileHasher h(memo);
  auto p = plan::build_plan(*r, h, d);
  INFO(d.format_all());
  REQUIRE(p);
  return {std::move(*r), std::move(*p), d.format_all(), h.files_read()};
}

}  // namespace ghx::test
