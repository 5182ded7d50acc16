#pragma once
// The cache: a SQLite index (<cache>/ghx.db, WAL) of step results plus the blob store
// (<cache>/objects/, see cache/blob_store.h).
//
// Index format 2:
//   meta(name PRIMARY KEY, value)          format_version = "2", created_by = tool version
//   steps(key PRIMARY KEY, kind, status, blob, size, error, tool_version, duration_s, device,
//         created_at, meta, inputs)        key = 32 hex digits; status 0 = done, 1 = failed;
//                                          blob = address of the result (done) or NULL;
//                                          meta = provenance JSON (request, answer) or NULL;
//                                          inputs = the input keys, space-separated, or NULL
//                                          (added to format 2 without a version change)
//   file_hashes(path PRIMARY KEY, size, mtime_ns, inode, sha256, ctime_ns, dev)   plan/file_hasher.h's memo
//   runs(holder PRIMARY KEY, host, local, pid, start, started_ms, heartbeat_ms)   live runs
//   claims(key PRIMARY KEY, holder, claimed_ms)   steps a run is computing
//   report_stamps(dir PRIMARY KEY, stamp)   what each report folder was last written from
//   plan_stamps(run PRIMARY KEY, stamp)   what a review's last complete run was planned from
//   meta 'done_removals': +1 (by triggers, whoever writes) each time a stored result is deleted
//     or changed; a plan stamp holds the count it saw (run/run.h's no-op shortcut)
// Cooperating runs: a run claims a step before computing it (claim()); another run that needs
// it waits or takes other work; a claim whose holder died (same machine: its pid is gone or
// reused) or has not beaten its heart for claim_timeout_ms() is taken over. Storing a step's
// outcome releases its claim in the same transaction. runs and claims were added to format 2
// without a version change: a build that does not know them ignores them.
// A result is committed blob first (fsync + rename), then its row in one transaction: after a
// crash a row always has its blob; a blob without a row is garbage that `gc` removes.
// Format 2 added steps.meta; a version 1 index is upgraded in place at open (one ALTER TABLE).
// Any other version is refused at open (ghx::Error), never guessed at.
// A blob that fails its checksum on read is logged, its row dropped, and it counts as a miss.
// Thread-safe: one mutex serialises every use of the connection.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "cache/blob_store.h"
#include "cache/store.h"
#include "plan/file_hasher.h"
#include "plan/key.h"

namespace SQLite {
class Database;
}

namespace ghx::cache {

constexpr int k_format_version = 2;

struct StepRecord {
  std::string key;
  std::string kind;
  int status = 0;  ///< 0 done, 1 failed
  std::string blob;
  int64_t size = 0;
  std::string error;
  Provenance provenance;
  int64_t created_at = 0;
  std::string meta;
};

struct KindStats {
  int64_t done = 0;
  int64_t failed = 0;
  int64_t bytes = 0;
};

struct Stats {
  std::map<std::string, KindStats> by_kind;
  int64_t blobs = 0;
  int64_t blob_bytes = 0;
  int64_t db_bytes = 0;
  int64_t file_hashes = 0;
};

struct VerifyReport {
  int64_t checked = 0;
  std::vector<std::pair<std::string, std::string>> bad;  ///< (step key, "missing"|"corrupt")
  int64_t repaired = 0;
};

struct GcReport {
  int64_t orphan_blobs = 0;
  int64_t temp_files = 0;
  int64_t failed_rows = 0;
  int64_t bytes_freed = 0;
  int64_t live_runs = 0;       ///< other runs working on this cache while gc ran
  int64_t temp_files_kept = 0; ///< temporary files a live run may still be writing
};

enum class Repair { no, yes };

/// A generation step two sources hold with different images (GPU non-determinism): one is
/// kept, chosen by a rule that does not depend on the order of the sources.
struct MergeChoice {
  std::string key;
  std::string kept;  ///< the source whose image is kept ("DEST" when the destination had it)
  std::string left;  ///< the source whose image is left out
};

struct MergeReport {
  std::vector<std::string> sources;
  int64_t rows = 0;             ///< done rows in the sources
  int64_t copied = 0;           ///< rows copied into the destination
  int64_t present = 0;          ///< already in the destination with the same result
  int64_t bytes = 0;            ///< blob bytes copied (each re-hashed on the way)
  int64_t failures_left = 0;    ///< failure rows not merged: the next run retries those steps
  int64_t dependents_left = 0;  ///< rows made from an image that was not kept: recomputed by the next run
  int64_t corrupt_left = 0;     ///< rows whose source blob is missing or corrupt: recomputed by the next run
  std::vector<MergeChoice> choices;
  double seconds = 0;
};

/// How processes share a cache. `shared`: WAL, any number of processes on one machine (WAL
/// needs memory shared between them). `exclusive`: a rollback journal and SQLite's exclusive
/// locking mode, one process at a time (another gets a clear error). `automatic`: exclusive on a
/// network file system (util::network_fs_of: NFS, CIFS, FUSE, ...), shared elsewhere;
/// GHX_CACHE_SHARING=shared|exclusive overrides it.
enum class Sharing { automatic, shared, exclusive };

class Cache : public StepStore, public plan::HashMemo {
 public:
  /// Opens (creating if needed) the cache folder. Throws ghx::Error with the reason: not
  /// writable, not a ghx cache, a format version this build does not read, in use by another
  /// process (exclusive sharing).
  static std::unique_ptr<Cache> open(const std::string& dir, Sharing sharing = Sharing::automatic);
  /// The sharing open() chose, and why ("NFS" for a network file system, "" when local).
  Sharing sharing() const { return m_sharing; }
  const std::string& network_fs() const { return m_network_fs; }
  ~Cache() override;

  const std::string& dir() const { return m_dir; }

  /// Keys of every done step (one query: the planner's hit test).
  plan::KeySet done_keys() override;
  std::optional<StepRecord> record(const plan::StepKey& key);

  /// The result of a done step, verified. A missing or corrupt blob: the row is dropped, a
  /// warning is logged through the warning sink, and std::nullopt is returned (a miss).
  std::optional<std::string> get(const plan::StepKey& key) override;
  void put(const plan::StepKey& key, const std::string& kind, const std::string& bytes, const Provenance& prov,
           const std::string& meta = "") override;
  /// Drops a step's row (its blob stays until gc): a result its reader found unusable is
  /// recomputed by the next run.
  void forget(const plan::StepKey& key);
  void put_failure(const plan::StepKey& key, const std::string& kind, const std::string& error,
                   const Provenance& prov) override;

  /// Claims `keys` for this process in one transaction (registering it in `runs` on first use).
  /// Claims of dead or silent runs are taken over, and their rows removed.
  std::vector<ClaimState> claim(const std::vector<plan::StepKey>& keys) override;
  /// Tells other runs this process is alive (call every claim_heartbeat_ms()). Never throws.
  void heartbeat() override;
  /// Gives back every claim of this process and its `runs` row. Never throws. Also done by the
  /// destructor.
  void release_claims() override;
  /// A holder silent for longer is dead: GHX_CLAIM_TIMEOUT seconds (default 60).
  int64_t claim_timeout_ms() const { return m_claim_timeout_ms; }
  int64_t claim_heartbeat_ms() const override;
  void set_claim_timeout_ms(int64_t ms) { m_claim_timeout_ms = ms; }

  /// `ghx cache merge`: copies every done step of the caches in `sources` (folders, opened read
  /// only) that this cache lacks, blob first (re-hashed), then its row, in transactions of a few
  /// hundred rows: idempotent, and a killed merge resumes where it stopped. Steps that must be
  /// deterministic (all but generation) stored with different results in two caches are a hard
  /// error, found before anything is copied (ghx::Error, nothing merged). A generation step held
  /// with different images: the destination's is kept, else the one with the smallest content
  /// hash; rows a source made from an image that was not kept are left out. `progress(done,
  /// total)` after each copied row.
  MergeReport merge_from(const std::vector<std::string>& sources,
                         const std::function<void(int64_t, int64_t)>& progress = {});

  /// What a report folder held when `ghx run` last wrote it (the run layer's stamp: what it was
  /// made from and each file's size and mtime), so that a run with nothing new does not write
  /// it again; "" when none. `dir` is the folder's absolute path.
  std::string report_stamp(const std::string& dir);
  void set_report_stamp(const std::string& dir, const std::string& stamp);
  /// The run layer's record of a review's last complete run ("" when none), by its id (the
  /// review's and report folder's absolute paths).
  std::string plan_stamp(const std::string& run);
  void set_plan_stamp(const std::string& run, const std::string& stamp);
  /// How many times a stored result has been deleted or changed since the cache was made (a
  /// trigger counts them, so SQLite's own shell counts too); -1 if unknown.
  int64_t done_removals();

  Stats stats();
  VerifyReport verify(Repair repair, const std::function<void(int64_t, int64_t)>& progress = {});
  GcReport gc();

  std::optional<std::string> lookup(const std::string& abs_path, const plan::FileStat& st) override;
  void store(const std::string& abs_path, const plan::FileStat& st, const std::string& sha256) override;

  /// Where warnings (a corrupt entry found) go; default stderr.
  void set_warning_sink(std::function<void(const std::string&)> sink) { m_warn = std::move(sink); }

 private:
  Cache(std::string dir, std::unique_ptr<SQLite::Database> db);
  void drop_row(const std::string& key_hex);
  /// Inside a write transaction: removes this process's claim on a step, if it has one.
  void release_claim(const std::string& key_hex);
  /// Inside a write transaction: registers or refreshes this process's `runs` row.
  void touch_run_row();
  /// Inside a transaction: holders of `runs` that are alive; removes the dead ones and their
  /// claims when `reap`. `oldest_ms` gets the earliest start of a live run other than this one.
  std::unordered_set<std::string> live_holders(bool reap, int64_t* oldest_ms);
  /// Inside a write transaction: removes a holder's claims and its `runs` row.
  void forget_holder(const std::string& holder);

  std::string m_dir;
  std::unique_ptr<SQLite::Database> m_db;
  BlobStore m_blobs;
  std::mutex m_mu;
  std::function<void(const std::string&)> m_warn;
  std::string m_holder;     ///< this open cache in `runs` (host:pid:start:serial)
  bool m_joined = false;    ///< has a `runs` row
  int64_t m_started_ms = 0;
  int64_t m_claim_timeout_ms = 60000;
  Sharing m_sharing = Sharing::shared;
  std::string m_network_fs;
};

}  // namespace ghx::cache
