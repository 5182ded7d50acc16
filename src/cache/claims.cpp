// Step claims: several runs on one cache compute each step once between them (cache/cache.h).
#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <limits>

#include "cache/cache.h"
#include "cache/tx.h"
#include "util/process.h"

namespace ghx::cache {

int64_t Cache::claim_heartbeat_ms() const { return std::max<int64_t>(200, m_claim_timeout_ms / 6); }

void Cache::touch_run_row() {
  const auto& me = util::self_process();
  int64_t now = util::wall_ms();
  if (m_joined) {
    SQLite::Statement u(*m_db, "UPDATE runs SET heartbeat_ms = ? WHERE holder = ?");
    u.bind(1, now);
    u.bind(2, m_holder);
    if (u.exec() > 0) return;
    // Another run judged this one dead (it was silent too long) and removed its row and
    // claims: join again. At worst a step is computed twice; a result is never lost.
  } else {
    m_started_ms = now;
  }
  SQLite::Statement q(*m_db,
                      "INSERT OR REPLACE INTO runs(holder, host, local, pid, start, started_ms, heartbeat_ms) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?)");
  q.bind(1, m_holder);
  q.bind(2, me.host);
  q.bind(3, me.local);
  q.bind(4, me.pid);
  q.bind(5, me.start);
  q.bind(6, m_started_ms);
  q.bind(7, now);
  q.exec();
  m_joined = true;
}

std::unordered_set<std::string> Cache::live_holders(bool reap, int64_t* oldest_ms) {
  const auto& me = util::self_process();
  int64_t now = util::wall_ms();
  std::unordered_set<std::string> live;
  std::vector<std::string> dead;
  if (oldest_ms) *oldest_ms = std::numeric_limits<int64_t>::max();
  SQLite::Statement q(*m_db, "SELECT holder, local, pid, start, started_ms, heartbeat_ms FROM runs");
  while (q.executeStep()) {
    std::string holder = q.getColumn(0).getString();
    bool alive = holder == m_holder;
    if (!alive) {
      // Silent too long (any machine), or on this machine and its process is gone.
      alive = now - q.getColumn(5).getInt64() <= m_claim_timeout_ms;
      if (alive && q.getColumn(1).getString() == me.local)
        alive = util::process_alive(q.getColumn(2).getInt64(), q.getColumn(3).getInt64());
      if (alive && oldest_ms) *oldest_ms = std::min(*oldest_ms, q.getColumn(4).getInt64());
    }
    if (alive) live.insert(std::move(holder));
    else dead.push_back(std::move(holder));
  }
  q.reset();
  if (reap)
    for (const auto& d : dead) forget_holder(d);
  return live;
}

void Cache::forget_holder(const std::string& holder) {
  SQLite::Statement c(*m_db, "DELETE FROM claims WHERE holder = ?");
  c.bind(1, holder);
  c.exec();
  SQLite::Statement r(*m_db, "DELETE FROM runs WHERE holder = ?");
  r.bind(1, holder);
  r.exec();
}

std::vector<ClaimState> Cache::claim(const std::vector<plan::StepKey>& keys) {
  std::vector<ClaimState> out(keys.size(), ClaimState::busy);
  std::lock_guard<std::mutex> lock(m_mu);
  WriteTx tx(*m_db);
  touch_run_row();
  auto live = live_holders(true, nullptr);
  SQLite::Statement status(*m_db, "SELECT status FROM steps WHERE key = ?");
  SQLite::Statement holder(*m_db, "SELECT holder FROM claims WHERE key = ?");
  SQLite::Statement take(*m_db, "INSERT OR REPLACE INTO claims(key, holder, claimed_ms) VALUES (?, ?, ?)");
  int64_t now = util::wall_ms();
  for (size_t i = 0; i < keys.size(); ++i) {
    std::string hex = keys[i].hex();
    status.bind(1, hex);
    bool done = status.executeStep() && status.getColumn(0).getInt() == 0;
    status.reset();
    if (done) {
      out[i] = ClaimState::done;
      continue;
    }
    holder.bind(1, hex);
    std::string h = holder.executeStep() ? holder.getColumn(0).getString() : std::string();
    holder.reset();
    if (!h.empty() && h != m_holder && live.count(h)) continue;  // busy
    take.bind(1, hex);
    take.bind(2, m_holder);
    take.bind(3, now);
    take.exec();
    take.reset();
    out[i] = ClaimState::mine;
  }
  tx.commit();
  return out;
}

void Cache::heartbeat() {
  std::lock_guard<std::mutex> lock(m_mu);
  if (!m_joined) return;
  try {
    WriteTx tx(*m_db);
    touch_run_row();
    tx.commit();
  } catch (const std::exception&) {
    // The database was busy past the timeout: the next beat tries again. A holder that misses
    // beats for claim_timeout_ms() may see its steps taken over (computed twice, never lost).
  }
}

void Cache::release_claims() {
  std::lock_guard<std::mutex> lock(m_mu);
  if (!m_joined) return;
  try {
    WriteTx tx(*m_db);
    forget_holder(m_holder);
    tx.commit();
    m_joined = false;
  } catch (const std::exception&) {
    // Left behind, the rows name a dead process: the next run on this machine reaps them at
    // once, one elsewhere after the claim timeout.
  }
}

}  // namespace ghx::cache
