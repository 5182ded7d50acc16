#include "cache/cache.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <filesystem>
#include <iostream>
#include <thread>

#include "cache/tx.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/process.h"
#include "util/version.h"

namespace ghx::cache {

namespace fs = std::filesystem;

namespace {

const char* const k_schema = R"SQL(
CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS steps(
  key TEXT PRIMARY KEY, kind TEXT NOT NULL, status INTEGER NOT NULL, blob TEXT, size INTEGER,
  error TEXT, tool_version TEXT, duration_s REAL, device TEXT, created_at INTEGER, meta TEXT, inputs TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS file_hashes(
  path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL,
  sha256 TEXT NOT NULL, ctime_ns INTEGER NOT NULL DEFAULT 0, dev INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS runs(
  holder TEXT PRIMARY KEY, host TEXT NOT NULL, local TEXT NOT NULL, pid INTEGER NOT NULL,
  start INTEGER NOT NULL, started_ms INTEGER NOT NULL, heartbeat_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS claims(
  key TEXT PRIMARY KEY, holder TEXT NOT NULL, claimed_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS report_stamps(dir TEXT PRIMARY KEY, stamp TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS plan_stamps(run TEXT PRIMARY KEY, stamp TEXT NOT NULL) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS steps_done_deleted AFTER DELETE ON steps WHEN old.status = 0 BEGIN
  UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE name = 'done_removals';
END;
CREATE TRIGGER IF NOT EXISTS steps_done_changed AFTER UPDATE ON steps
  WHEN old.status = 0 AND (new.status != 0 OR new.key != old.key OR new.blob IS NOT old.blob) BEGIN
  UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE name = 'done_removals';
END;
)SQL";

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

StepRecord read_record(SQLite::Statement& q) {
  StepRecord r;
  r.key = q.getColumn(0).getString();
  r.kind = q.getColumn(1).getString();
  r.status = q.getColumn(2).getInt();
  r.blob = q.getColumn(3).isNull() ? "" : q.getColumn(3).getString();
  r.size = q.getColumn(4).getInt64();
  r.error = q.getColumn(5).isNull() ? "" : q.getColumn(5).getString();
  r.provenance.tool_version = q.getColumn(6).isNull() ? "" : q.getColumn(6).getString();
  r.provenance.duration_s = q.getColumn(7).getDouble();
  r.provenance.device = q.getColumn(8).isNull() ? "" : q.getColumn(8).getString();
  r.created_at = q.getColumn(9).getInt64();
  r.meta = q.getColumn(10).isNull() ? "" : q.getColumn(10).getString();
  r.provenance.inputs = q.getColumn(11).isNull() ? "" : q.getColumn(11).getString();
  return r;
}

const char* const k_record_cols =
    "SELECT key, kind, status, blob, size, error, tool_version, duration_s, device, created_at, meta, inputs FROM steps ";

}  // namespace

Cache::Cache(std::string dir, std::unique_ptr<SQLite::Database> db)
    : m_dir(std::move(dir)), m_db(std::move(db)), m_blobs(m_dir + "/objects") {
  m_warn = [](const std::string& msg) { std::cerr << "ghx: warning: " << msg << "\n"; };
  const auto& me = util::self_process();
  // One holder per open cache (a process may open one cache twice: tests, a tool's two jobs).
  static std::atomic<int> serial{0};
  m_holder = me.host + ":" + std::to_string(me.pid) + ":" + std::to_string(me.start) + ":" + std::to_string(++serial);
  if (const char* t = std::getenv("GHX_CLAIM_TIMEOUT")) {
    char* end = nullptr;
    double sec = std::strtod(t, &end);
    if (end != t && *end == 0 && sec > 0 && sec < 1e6) m_claim_timeout_ms = static_cast<int64_t>(sec * 1000);
  }
}

Cache::~Cache() { release_claims(); }

std::unique_ptr<Cache> Cache::open(const std::string& dir, Sharing sharing) {
  std::error_code ec;
  fs::create_directories(dir + "/objects", ec);
  if (ec) throw Error(dir + ": cannot create cache folder: " + ec.message());
  if (::access(dir.c_str(), W_OK) != 0 || ::access((dir + "/objects").c_str(), W_OK) != 0)
    throw Error(dir + ": the cache folder is not writable (" + std::strerror(errno) +
                "); ghx writes results there: use another --cache or make it writable");
  std::string db_path = dir + "/ghx.db";
  const std::string netfs = util::network_fs_of(dir);
  if (sharing == Sharing::automatic) {
    const char* env = std::getenv("GHX_CACHE_SHARING");
    std::string e = env ? env : "";
    if (e == "shared") sharing = Sharing::shared;
    else if (e == "exclusive") sharing = Sharing::exclusive;
    else if (!e.empty()) throw Error("GHX_CACHE_SHARING='" + e + "': expected 'shared' or 'exclusive'");
    else sharing = netfs.empty() ? Sharing::shared : Sharing::exclusive;
  }
  const bool exclusive = sharing == Sharing::exclusive;
  try {
    auto db = std::make_unique<SQLite::Database>(db_path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db->setBusyTimeout(exclusive ? 3000 : 10000);
    if (exclusive) {
      // No WAL (its index lives in shared memory, which a network file system does not share
      // between hosts): a rollback journal, and the lock kept from the first write to close.
      db->exec("PRAGMA locking_mode=EXCLUSIVE");
      db->exec("PRAGMA journal_mode=DELETE");
    } else {
      // Switching a new database to WAL takes a lock SQLite does not wait for (no busy
      // handler): two runs opening one fresh cache at once would see "database is locked".
      for (int attempt = 0;; ++attempt) {
        try {
          db->exec("PRAGMA journal_mode=WAL");
          break;
        } catch (const SQLite::Exception& e) {
          if ((e.getErrorCode() != SQLITE_BUSY && e.getErrorCode() != SQLITE_LOCKED) || attempt >= 200) throw;
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      }
    }
    db->exec("PRAGMA synchronous=NORMAL");
    {
      SQLite::Statement q(*db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'");
      q.executeStep();
      bool has_meta = q.getColumn(0).getInt() > 0;
      q.reset();  // an open statement would hold a read transaction through the upgrade below
      if (has_meta) {
        SQLite::Statement v(*db, "SELECT value FROM meta WHERE name='format_version'");
        if (!v.executeStep()) throw Error(db_path + ": not a ghx cache (no format version)");
        std::string ver = v.getColumn(0).getString();
        v.reset();
        if (ver == "1") {
          // format 2 = format 1 + steps.meta. Upgrade once: under an exclusive lock, reading the
          // version again, since another process may have upgraded it since it was read above.
          db->exec("BEGIN EXCLUSIVE");
          try {
            SQLite::Statement again(*db, "SELECT value FROM meta WHERE name='format_version'");
            if (again.executeStep() && again.getColumn(0).getString() == "1") {
              again.reset();
              db->exec("ALTER TABLE steps ADD COLUMN meta TEXT");
              db->exec("UPDATE meta SET value = '2' WHERE name = 'format_version'");
            }
            db->exec("COMMIT");
          } catch (...) {
            db->exec("ROLLBACK");
            throw;
          }
          ver = "2";
        }
        if (ver != std::to_string(k_format_version))
          throw Error(db_path + ": cache format version " + ver + " is not supported (this ghx reads version " +
                      std::to_string(k_format_version) + "); use another --cache folder");
      } else {
        SQLite::Statement q2(*db, "SELECT count(*) FROM sqlite_master");
        q2.executeStep();
        if (q2.getColumn(0).getInt() > 0) throw Error(db_path + ": not a ghx cache");
      }
    }
    WriteTx tx(*db);
    db->exec(k_schema);
    {
      // A memo written before ctime and device were checked: add them as 0, so that every file
      // is hashed once more (a memo row matches only a real stat).
      SQLite::Statement cols(*db, "SELECT count(*) FROM pragma_table_info('file_hashes') WHERE name = 'ctime_ns'");
      cols.executeStep();
      const bool old_memo = cols.getColumn(0).getInt() == 0;
      cols.reset();
      if (old_memo) {
        db->exec("ALTER TABLE file_hashes ADD COLUMN ctime_ns INTEGER NOT NULL DEFAULT 0");
        db->exec("ALTER TABLE file_hashes ADD COLUMN dev INTEGER NOT NULL DEFAULT 0");
      }
      // steps.inputs (the input keys `cache merge` follows) came after format 2 without a
      // version change: rows of older builds have none; a build that does not know it ignores it.
      SQLite::Statement icol(*db, "SELECT count(*) FROM pragma_table_info('steps') WHERE name = 'inputs'");
      icol.executeStep();
      const bool no_inputs = icol.getColumn(0).getInt() == 0;
      icol.reset();
      if (no_inputs) db->exec("ALTER TABLE steps ADD COLUMN inputs TEXT");
    }
    SQLite::Statement ins(*db, "INSERT OR IGNORE INTO meta(name, value) VALUES (?, ?)");
    ins.bind(1, "format_version");
    ins.bind(2, std::to_string(k_format_version));
    ins.exec();
    ins.reset();
    ins.bind(1, "created_by");
    ins.bind(2, std::string("ghx ") + GHX_VERSION);
    ins.exec();
    ins.reset();
    ins.bind(1, "done_removals");
    ins.bind(2, "0");
    ins.exec();
    ins.reset();
    tx.commit();
    std::unique_ptr<Cache> c(new Cache(dir, std::move(db)));
    c->m_sharing = sharing;
    c->m_network_fs = netfs;
    if (!netfs.empty() && exclusive)
      std::cerr << "ghx: note: cache " << dir << " is on a network file system (" << netfs
                << "): one ghx process at a time may use it; for several hosts give each its own cache "
                   "(docs/reliability.md)\n";
    return c;
  } catch (const SQLite::Exception& e) {
    if (exclusive && (e.getErrorCode() == SQLITE_BUSY || e.getErrorCode() == SQLITE_LOCKED))
      throw Error(db_path + ": the cache is in use by another ghx process, and " +
                  (netfs.empty() ? std::string("exclusive sharing (GHX_CACHE_SHARING) lets")
                                 : "on a network file system (" + netfs + ") a cache lets") +
                  " one process at a time use it (docs/reliability.md)");
    throw Error(db_path + ": " + e.what());
  }
}

plan::KeySet Cache::done_keys() {
  std::lock_guard<std::mutex> lock(m_mu);
  plan::KeySet out;
  SQLite::Statement q(*m_db, "SELECT key FROM steps WHERE status = 0");
  while (q.executeStep()) {
    plan::StepKey k;
    if (util::Digest128::from_hex(q.getColumn(0).getText(), &k)) out.insert(k);
  }
  return out;
}

std::optional<StepRecord> Cache::record(const plan::StepKey& key) {
  std::lock_guard<std::mutex> lock(m_mu);
  SQLite::Statement q(*m_db, std::string(k_record_cols) + "WHERE key = ?");
  q.bind(1, key.hex());
  if (!q.executeStep()) return std::nullopt;
  return read_record(q);
}

void Cache::drop_row(const std::string& key_hex) {
  SQLite::Statement d(*m_db, "DELETE FROM steps WHERE key = ?");
  d.bind(1, key_hex);
  d.exec();
}

void Cache::forget(const plan::StepKey& key) {
  std::lock_guard<std::mutex> lock(m_mu);
  drop_row(key.hex());
}

std::optional<std::string> Cache::get(const plan::StepKey& key) {
  std::string blob;
  std::string hex = key.hex();
  {
    std::lock_guard<std::mutex> lock(m_mu);
    SQLite::Statement q(*m_db, "SELECT blob FROM steps WHERE key = ? AND status = 0");
    q.bind(1, hex);
    if (!q.executeStep() || q.getColumn(0).isNull()) return std::nullopt;
    blob = q.getColumn(0).getString();
  }
  std::string data;
  BlobStatus st = m_blobs.get(blob, &data);
  if (st == BlobStatus::ok) return data;
  {
    std::lock_guard<std::mutex> lock(m_mu);
    drop_row(hex);
  }
  if (st == BlobStatus::corrupt) m_blobs.remove(blob);
  m_warn("cache entry " + hex + " has a " + (st == BlobStatus::corrupt ? "corrupt" : "missing") + " blob " + blob +
         ": dropped, the step will be recomputed");
  return std::nullopt;
}

void Cache::put(const plan::StepKey& key, const std::string& kind, const std::string& bytes, const Provenance& prov,
                const std::string& meta) {
  std::string address = m_blobs.put(bytes);  // durable before the row that names it
  std::lock_guard<std::mutex> lock(m_mu);
  WriteTx tx(*m_db);
  // `gc` in another process removes unreferenced blobs under the write lock: one that did so
  // between the write above and this lock took this blob. Write it again, under the lock.
  if (!util::file_exists(m_blobs.path_of(address))) m_blobs.put(bytes);
  SQLite::Statement q(*m_db,
                      "INSERT OR REPLACE INTO steps(key, kind, status, blob, size, error, tool_version, duration_s, "
                      "device, created_at, meta, inputs) VALUES (?, ?, 0, ?, ?, NULL, ?, ?, ?, ?, ?, ?)");
  q.bind(1, key.hex());
  q.bind(2, kind);
  q.bind(3, address);
  q.bind(4, static_cast<int64_t>(bytes.size()));
  q.bind(5, prov.tool_version);
  q.bind(6, prov.duration_s);
  q.bind(7, prov.device);
  q.bind(8, now_s());
  if (meta.empty()) q.bind(9);
  else q.bind(9, meta);
  if (prov.inputs.empty()) q.bind(10);
  else q.bind(10, prov.inputs);
  q.exec();
  release_claim(key.hex());
  tx.commit();
}

void Cache::release_claim(const std::string& key_hex) {
  if (!m_joined) return;
  SQLite::Statement c(*m_db, "DELETE FROM claims WHERE key = ? AND holder = ?");
  c.bind(1, key_hex);
  c.bind(2, m_holder);
  c.exec();
}

void Cache::put_failure(const plan::StepKey& key, const std::string& kind, const std::string& error,
                        const Provenance& prov) {
  std::lock_guard<std::mutex> lock(m_mu);
  // A failure never replaces a success (another process may have stored one meanwhile): the
  // upsert updates only a failure row.
  SQLite::Statement q(*m_db,
                      "INSERT INTO steps(key, kind, status, blob, size, error, tool_version, duration_s, "
                      "device, created_at) VALUES (?, ?, 1, NULL, 0, ?, ?, ?, ?, ?) "
                      "ON CONFLICT(key) DO UPDATE SET kind = excluded.kind, error = excluded.error, "
                      "tool_version = excluded.tool_version, duration_s = excluded.duration_s, "
                      "device = excluded.device, created_at = excluded.created_at WHERE steps.status != 0");
  q.bind(1, key.hex());
  q.bind(2, kind);
  q.bind(3, error);
  q.bind(4, prov.tool_version);
  q.bind(5, prov.duration_s);
  q.bind(6, prov.device);
  q.bind(7, now_s());
  WriteTx tx(*m_db);
  q.exec();
  release_claim(key.hex());
  tx.commit();
}

int64_t Cache::done_removals() {
  std::lock_guard<std::mutex> lock(m_mu);
  SQLite::Statement q(*m_db, "SELECT CAST(value AS INTEGER) FROM meta WHERE name = 'done_removals'");
  return q.executeStep() ? q.getColumn(0).getInt64() : -1;
}

namespace {

// The stamp tables (plan_stamps, report_stamps): one text per key.
std::string read_stamp(SQLite::Database& db, const char* select, const std::string& key) {
  SQLite::Statement q(db, select);
  q.bind(1, key);
  return q.executeStep() ? q.getColumn(0).getString() : std::string();
}

void write_stamp(SQLite::Database& db, const char* replace, const std::string& key, const std::string& stamp) {
  SQLite::Statement q(db, replace);
  q.bind(1, key);
  q.bind(2, stamp);
  WriteTx tx(db);
  q.exec();
  tx.commit();
}

}  // namespace

std::string Cache::plan_stamp(const std::string& run) {
  std::lock_guard<std::mutex> lock(m_mu);
  return read_stamp(*m_db, "SELECT stamp FROM plan_stamps WHERE run = ?", run);
}

void Cache::set_plan_stamp(const std::string& run, const std::string& stamp) {
  std::lock_guard<std::mutex> lock(m_mu);
  write_stamp(*m_db, "INSERT OR REPLACE INTO plan_stamps(run, stamp) VALUES (?, ?)", run, stamp);
}

std::string Cache::report_stamp(const std::string& dir) {
  std::lock_guard<std::mutex> lock(m_mu);
  return read_stamp(*m_db, "SELECT stamp FROM report_stamps WHERE dir = ?", dir);
}

void Cache::set_report_stamp(const std::string& dir, const std::string& stamp) {
  std::lock_guard<std::mutex> lock(m_mu);
  write_stamp(*m_db, "INSERT OR REPLACE INTO report_stamps(dir, stamp) VALUES (?, ?)", dir, stamp);
}

Stats Cache::stats() {
  Stats s;
  {
    std::lock_guard<std::mutex> lock(m_mu);
    SQLite::Statement q(*m_db, "SELECT kind, status, count(*), coalesce(sum(size), 0) FROM steps GROUP BY kind, status");
    while (q.executeStep()) {
      KindStats& k = s.by_kind[q.getColumn(0).getString()];
      int64_t n = q.getColumn(2).getInt64();
      if (q.getColumn(1).getInt() == 0) {
        k.done += n;
        k.bytes += q.getColumn(3).getInt64();
      } else {
        k.failed += n;
      }
    }
    SQLite::Statement f(*m_db, "SELECT count(*) FROM file_hashes");
    f.executeStep();
    s.file_hashes = f.getColumn(0).getInt64();
  }
  std::vector<std::string> addrs;
  m_blobs.scan(&addrs, nullptr);
  s.blobs = static_cast<int64_t>(addrs.size());
  std::error_code ec;
  for (const auto& a : addrs) s.blob_bytes += static_cast<int64_t>(fs::file_size(m_blobs.path_of(a), ec));
  for (const char* f : {"/ghx.db", "/ghx.db-wal"}) {
    auto sz = fs::file_size(m_dir + f, ec);
    if (!ec) s.db_bytes += static_cast<int64_t>(sz);
  }
  return s;
}

VerifyReport Cache::verify(Repair repair, const std::function<void(int64_t, int64_t)>& progress) {
  std::vector<std::pair<std::string, std::string>> rows;  // key, blob
  {
    std::lock_guard<std::mutex> lock(m_mu);
    SQLite::Statement q(*m_db, "SELECT key, blob FROM steps WHERE status = 0 ORDER BY key");
    while (q.executeStep()) rows.emplace_back(q.getColumn(0).getString(), q.getColumn(1).getString());
  }
  VerifyReport rep;
  for (const auto& [key, blob] : rows) {
    BlobStatus st = m_blobs.check(blob);
    ++rep.checked;
    if (progress) progress(rep.checked, static_cast<int64_t>(rows.size()));
    if (st == BlobStatus::ok) continue;
    rep.bad.emplace_back(key, st == BlobStatus::missing ? "missing" : "corrupt");
    if (repair == Repair::yes) {
      std::lock_guard<std::mutex> lock(m_mu);
      drop_row(key);
      if (st == BlobStatus::corrupt) m_blobs.remove(blob);
      ++rep.repaired;
    }
  }
  return rep;
}

GcReport Cache::gc() {
  GcReport rep;
  // List the files first, then decide under the write lock. A writer stores a blob, then takes
  // the lock to add its row and writes the blob again if it is gone (put()): so an unreferenced
  // blob may always go. A temporary file may be one a live run is writing: it goes only if it
  // is older than every live run (a run registers in `runs` before it writes anything).
  std::vector<std::string> addrs, temps;
  m_blobs.scan(&addrs, &temps);
  std::lock_guard<std::mutex> lock(m_mu);
  WriteTx tx(*m_db);
  std::unordered_set<std::string> referenced;
  {
    SQLite::Statement q(*m_db, "SELECT blob FROM steps WHERE status = 0");
    while (q.executeStep()) referenced.insert(q.getColumn(0).getString());
  }
  rep.failed_rows = m_db->exec("DELETE FROM steps WHERE status = 1");
  int64_t oldest_ms = 0;
  auto live = live_holders(true, &oldest_ms);
  live.erase(m_holder);
  rep.live_runs = static_cast<int64_t>(live.size());
  const int64_t cutoff_ms = live.empty() ? std::numeric_limits<int64_t>::max() : oldest_ms - 10000;  // clock slack
  std::error_code ec;
  for (const auto& a : addrs) {
    if (referenced.count(a)) continue;
    auto sz = fs::file_size(m_blobs.path_of(a), ec);
    if (m_blobs.remove(a)) {
      ++rep.orphan_blobs;
      rep.bytes_freed += ec ? 0 : static_cast<int64_t>(sz);
    }
  }
  for (const auto& t : temps) {
    struct stat st {};
    if (::stat(t.c_str(), &st) != 0) continue;
    int64_t mtime_ms = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
    if (mtime_ms >= cutoff_ms) {
      ++rep.temp_files_kept;
      continue;
    }
    if (fs::remove(t, ec)) {
      ++rep.temp_files;
      rep.bytes_freed += static_cast<int64_t>(st.st_size);
    }
  }
  tx.commit();
  return rep;
}

std::optional<std::string> Cache::lookup(const std::string& abs_path, const plan::FileStat& st) {
  std::lock_guard<std::mutex> lock(m_mu);
  try {
    SQLite::Statement q(*m_db, "SELECT size, mtime_ns, inode, sha256, ctime_ns, dev FROM file_hashes WHERE path = ?");
    q.bind(1, abs_path);
    if (!q.executeStep()) return std::nullopt;
    plan::FileStat memo;
    memo.size = static_cast<uint64_t>(q.getColumn(0).getInt64());
    memo.mtime_ns = q.getColumn(1).getInt64();
    memo.inode = static_cast<uint64_t>(q.getColumn(2).getInt64());
    memo.ctime_ns = q.getColumn(4).getInt64();
    memo.device = static_cast<uint64_t>(q.getColumn(5).getInt64());
    if (!(memo == st)) return std::nullopt;
    return q.getColumn(3).getString();
  } catch (const SQLite::Exception& e) {  // the planner reports it at the file's position: say whose it is
    throw Error("cache database " + m_dir + "/ghx.db: " + e.what());
  }
}

void Cache::store(const std::string& abs_path, const plan::FileStat& st, const std::string& sha256) {
  std::lock_guard<std::mutex> lock(m_mu);
  try {
    SQLite::Statement q(*m_db,
                        "INSERT OR REPLACE INTO file_hashes(path, size, mtime_ns, inode, sha256, ctime_ns, dev) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)");
    q.bind(1, abs_path);
    q.bind(2, static_cast<int64_t>(st.size));
    q.bind(3, st.mtime_ns);
    q.bind(4, static_cast<int64_t>(st.inode));
    q.bind(5, sha256);
    q.bind(6, st.ctime_ns);
    q.bind(7, static_cast<int64_t>(st.device));
    q.exec();
  } catch (const SQLite::Exception& e) {
    throw Error("cache database " + m_dir + "/ghx.db: " + e.what());
  }
}

}  // namespace ghx::cache
