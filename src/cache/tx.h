#pragma once
// Internal to src/cache/: one SQLite write transaction, begun IMMEDIATE (the write lock is taken
// first, waiting on the busy timeout; a deferred transaction that read and then wrote would fail
// at once when another process committed in between) and rolled back unless committed.
#include <SQLiteCpp/SQLiteCpp.h>

namespace ghx::cache {

class WriteTx {
 public:
  explicit WriteTx(SQLite::Database& db) : m_db(db) { m_db.exec("BEGIN IMMEDIATE"); }
  WriteTx(const WriteTx&) = delete;
  WriteTx& operator=(const WriteTx&) = delete;
  ~WriteTx() {
    if (!m_done) try {
        m_db.exec("ROLLBACK");
      } catch (...) {
      }
  }
  void commit() {
    m_db.exec("COMMIT");
    m_done = true;
  }

 private:
  SQLite::Database& m_db;
  bool m_done = false;
};

}  // namespace ghx::cache
