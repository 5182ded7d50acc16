// `ghx cache merge` (cache.h: Cache::merge_from): the per-host caches of a sharded review
// brought into one (docs/cluster.md).
#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "cache/cache.h"
#include "cache/tx.h"
#include "util/error.h"
#include "util/fs.h"

namespace ghx::cache {

namespace fs = std::filesystem;

namespace {

struct Row {
  std::string kind, blob, tool_version, device, meta, inputs;
  int64_t size = 0, created_at = 0;
  double duration_s = 0;
};

struct Source {
  std::string dir;
  std::unordered_map<std::string, Row> rows;  // done rows by key
  int64_t failures = 0;
};

/// Done rows of the cache in `dir`, opened read only. Throws ghx::Error for what is not a cache.
Source read_source(const std::string& dir) {
  Source s;
  s.dir = dir;
  const std::string db_path = dir + "/ghx.db";
  if (!util::file_exists(db_path)) throw Error(dir + ": not a ghx cache (no ghx.db)");
  try {
    SQLite::Database db(db_path, SQLite::OPEN_READONLY);
    db.setBusyTimeout(10000);
    SQLite::Statement v(db, "SELECT value FROM meta WHERE name='format_version'");
    if (!v.executeStep()) throw Error(db_path + ": not a ghx cache (no format version)");
    const std::string ver = v.getColumn(0).getString();
    if (ver != std::to_string(k_format_version))
      throw Error(db_path + ": cache format version " + ver + " (this ghx merges version " +
                  std::to_string(k_format_version) + "): open it once with this ghx first");
    SQLite::Statement c(db, "SELECT count(*) FROM pragma_table_info('steps') WHERE name = 'inputs'");
    c.executeStep();
    const bool has_inputs = c.getColumn(0).getInt() > 0;
    SQLite::Statement q(db, std::string("SELECT key, kind, status, blob, size, tool_version, duration_s, device, "
                                        "created_at, meta, ") +
                                (has_inputs ? "inputs" : "NULL") + " FROM steps");
    auto text = [&](int i) { return q.getColumn(i).isNull() ? std::string() : q.getColumn(i).getString(); };
    while (q.executeStep()) {
      if (q.getColumn(2).getInt() != 0) {
        ++s.failures;
        continue;
      }
      Row r;
      r.kind = text(1);
      r.blob = text(3);
      r.size = q.getColumn(4).getInt64();
      r.tool_version = text(5);
      r.duration_s = q.getColumn(6).getDouble();
      r.device = text(7);
      r.created_at = q.getColumn(8).getInt64();
      r.meta = text(9);
      r.inputs = text(10);
      s.rows.emplace(text(0), std::move(r));
    }
  } catch (const SQLite::Exception& e) {
    throw Error(db_path + ": " + e.what());
  }
  return s;
}

std::vector<std::string> split_keys(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(' ', i);
    if (j == std::string::npos) j = s.size();
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

}  // namespace

MergeReport Cache::merge_from(const std::vector<std::string>& sources,
                              const std::function<void(int64_t, int64_t)>& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  MergeReport rep;
  std::error_code ec_me;
  const fs::path me = fs::weakly_canonical(m_dir, ec_me);
  std::vector<Source> src;
  for (const auto& d : sources) {
    std::error_code ec;
    const fs::path p = fs::weakly_canonical(d, ec);
    if (!ec && !ec_me && p == me) throw Error(d + ": is the destination cache itself");
    src.push_back(read_source(d));
    rep.sources.push_back(d);
    rep.rows += static_cast<int64_t>(src.back().rows.size());
    rep.failures_left += src.back().failures;
  }

  // What the destination holds (done rows: key -> blob).
  std::unordered_map<std::string, std::string> dest;
  {
    std::lock_guard<std::mutex> lock(m_mu);
    SQLite::Statement q(*m_db, "SELECT key, blob FROM steps WHERE status = 0");
    while (q.executeStep()) dest.emplace(q.getColumn(0).getString(), q.getColumn(1).isNull() ? "" : q.getColumn(1).getString());
  }

  // Images whose blob cannot be read are no candidates (the rows made from them are left out
  // below unless another source holds the same image).
  std::vector<std::unordered_set<std::string>> unreadable(src.size());
  for (size_t si = 0; si < src.size(); ++si) {
    BlobStore bs(src[si].dir + "/objects");
    for (const auto& [key, r] : src[si].rows)
      if (r.kind == "generate" && !dest.count(key) && bs.check(r.blob) != BlobStatus::ok) {
        unreadable[si].insert(key);
        ++rep.corrupt_left;
        m_warn("cache merge: " + src[si].dir + ": step " + key + " has a missing or corrupt image: not merged");
      }
  }

  // Generation: the destination's image, else the smallest content hash; whatever order the
  // sources are named in, the same image is kept.
  std::map<std::string, std::string> winner;  // generate key -> blob kept ("" none readable)
  for (size_t si = 0; si < src.size(); ++si)
    for (const auto& [key, r] : src[si].rows) {
      if (r.kind != "generate" || unreadable[si].count(key)) continue;
      auto d = dest.find(key);
      const std::string& cand = d != dest.end() ? d->second : r.blob;
      auto [it, fresh] = winner.emplace(key, cand);
      if (!fresh && d == dest.end() && cand < it->second) it->second = cand;
    }
  for (size_t si = 0; si < src.size(); ++si)
    for (const auto& [key, r] : src[si].rows) {
      if (r.kind != "generate" || r.blob == winner[key] || winner[key].empty()) continue;
      std::string kept = dest.count(key) ? "DEST" : "";
      for (size_t sj = 0; sj < src.size() && kept.empty(); ++sj) {
        auto it = src[sj].rows.find(key);
        if (it != src[sj].rows.end() && it->second.blob == winner[key]) kept = src[sj].dir;
      }
      rep.choices.push_back({key, kept, src[si].dir});
    }
  std::sort(rep.choices.begin(), rep.choices.end(), [](const MergeChoice& a, const MergeChoice& b) {
    return a.key != b.key ? a.key < b.key : a.left < b.left;
  });

  // Rows a source made from an image of its own that was not kept, and their dependents.
  std::vector<std::unordered_set<std::string>> tainted(src.size());
  for (size_t si = 0; si < src.size(); ++si) {
    const auto& rows = src[si].rows;
    bool lost_any = false;
    for (const auto& [key, r] : rows) lost_any |= r.kind == "generate" && r.blob != winner[key];
    std::unordered_map<std::string, int8_t> memo;  // 0 clean, 1 tainted, 2 on the stack
    std::function<bool(const std::string&)> bad = [&](const std::string& key) -> bool {
      auto m = memo.find(key);
      if (m != memo.end()) return m->second == 1;
      auto it = rows.find(key);
      if (it == rows.end()) return false;
      if (it->second.kind == "generate") {
        const bool lost = it->second.blob != winner[key];
        memo[key] = lost ? 1 : 0;
        return lost;
      }
      // A row of an older build records no inputs: where this source lost an image, it may
      // have been made from it (only steps without inputs by nature are sure).
      const std::string& kind = it->second.kind;
      if (lost_any && it->second.inputs.empty() && kind != "target_features" && kind != "text_features") {
        memo[key] = 1;
        return true;
      }
      memo[key] = 2;
      bool t = false;
      for (const auto& in : split_keys(it->second.inputs)) t = t || bad(in);
      memo[key] = t ? 1 : 0;
      return t;
    };
    for (const auto& [key, r] : rows)
      if (bad(key)) tainted[si].insert(key);
  }

  // Choose a source row per key; deterministic steps must agree everywhere.
  struct Pick {
    size_t source;
    const Row* row;
  };
  std::map<std::string, Pick> picks;
  std::vector<std::string> conflicts;
  size_t n_conflicts = 0;
  for (size_t si = 0; si < src.size(); ++si)
    for (const auto& [key, r] : src[si].rows) {
      if (tainted[si].count(key)) {
        if (r.kind != "generate") ++rep.dependents_left;
        continue;
      }
      if (r.kind == "generate" && (r.blob != winner[key] || unreadable[si].count(key))) continue;
      auto d = dest.find(key);
      const std::string* other = d != dest.end() ? &d->second : nullptr;
      std::string other_name = "DEST";
      auto p = picks.find(key);
      if (!other && p != picks.end()) {
        other = &p->second.row->blob;
        other_name = src[p->second.source].dir;
      }
      if (other && *other != r.blob) {
        if (++n_conflicts <= 10)
          conflicts.push_back(key + " (" + r.kind + "): " + other_name + " has " + *other + ", " + src[si].dir + " has " + r.blob);
        continue;
      }
      if (d != dest.end()) continue;
      picks.emplace(key, Pick{si, &r});
    }
  if (n_conflicts) {
    std::string msg = "cache merge: " + std::to_string(n_conflicts) +
                      " step(s) that must be deterministic have different results in different caches "
                      "(different builds or numerics?); nothing was merged:";
    for (const auto& c : conflicts) msg += "\n  " + c;
    if (n_conflicts > conflicts.size()) msg += "\n  ... and " + std::to_string(n_conflicts - conflicts.size()) + " more";
    throw Error(msg);
  }
  // Counted once per key, not per source holding it.
  {
    std::unordered_set<std::string> seen;
    int64_t present = 0;
    for (const auto& s : src)
      for (const auto& [key, r] : s.rows)
        if (dest.count(key) && dest[key] == r.blob && seen.insert(key).second) ++present;
    rep.present = present;
  }

  // Copy in key order, a few hundred rows per transaction (blobs durable before their rows).
  const int64_t total = static_cast<int64_t>(picks.size());
  std::vector<BlobStore> blob_src;
  for (const auto& s : src) blob_src.emplace_back(s.dir + "/objects");
  constexpr size_t k_batch = 256;
  std::vector<std::pair<const std::string*, Pick>> batch;
  int64_t done = 0;
  auto flush = [&] {
    if (batch.empty()) return;
    std::lock_guard<std::mutex> lock(m_mu);
    WriteTx tx(*m_db);
    SQLite::Statement q(*m_db,
                        "INSERT INTO steps(key, kind, status, blob, size, error, tool_version, duration_s, "
                        "device, created_at, meta, inputs) VALUES (?, ?, 0, ?, ?, NULL, ?, ?, ?, ?, ?, ?) "
                        // A success replaces a failure row, never another success (one stored meanwhile).
                        "ON CONFLICT(key) DO UPDATE SET kind = excluded.kind, status = 0, blob = excluded.blob, "
                        "size = excluded.size, error = NULL, tool_version = excluded.tool_version, "
                        "duration_s = excluded.duration_s, device = excluded.device, created_at = excluded.created_at, "
                        "meta = excluded.meta, inputs = excluded.inputs WHERE steps.status != 0");
    for (size_t k = 0; k < batch.size(); ++k) {
      const Row& r = *batch[k].second.row;
      // gc in another process may have taken an unreferenced blob since it was written.
      if (!util::file_exists(m_blobs.path_of(r.blob))) {
        std::string again;
        if (blob_src[batch[k].second.source].get(r.blob, &again) != BlobStatus::ok)
          throw Error("cache merge: " + src[batch[k].second.source].dir + ": blob " + r.blob + " vanished while merging");
        m_blobs.put(again);
      }
      q.bind(1, *batch[k].first);
      q.bind(2, r.kind);
      q.bind(3, r.blob);
      q.bind(4, r.size);
      q.bind(5, r.tool_version);
      q.bind(6, r.duration_s);
      q.bind(7, r.device);
      q.bind(8, r.created_at);
      if (r.meta.empty()) q.bind(9);
      else q.bind(9, r.meta);
      if (r.inputs.empty()) q.bind(10);
      else q.bind(10, r.inputs);
      q.exec();
      q.reset();
      q.clearBindings();
    }
    tx.commit();
    batch.clear();
  };
  for (const auto& [key, pick] : picks) {
    std::string data;
    const BlobStatus st = blob_src[pick.source].get(pick.row->blob, &data);
    if (st != BlobStatus::ok) {
      ++rep.corrupt_left;
      m_warn("cache merge: " + src[pick.source].dir + ": step " + key + " has a " +
             (st == BlobStatus::corrupt ? "corrupt" : "missing") + " blob: not merged, the next run recomputes it");
    } else {
      const std::string address = m_blobs.put(data);  // re-hashed: the address is the content's
      if (address != pick.row->blob) throw Error("cache merge: blob " + pick.row->blob + " re-hashed to " + address);
      rep.bytes += static_cast<int64_t>(data.size());
      ++rep.copied;
      batch.emplace_back(&key, pick);
      if (batch.size() >= k_batch) flush();
    }
    if (progress) progress(++done, total);
  }
  flush();
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace ghx::cache
