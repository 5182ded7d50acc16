#pragma once
// A shared remote cache in front of the local one (`[cache] remote`, `ghx run --remote`;
// docs/cluster.md), over the paths and verbs of Bazel's HTTP remote-cache protocol:
//   GET|HEAD|PUT <remote>/cas/<sha256 of the bytes>   a result's bytes
//   GET|HEAD|PUT <remote>/ac/<step key>               ghx's record of the step: JSON with the
//                                                     kind, the cas address and size, provenance
// so any server of that protocol serves it (nginx with WebDAV PUT, bazel-remote with its AC
// validation off: the ac value is ghx's JSON, not Bazel's ActionResult protobuf).
// Owns: the order of writes (the bytes first, the record last: a reader never finds a record
// without its bytes) and of reads (a record whose bytes are gone, evicted, or do not match
// their hash is a miss, never an error or wrong data).
// Cooperates: wraps the local cache as a StepStore for the runner. claim() asks the remote for
// each step the local cache lacks and this run got: a hit is stored locally (then read as if
// another run had stored it); put() stores locally, then uploads. done_keys() and get() are
// the local cache's.
// Fails: never fails a step for the remote's sake: an unreachable or refusing remote is warned
// about once, counted, and the run goes on computing locally. A remote that stops answering
// (no connection, a timeout) is not asked again by this run.
#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "cache/cache.h"

namespace ghx::cache {

struct RemoteStats {
  int64_t hits = 0;      ///< steps fetched from the remote instead of computed
  int64_t misses = 0;    ///< steps looked up and not there (or evicted, or damaged)
  int64_t uploads = 0;   ///< results stored to the remote
  int64_t errors = 0;    ///< exchanges that failed (connection, refused writes)
  int64_t bytes_in = 0;
  int64_t bytes_out = 0;
  double lookup_s = 0;   ///< time spent in lookups and fetches, all threads together
};

class RemoteStore : public StepStore {
 public:
  /// `url`: "http://HOST:PORT/" or with a path prefix ("http://HOST/ghx/"). Throws ghx::Error
  /// for a URL that is not http(s)://HOST[:PORT][/PATH].
  RemoteStore(Cache& local, const std::string& url, double timeout_s = 30);
  ~RemoteStore() override;

  /// One request to the server: false (and why) when nothing answers. Any HTTP status counts
  /// as an answer (a 404 for an absent record is the normal answer).
  bool reachable(std::string* why);

  plan::KeySet done_keys() override { return m_local.done_keys(); }
  std::optional<std::string> get(const plan::StepKey& key) override { return m_local.get(key); }
  void put(const plan::StepKey& key, const std::string& kind, const std::string& bytes, const Provenance& prov,
           const std::string& meta = "") override;
  void put_failure(const plan::StepKey& key, const std::string& kind, const std::string& error,
                   const Provenance& prov) override {
    m_local.put_failure(key, kind, error, prov);  // failures stay local: another host may succeed
  }
  std::vector<ClaimState> claim(const std::vector<plan::StepKey>& keys) override;
  void heartbeat() override { m_local.heartbeat(); }
  void release_claims() override { m_local.release_claims(); }
  int64_t claim_heartbeat_ms() const override { return m_local.claim_heartbeat_ms(); }

  /// Fetches one step from the remote into the local cache: true on a hit.
  bool fetch(const plan::StepKey& key);
  RemoteStats stats() const;
  const std::string& url() const { return m_url; }

 private:
  struct Http;
  void warn(const std::string& what);

  Cache& m_local;
  std::string m_url;
  std::unique_ptr<Http> m_http;
  mutable std::mutex m_mu;
  RemoteStats m_stats;
  bool m_warned = false;
  std::atomic<bool> m_down{false};  ///< it stopped answering: this run goes on without it
};

/// For code outside libghx_heavy.so (run/, through src/heavy/heavy.h), which must not name the
/// class (its type information is the module's): a RemoteStore as a StepStore, and what the
/// two members above give of one made by open_remote_store.
std::unique_ptr<StepStore> open_remote_store(Cache& local, const std::string& url, double timeout_s = 30);
bool remote_reachable(StepStore& remote, std::string* why);
RemoteStats remote_stats(const StepStore& remote);

}  // namespace ghx::cache
