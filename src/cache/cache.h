#pragma once
// The cache: a SQLite index (<cache>/ghx.db, WAL) of step results plus the blob store
// (<cache>/objects/, see cache/blob_store.h).
//
// Index format 2:
//   meta(name PRIMARY KEY, value)          format_version = "2", created_by = tool version
//   steps(key PRIMARY KEY, kind, status, blob, size, error, tool_version, duration_s, device,
//         created_at, meta)                key = 32 hex digits; status 0 = done, 1 = failed;
//                                          blob = address of the result (done) or NULL;
//                                          meta = provenance JSON (request, answer) or NULL
//   file_hashes(path PRIMARY KEY, size, mtime_ns, inode, sha256, ctime_ns, dev)   plan/file_hasher.h's memo
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
#include "plan/file_hasher.h"
#include "plan/key.h"

namespace SQLite {
class Database;
}

namespace ghx::cache {

constexpr int k_format_version = 2;

struct Provenance {
  std::string tool_version;
  double duration_s = 0;
  std::string device;
};

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
};

enum class Repair { no, yes };

class Cache : public plan::HashMemo {
 public:
  /// Opens (creating if needed) the cache folder. Throws ghx::Error with the reason: not
  /// writable, not a ghx cache, a format version this build does not read.
  static std::unique_ptr<Cache> open(const std::string& dir);
  ~Cache() override;

  const std::string& dir() const { return m_dir; }

  /// Keys of every done step (one query: the planner's hit test).
  std::unordered_set<plan::StepKey, plan::StepKeyHash> done_keys();
  std::optional<StepRecord> record(const plan::StepKey& key);

  /// The result of a done step, verified. A missing or corrupt blob: the row is dropped, a
  /// warning is logged through the warning sink, and std::nullopt is returned (a miss).
  std::optional<std::string> get(const plan::StepKey& key);
  void put(const plan::StepKey& key, const std::string& kind, const std::string& bytes, const Provenance& prov,
           const std::string& meta = "");
  /// Drops a step's row (its blob stays until gc): a result its reader found unusable is
  /// recomputed by the next run.
  void forget(const plan::StepKey& key);
  void put_failure(const plan::StepKey& key, const std::string& kind, const std::string& error,
                   const Provenance& prov);

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

  std::string m_dir;
  std::unique_ptr<SQLite::Database> m_db;
  BlobStore m_blobs;
  std::mutex m_mu;
  std::function<void(const std::string&)> m_warn;
};

}  // namespace ghx::cache
