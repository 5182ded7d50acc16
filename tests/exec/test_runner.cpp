// Mirrors src/exec/runner.cpp with fake executors (ninja's FakeCommandRunner): order, caching,
// failure isolation, --keep-going, interruption, corrupt inputs recomputed.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_set>

#include "cache/cache.h"
#include "exec/runner.h"
#include "support.h"
#include "util/error.h"

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

TEST_CASE("steps run in dependency order, a second run executes nothing", "[runner]") {
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

// ---- cooperating runs (step claims, cache/cache.h) --------------------------------------------

namespace {

/// A plan of `n` generate steps, a metric on each, one aggregate over the metrics.
plan::Plan wide_plan(int n) {
  plan::Plan p;
  std::vector<uint32_t> metrics;
  for (int i = 0; i < n; ++i) {
    plan::Step g;
    g.kind = plan::StepKind::generate;
    g.params = {{"name", "g" + std::to_string(i)}};
    uint32_t gi = p.add(std::move(g));
    plan::Step m;
    m.kind = plan::StepKind::metric;
    m.params = {{"name", "m" + std::to_string(i)}};
    m.inputs = {gi};
    metrics.push_back(p.add(std::move(m)));
  }
  plan::Step a;
  a.kind = plan::StepKind::aggregate;
  a.params = {{"name", "agg"}};
  a.inputs = metrics;
  p.add(std::move(a));
  return p;
}

/// FakeExecutor that takes a little time per step, so that runs overlap.
class SlowExecutor : public FakeExecutor {
 public:
  using FakeExecutor::FakeExecutor;
  void run(const std::vector<exec::Job>& jobs, std::vector<exec::Outcome>& out) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(2 * static_cast<int>(jobs.size())));
    FakeExecutor::run(jobs, out);
  }
};

}  // namespace

TEST_CASE("runs on one cache at once compute each step once between them", "[runner][claims]") {
  test::TempDir dir;
  plan::Plan p = wide_plan(40);
  std::set<std::string> fail;
  std::vector<std::string> log;
  std::mutex mu;
  constexpr int k_runs = 4;
  std::vector<exec::RunSummary> sums(k_runs);
  std::vector<std::thread> threads;
  for (int r = 0; r < k_runs; ++r)
    threads.emplace_back([&, r] {
      auto c = cache::Cache::open(dir / "cache");  // one holder each, as separate processes are
      exec::SimpleExecutorSet execs;
      for (int k = 0; k < plan::k_step_kind_count; ++k)
        execs.set(static_cast<plan::StepKind>(k), std::make_unique<SlowExecutor>(&fail, &log, &mu));
      exec::RunOptions o;
      o.jobs = 2;
      sums[r] = exec::run_plan(p, *c, execs, o);
    });
  for (auto& t : threads) t.join();
  std::map<std::string, int> times;
  for (const auto& name : log) ++times[name];
  CHECK(times.size() == p.steps.size());
  for (const auto& [name, n] : times) CHECK(n == 1);
  int64_t executed = 0, elsewhere = 0;
  for (const auto& s : sums) {
    CHECK(s.failed == 0);
    CHECK(s.skipped == 0);
    CHECK(s.executed + s.cached + s.elsewhere == s.total);
    executed += s.executed;
    elsewhere += s.elsewhere;
  }
  CHECK(executed == static_cast<int64_t>(p.steps.size()));
  CHECK(elsewhere > 0);  // the runs did overlap
  auto c = cache::Cache::open(dir / "cache");
  CHECK(c->get(p.steps.back().key)->substr(0, 4) == "agg(");
}

TEST_CASE("a run waits for a step another run holds and reads its result", "[runner][claims]") {
  Fixture f;
  f.diamond();
  auto other = cache::Cache::open(f.dir / "cache");
  using CS = cache::ClaimState;
  REQUIRE(other->claim({f.plan.steps[0].key}) == std::vector<CS>{CS::mine});  // "a"
  SECTION("the holder stores it: read, not computed") {
    std::thread holder([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      other->put(f.plan.steps[0].key, "generate", "a-from-elsewhere", {"t", 0, "cpu"});
    });
    exec::RunSummary s = f.run();
    holder.join();
    CHECK(s.elsewhere == 1);
    CHECK(s.executed == 4);
    CHECK(std::count(f.log.begin(), f.log.end(), "a") == 0);
    CHECK(*f.cache->get(f.plan.steps[2].key) == "b(a-from-elsewhere,)");
  }
  SECTION("the holder gives it back (failed, or ended): computed here") {
    std::thread holder([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      other->release_claims();
    });
    exec::RunSummary s = f.run();
    holder.join();
    CHECK(s.elsewhere == 0);
    CHECK(s.executed == 5);
    CHECK(std::count(f.log.begin(), f.log.end(), "a") == 1);
  }
}

namespace {

/// cache/store.h in memory: what a test needs to see the runner's side of the contract.
class FakeStore : public cache::StepStore {
 public:
  std::map<std::string, std::string> done;     ///< key hex -> result
  std::map<std::string, std::string> failed;   ///< key hex -> error
  std::map<std::string, std::string> elsewhere;  ///< stored by another run after done_keys(): claim() says `done`
  std::string full;                            ///< put() throws this once set: a full disk
  int puts = 0, claims = 0, releases = 0;

  plan::KeySet done_keys() override {
    plan::KeySet s;
    for (const auto& [hex, bytes] : done) {
      plan::StepKey k;
      REQUIRE(plan::StepKey::from_hex(hex, &k));
      s.insert(k);
    }
    return s;
  }
  std::optional<std::string> get(const plan::StepKey& key) override {
    auto it = done.find(key.hex());
    if (it == done.end()) return std::nullopt;
    return it->second;
  }
  void put(const plan::StepKey& key, const std::string&, const std::string& bytes, const cache::Provenance&,
           const std::string&) override {
    if (!full.empty()) throw Error(full);
    ++puts;
    done[key.hex()] = bytes;
    failed.erase(key.hex());
  }
  void put_failure(const plan::StepKey& key, const std::string&, const std::string& error, const cache::Provenance&) override {
    if (!done.count(key.hex())) failed[key.hex()] = error;
  }
  std::vector<cache::ClaimState> claim(const std::vector<plan::StepKey>& keys) override {
    std::vector<cache::ClaimState> out;
    for (const auto& k : keys) {
      ++claims;
      auto it = elsewhere.find(k.hex());
      if (it == elsewhere.end()) {
        out.push_back(cache::ClaimState::mine);
        continue;
      }
      done[it->first] = it->second;
      elsewhere.erase(it);
      out.push_back(cache::ClaimState::done);
    }
    return out;
  }
  void heartbeat() override {}
  void release_claims() override { ++releases; }
  int64_t claim_heartbeat_ms() const override { return 1000; }
};

}  // namespace

TEST_CASE("the runner drives any cache::StepStore: a fake one in memory", "[runner][store]") {
  Fixture f;  // its executors and plan; its SQLite cache is not used here
  f.diamond();
  FakeStore store;
  exec::RunOptions o;
  exec::RunSummary s = exec::run_plan(f.plan, store, f.execs, o);
  CHECK(s.executed == 5);
  CHECK(store.puts == 5);
  CHECK(store.claims == 5);  // every step claimed before it ran
  CHECK(store.releases >= 1);  // claims given back when the run ends
  CHECK(store.done.at(f.plan.steps[4].key.hex()) == "e(b(a(),),d(c(),),)");
  f.log.clear();
  s = exec::run_plan(f.plan, store, f.execs, o);
  CHECK(s.cached == 5);
  CHECK(f.log.empty());
}

TEST_CASE("a step another run stored meanwhile is read, not computed", "[runner][store]") {
  Fixture f;
  f.diamond();
  FakeStore store;
  const std::string a = f.plan.steps[0].key.hex();
  store.elsewhere[a] = "A-from-elsewhere";  // not done when the run looked, done when it claimed
  exec::RunOptions o;
  exec::RunSummary s = exec::run_plan(f.plan, store, f.execs, o);
  CHECK(s.elsewhere == 1);
  CHECK(s.executed == 4);
  CHECK(std::find(f.log.begin(), f.log.end(), "a") == f.log.end());
  CHECK(store.done.at(f.plan.steps[2].key.hex()) == "b(A-from-elsewhere,)");  // its user read it
}

TEST_CASE("a store that cannot store stops the run with one storage error", "[runner][store]") {
  Fixture f;
  f.diamond();
  FakeStore store;
  store.full = "No space left on device";
  exec::RunOptions o;
  exec::RunSummary s = exec::run_plan(f.plan, store, f.execs, o);
  CHECK(s.storage_error.find("No space left on device") != std::string::npos);
  CHECK(s.executed == 0);
  CHECK(store.done.empty());
  CHECK(s.skipped + s.failed == 5);  // nothing after the first batch ran
  CHECK(f.log.size() <= 3);          // at most the batch in flight
}

TEST_CASE("RunOptions::only: a shard's steps run, the others are left alone and counted", "[runner][store][shard]") {
  Fixture f;
  f.diamond();  // a -> b, c -> d, both -> e
  FakeStore store;
  std::vector<bool> only(f.plan.steps.size(), false);
  only[0] = only[2] = true;  // the chain a -> b
  exec::RunOptions o;
  o.only = &only;
  exec::RunSummary s = exec::run_plan(f.plan, store, f.execs, o);
  CHECK(s.executed == 2);
  CHECK(s.others == 3);
  CHECK(s.skipped == 0);  // not this run's: not "not run"
  std::set<std::string> ran(f.log.begin(), f.log.end());
  CHECK(ran == std::set<std::string>{"a", "b"});
  CHECK(store.done.size() == 2);
  // The steps it stored record their inputs (what `cache merge` follows).
  cache::Cache& c = *f.cache;
  exec::run_plan(f.plan, c, f.execs, o);
  auto rec = c.record(f.plan.steps[2].key);
  REQUIRE(rec);
  CHECK(rec->provenance.inputs == f.plan.steps[0].key.hex());
  CHECK(c.record(f.plan.steps[0].key)->provenance.inputs.empty());
}
