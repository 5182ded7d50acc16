#pragma once
// What the runner needs of a cache, as an interface a test can fake (as ninja's DiskInterface
// is to its Builder): which steps are done, a result, storing an outcome, and claims between
// runs. cache::Cache (cache.h) is the real one: SQLite index + blob store.
// Fails: get() never throws for a bad entry (a miss); put() and put_failure() throw ghx::Error
// when the outcome cannot be stored (disk full, read-only): the runner stops on it. heartbeat()
// and release_claims() never throw.
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "plan/key.h"

namespace ghx::cache {

struct Provenance {
  std::string tool_version;
  double duration_s = 0;
  std::string device;
  std::string inputs;  ///< the step's input keys, hex, space-separated (what `cache merge` follows)
};

/// What claim() found for one step.
enum class ClaimState : uint8_t {
  mine,  ///< claimed for this process: compute it, then put() or put_failure() releases it
  done,  ///< a success row exists (another run stored it): read it, do not compute it
  busy,  ///< a live run holds it: wait for it or take other work
};

class StepStore {
 public:
  virtual ~StepStore() = default;
  /// Keys of every done step.
  virtual plan::KeySet done_keys() = 0;
  /// The result of a done step, verified; std::nullopt for a miss (absent, missing or corrupt).
  virtual std::optional<std::string> get(const plan::StepKey& key) = 0;
  /// Stores a success; releases the step's claim. Never replaced by a later failure.
  virtual void put(const plan::StepKey& key, const std::string& kind, const std::string& bytes, const Provenance& prov,
                   const std::string& meta = "") = 0;
  /// Stores a failure unless a success is there; releases the step's claim.
  virtual void put_failure(const plan::StepKey& key, const std::string& kind, const std::string& error,
                           const Provenance& prov) = 0;
  /// Claims `keys` for this process, one state per key.
  virtual std::vector<ClaimState> claim(const std::vector<plan::StepKey>& keys) = 0;
  /// Keeps this process's claims alive (call every claim_heartbeat_ms()).
  virtual void heartbeat() = 0;
  /// Gives back every claim of this process.
  virtual void release_claims() = 0;
  virtual int64_t claim_heartbeat_ms() const = 0;
};

}  // namespace ghx::cache
