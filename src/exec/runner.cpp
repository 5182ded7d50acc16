#include "exec/runner.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "util/error.h"

namespace ghx::exec {

namespace {

enum class State : uint8_t { cached, pending, done, failed, skipped, other };

/// Keeps this process's claims alive (cache/cache.h) while the run computes; gives them back
/// when it ends, however it ends.
class Heartbeat {
 public:
  Heartbeat(cache::StepStore& c, bool on) : m_cache(c) {
    if (on) m_thread = std::thread([this] { beat(); });
  }
  ~Heartbeat() {
    {
      std::lock_guard<std::mutex> lock(m_mu);
      m_stop = true;
    }
    m_cv.notify_all();
    if (m_thread.joinable()) m_thread.join();
    m_cache.release_claims();
  }

 private:
  void beat() {
    std::unique_lock<std::mutex> lock(m_mu);
    while (!m_cv.wait_for(lock, std::chrono::milliseconds(m_cache.claim_heartbeat_ms()), [this] { return m_stop; })) {
      lock.unlock();
      m_cache.heartbeat();
      lock.lock();
    }
  }
  cache::StepStore& m_cache;
  std::mutex m_mu;
  std::condition_variable m_cv;
  bool m_stop = false;
  std::thread m_thread;
};

class Run {
 public:
  Run(const plan::Plan& p, cache::StepStore& c, ExecutorSet& e, const RunOptions& o)
      : m_plan(p), m_cache(c), m_exec(e), m_opts(o), m_state(p.steps.size(), State::pending) {}

  RunSummary go() {
    const auto& steps = m_plan.steps;
    m_sum.total = static_cast<int64_t>(steps.size());
    plan::KeySet read;
    if (!m_opts.done) read = m_cache.done_keys();
    const auto& done = m_opts.done ? *m_opts.done : read;
    std::vector<uint32_t> fanout(steps.size(), 0);
    for (size_t i = 0; i < steps.size(); ++i) {
      if (m_opts.only && !(*m_opts.only)[i]) {
        m_state[i] = State::other;
        ++m_sum.others;
      } else if (done.count(steps[i].key)) {
        m_state[i] = State::cached;
        ++m_sum.cached;
      }
      for (uint32_t in : steps[i].inputs) ++fanout[in];
    }
    for (size_t i = 0; i < steps.size(); ++i)
      if (fanout[i] > 8) m_shared.insert(static_cast<uint32_t>(i));

    // Levels: a pending step runs one level after its latest pending input.
    std::vector<int> level(steps.size(), 0);
    int max_level = 0;
    for (size_t i = 0; i < steps.size(); ++i) {
      if (m_state[i] != State::pending) continue;
      int l = 1;
      for (uint32_t in : steps[i].inputs)
        if (m_state[in] == State::pending) l = std::max(l, level[in] + 1);
      level[i] = l;
      max_level = std::max(max_level, l);
    }
    std::vector<std::vector<uint32_t>> by_level(max_level + 1);
    for (size_t i = 0; i < steps.size(); ++i)
      if (m_state[i] == State::pending) by_level[level[i]].push_back(static_cast<uint32_t>(i));

    int64_t to_run = m_sum.total - m_sum.cached - m_sum.others;
    if (m_opts.progress) m_opts.progress->start(to_run);
    {
      Heartbeat beat(m_cache, to_run > 0);
      for (int l = 1; l <= max_level; ++l) {
        if (stopping()) break;
        run_level(by_level[l]);
        wait_for_others();
      }
    }
    for (size_t i = 0; i < steps.size(); ++i)
      if (m_state[i] == State::pending || m_state[i] == State::skipped) ++m_sum.skipped;
    m_sum.interrupted = interrupted();
    if (m_opts.progress) m_opts.progress->finish();
    return m_sum;
  }

 private:
  bool interrupted() const { return m_opts.interrupted && m_opts.interrupted->load(); }
  bool stopping() const {
    return interrupted() || m_storage_failed.load() || (m_opts.keep_going == KeepGoing::no && m_any_failed.load());
  }

  void run_level(const std::vector<uint32_t>& ids) {
    // Skip steps with a failed input; group the rest by kind, in plan order.
    std::vector<uint32_t> ready;
    for (uint32_t i : ids) {
      bool blocked = false;
      for (uint32_t in : m_plan.steps[i].inputs)
        if (m_state[in] == State::failed || m_state[in] == State::skipped) blocked = true;
      if (blocked) m_state[i] = State::skipped;
      else ready.push_back(i);
    }
    run_steps(ready);
  }

  /// Steps of this level that other runs hold: wait until each is stored (read it then), or its
  /// holder gives it back or dies (take it then). Polls the cache, from 50 ms up to 1 s apart.
  void wait_for_others() {
    int delay_ms = 50;
    while (!m_busy.empty() && !stopping()) {
      std::vector<uint32_t> ids;
      ids.swap(m_busy);
      std::vector<uint32_t> mine, busy;
      if (!claim_steps(ids, &mine, &busy)) return;
      if (!mine.empty()) {
        run_steps(mine, /*claimed=*/true);
        delay_ms = 50;
      }
      m_busy.insert(m_busy.end(), busy.begin(), busy.end());
      if (busy.empty() || !mine.empty()) continue;
      if (m_opts.progress) m_opts.progress->advance(0, "waiting for " + std::to_string(m_busy.size()) + " step(s) another run holds");
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      delay_ms = std::min(1000, delay_ms * 2);
    }
  }

  /// Claims `ids` in the cache: the steps this run got go to `mine`, those another run holds to
  /// `busy`; those another run stored are counted done here. False when the cache cannot be
  /// used: every step is then failed, with why.
  bool claim_steps(const std::vector<uint32_t>& ids, std::vector<uint32_t>* mine, std::vector<uint32_t>* busy) {
    std::vector<plan::StepKey> keys;
    for (uint32_t i : ids) keys.push_back(m_plan.steps[i].key);
    std::vector<cache::ClaimState> st;
    try {
      st = m_cache.claim(keys);
    } catch (const std::exception& e) {
      for (uint32_t i : ids) {
        Outcome o;
        o.error = std::string("cannot claim step: ") + e.what();
        commit_outcome(i, o);
      }
      return false;
    }
    for (size_t k = 0; k < ids.size(); ++k) {
      if (st[k] == cache::ClaimState::mine) mine->push_back(ids[k]);
      else if (st[k] == cache::ClaimState::busy) busy->push_back(ids[k]);
      else done_elsewhere(ids[k]);
    }
    return true;
  }

  void done_elsewhere(uint32_t i) {
    {
      std::lock_guard<std::mutex> lock(m_sum_mu);
      m_state[i] = State::done;
      ++m_sum.elsewhere;
    }
    if (m_opts.progress) m_opts.progress->advance(1, "stored by another run");
  }

  void run_steps(const std::vector<uint32_t>& ready, bool claimed = false) {
    std::map<int, std::vector<uint32_t>> by_kind;
    for (uint32_t i : ready) by_kind[static_cast<int>(m_plan.steps[i].kind)].push_back(i);
    std::vector<std::vector<uint32_t>> batches;
    for (auto& [kind, v] : by_kind) {
      Executor* ex = m_exec.get(static_cast<plan::StepKind>(kind));
      size_t mb = ex ? std::max<size_t>(1, ex->max_batch()) : 1;
      // Group by the executor's batch key (first-seen order), then cut each group to size.
      std::vector<std::string> order;
      std::unordered_map<std::string, std::vector<uint32_t>> groups;
      for (uint32_t i : v) {
        std::string k = ex ? ex->batch_key(m_plan.steps[i]) : std::string();
        auto [it, fresh] = groups.try_emplace(k);
        if (fresh) order.push_back(k);
        it->second.push_back(i);
      }
      for (const auto& k : order) {
        const auto& g = groups[k];
        size_t lim = ex ? std::max<size_t>(1, std::min(mb, ex->batch_limit(m_plan.steps[g[0]]))) : 1;
        for (size_t s = 0; s < g.size(); s += lim)
          batches.emplace_back(g.begin() + static_cast<long>(s), g.begin() + static_cast<long>(std::min(g.size(), s + lim)));
      }
    }
    std::atomic<size_t> next{0};
    auto worker = [&] {
      for (;;) {
        if (stopping()) return;
        size_t b = next.fetch_add(1);
        if (b >= batches.size()) return;
        run_batch(batches[b], claimed);
      }
    };
    int n = std::max(1, std::min<int>(m_opts.jobs, static_cast<int>(batches.size())));
    std::vector<std::thread> threads;
    for (int t = 1; t < n; ++t) threads.emplace_back(worker);
    worker();
    for (auto& t : threads) t.join();
  }

  /// The result bytes of step `i` (cached or just made). A corrupt or vanished cached result is
  /// recomputed inline. Throws ghx::Error if it cannot be had.
  std::shared_ptr<const std::string> result_of(uint32_t i, std::unordered_map<uint32_t, std::shared_ptr<const std::string>>& memo) {
    auto it = memo.find(i);
    if (it != memo.end()) return it->second;
    if (m_shared.count(i)) {
      std::lock_guard<std::mutex> lock(m_shared_mu);
      auto s = m_shared_results.find(i);
      if (s != m_shared_results.end()) return memo[i] = s->second;
    }
    std::shared_ptr<const std::string> r;
    if (auto bytes = m_cache.get(m_plan.steps[i].key)) {
      r = std::make_shared<const std::string>(std::move(*bytes));
    } else {
      std::vector<Outcome> out;
      execute({i}, out, memo);
      if (!out[0].ok) throw Error("input " + m_plan.steps[i].label() + " failed: " + out[0].error);
      r = std::make_shared<const std::string>(std::move(out[0].bytes));
    }
    if (m_shared.count(i)) {
      std::lock_guard<std::mutex> lock(m_shared_mu);
      m_shared_results[i] = r;
    }
    return memo[i] = r;
  }

  /// Runs one batch of steps of one kind and commits every outcome.
  void execute(const std::vector<uint32_t>& ids, std::vector<Outcome>& out,
               std::unordered_map<uint32_t, std::shared_ptr<const std::string>>& memo) {
    const plan::Step& first = m_plan.steps[ids[0]];
    Executor* ex = m_exec.get(first.kind);
    out.assign(ids.size(), Outcome{});
    std::vector<Job> jobs;
    std::vector<size_t> job_pos;
    std::vector<std::vector<std::shared_ptr<const std::string>>> hold(ids.size());
    for (size_t k = 0; k < ids.size(); ++k) {
      const plan::Step& s = m_plan.steps[ids[k]];
      if (!ex) {
        out[k].error = std::string("no executor for step kind '") + plan::kind_name(s.kind) + "'";
        continue;
      }
      try {
        Job j;
        j.step = &s;
        for (uint32_t in : s.inputs) {
          hold[k].push_back(result_of(in, memo));
          j.inputs.push_back(hold[k].back().get());
        }
        jobs.push_back(std::move(j));
        job_pos.push_back(k);
      } catch (const std::exception& e) {
        out[k].error = e.what();
      }
    }
    if (!jobs.empty()) {
      std::vector<Outcome> got;
      ex->run(jobs, got);
      for (size_t j = 0; j < jobs.size(); ++j) out[job_pos[j]] = std::move(got[j]);
    }
    for (size_t k = 0; k < ids.size(); ++k)
      commit(ids[k], out[k], !out[k].device.empty() ? out[k].device : ex ? ex->device() : "none");
  }

  /// Claims a batch's steps, runs those it got, and leaves the ones other runs hold for
  /// wait_for_others(). `claimed`: the caller holds every claim already.
  void run_batch(std::vector<uint32_t> ids, bool claimed) {
    if (!claimed) {
      std::vector<uint32_t> mine, busy;
      if (!claim_steps(ids, &mine, &busy)) return;
      {
        std::lock_guard<std::mutex> lock(m_sum_mu);
        m_busy.insert(m_busy.end(), busy.begin(), busy.end());
      }
      ids.swap(mine);
      if (ids.empty()) return;
    }
    std::unordered_map<uint32_t, std::shared_ptr<const std::string>> memo;
    std::vector<Outcome> out;
    execute(ids, out, memo);
    if (m_opts.progress) {
      std::string what = plan::kind_name(m_plan.steps[ids[0]].kind);
      Executor* ex = m_exec.get(m_plan.steps[ids[0]].kind);
      std::string st = ex ? ex->status() : "";
      m_opts.progress->advance(static_cast<int64_t>(ids.size()), st.empty() ? what : what + " " + st);
    }
  }

  void commit(uint32_t i, Outcome& o, const std::string& device) {
    const plan::Step& s = m_plan.steps[i];
    cache::Provenance prov{m_opts.tool_version, o.duration_s, device, {}};
    for (uint32_t in : s.inputs) prov.inputs += (prov.inputs.empty() ? "" : " ") + m_plan.steps[in].key.hex();
    try {
      if (o.ok) m_cache.put(s.key, plan::kind_name(s.kind), o.bytes, prov, o.meta);
      else m_cache.put_failure(s.key, plan::kind_name(s.kind), o.error, prov);
    } catch (const std::exception& e) {
      // The cache cannot take results (disk full, read-only, I/O error): no step's fault, and
      // every next one would fail the same way. Stop, even with --keep-going.
      {
        std::lock_guard<std::mutex> lock(m_sum_mu);
        if (m_sum.storage_error.empty()) m_sum.storage_error = e.what();
      }
      m_storage_failed = true;
      if (o.ok) {
        o.ok = false;
        o.error = std::string("cannot store result: ") + e.what();
      }
    }
    commit_outcome(i, o);
  }

  /// Counts an outcome in the summary (the cache holds it already, or could not take it).
  void commit_outcome(uint32_t i, const Outcome& o) {
    const plan::Step& s = m_plan.steps[i];
    std::lock_guard<std::mutex> lock(m_sum_mu);
    if (o.ok) {
      m_state[i] = State::done;
      ++m_sum.executed;
    } else {
      m_state[i] = State::failed;
      ++m_sum.failed;
      m_any_failed = true;
      m_sum.failures.push_back({s.key.hex(), s.label(), o.error});
    }
  }

  const plan::Plan& m_plan;
  cache::StepStore& m_cache;
  ExecutorSet& m_exec;
  const RunOptions& m_opts;
  std::vector<State> m_state;
  RunSummary m_sum;
  std::mutex m_sum_mu;
  std::atomic<bool> m_any_failed{false};
  std::atomic<bool> m_storage_failed{false};
  std::vector<uint32_t> m_busy;  // steps of the current level that other runs hold (m_sum_mu)
  std::unordered_set<uint32_t> m_shared;  // steps with many users: results kept in memory
  std::unordered_map<uint32_t, std::shared_ptr<const std::string>> m_shared_results;
  std::mutex m_shared_mu;
};

}  // namespace

RunSummary run_plan(const plan::Plan& plan, cache::StepStore& cache, ExecutorSet& executors, const RunOptions& opts) {
  return Run(plan, cache, executors, opts).go();
}

}  // namespace ghx::exec
