// Mirrors src/exec/runner.cpp with fake executors (ninja's FakeCommandRunner): order, caching,
// failure isolation, --keep-going, interruption, corrupt inputs recomputed.
#include <catch2/catch.hpp>

#include <mutex>
#include <set>

#include "exec/runner.h"
#include "support.h"

using namespace ghx;

namespace {

/// Result = kind + params + inputs' results; fails for steps whose "name" param is in `fail`.
class FakeExecutor : public exec::Executor {
 public:
  FakeExecutor(std::set<std::string>* fail, std::vector<std::string>* log, std::mutex* mu)
      : m_fail(fail), m_log(log), m_mu(mu) {}
  size_t max_batch() const override { return 3; }
  void run(const std::vector<exec::Job>& jobs, std::vector<exec::Outcome>& out) override {
    out.assign(jobs.size(), {});
    for (size_t i = 0; i < jobs.size(); ++i) {
      const std::string& name = jobs[i].step->param("name");
      {
        std::lock_guard<std::mutex> l(*m_mu);
        m_log->push_back(name);
      }
      if (m_fail->count(name)) {
        out[i].error = "fake failure of " + name;
        continue;
      }
      std::string r = name + "(";
      for (const auto* in : jobs[i].inputs) r += *in + ",";
      out[i].bytes = r + ")";
      out[i].ok = true;
    }
  }

 private:
  std::set<std::string>* m_fail;
  std::vector<std::string>* m_log;
  std::mutex* m_mu;
};

struct Fixture {
  test::TempDir dir;
  std::unique_ptr<cache::Cache> cache = cache::Cache::open(dir / "cache");
  std::set<std::string> fail;
  std::vector<std::string> log;
  std::mutex mu;
  exec::SimpleExecutorSet execs;
  plan::Plan plan;

  Fixture() {
    for (int k = 0; k < plan::k_step_kind_count; ++k)
      execs.set(static_cast<plan::StepKind>(k), std::make_unique<FakeExecutor>(&fail, &log, &mu));
  }
  uint32_t add(const std::string& name, plan::StepKind kind, std::vector<uint32_t> inputs = {}) {
    plan::Step s;
    s.kind = kind;
    s.params = {{"name", name}};
    s.inputs = std::move(inputs);
    return plan.add(std::move(s));
  }
  exec::RunSummary run(exec::KeepGoing kg = exec::KeepGoing::no, const std::atomic<bool>* stop = nullptr, int jobs = 1) {
    log.clear();
    exec::RunOptions o;
    o.keep_going = kg;
    o.interrupted = stop;
    o.jobs = jobs;
    return exec::run_plan(plan, *cache, execs, o);
  }
  /// Two independent chains a -> b and c -> d, joined by e.
  void diamond() {
    uint32_t a = add("a", plan::StepKind::generate);
    uint32_t c = add("c", plan::StepKind::generate);
    uint32_t b = add("b", plan::StepKind::metric, {a});
    uint32_t d = add("d", plan::StepKind::metric, {c});
    add("e", plan::StepKind::aggregate, {b, d});
  }
};

}  // namespace

TEST_CASE("steps run in dependency order; a second run executes nothing", "[runner]") {
  Fixture f;
  f.diamond();
  exec::RunSummary s = f.run(exec::KeepGoing::no, nullptr, 2);
  CHECK(s.executed == 5);
  CHECK(s.failed == 0);
  CHECK(f.log.back() == "e");
  CHECK(f.cache->get(f.plan.steps[4].key) == std::optional<std::string>("e(b(a(),),d(c(),),)"));
  s = f.run();
  CHECK(s.executed == 0);
  CHECK(s.cached == 5);
  CHECK(f.log.empty());
}

TEST_CASE("a failure skips only its dependents with --keep-going", "[runner]") {
  Fixture f;
  f.diamond();
  f.fail = {"a"};
  exec::RunSummary s = f.run(exec::KeepGoing::yes);
  CHECK(s.failed == 1);
  CHECK(s.executed == 2);  // c, d
  CHECK(s.skipped == 2);   // b, e
  REQUIRE(s.failures.size() == 1);
  CHECK(s.failures[0].error == "fake failure of a");
  CHECK(f.cache->record(f.plan.steps[0].key)->error == "fake failure of a");
  // fixed: the failed step and its dependents run, the rest is cached
  f.fail.clear();
  s = f.run();
  CHECK(s.executed == 3);
  CHECK(s.cached == 2);
}

TEST_CASE("without --keep-going the run stops after the batch in flight", "[runner]") {
  Fixture f;
  f.diamond();
  f.fail = {"a"};
  exec::RunSummary s = f.run(exec::KeepGoing::no);
  CHECK(s.failed == 1);
  CHECK(s.executed == 1);  // c was in a's batch
  CHECK(s.skipped == 3);
  CHECK(std::set<std::string>(f.log.begin(), f.log.end()) == std::set<std::string>{"a", "c"});
}

TEST_CASE("an interrupted run starts nothing new and keeps what finished", "[runner]") {
  Fixture f;
  f.diamond();
  std::atomic<bool> stop{true};
  exec::RunSummary s = f.run(exec::KeepGoing::no, &stop);
  CHECK(s.interrupted);
  CHECK(s.executed == 0);
  CHECK(f.log.empty());
  stop = false;
  CHECK(f.run(exec::KeepGoing::no, &stop).executed == 5);
}

TEST_CASE("a corrupt cached input is recomputed before its user runs", "[runner]") {
  Fixture f;
  uint32_t a = f.add("a", plan::StepKind::generate);
  f.add("b", plan::StepKind::metric, {a});
  f.run();
  // corrupt a's blob, drop b's row: b must run and read a recomputed a
  auto rec = f.cache->record(f.plan.steps[0].key);
  test::write_text(f.cache->dir() + "/objects/" + rec->blob.substr(0, 2) + "/" + rec->blob.substr(2), "garbage");
  f.cache->set_warning_sink([](const std::string&) {});
  f.cache->forget(f.plan.steps[1].key);  // (a failure row would not replace its success)
  exec::RunSummary s = f.run();
  CHECK(s.failed == 0);
  CHECK(s.executed == 2);  // b, and a inline
  CHECK(f.cache->get(f.plan.steps[1].key) == std::optional<std::string>("b(a(),)"));
}
