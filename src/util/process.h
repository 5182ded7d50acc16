#pragma once
// Who this process is, in a form another process can check: used by the cache's step claims
// (cache/cache.h) to tell a live holder from a dead one. Knows no ghx types.
// Fails: never throws; a fact that cannot be read is empty or 0.
#include <cstdint>
#include <string>

namespace ghx::util {

struct ProcessIdentity {
  std::string host;   ///< gethostname()
  std::string local;  ///< boot id + pid namespace: equal only for processes that see the same pids
  int64_t pid = 0;
  int64_t start = 0;  ///< start time in clock ticks since boot (/proc/PID/stat field 22): tells a
                      ///< reused pid from the process that had it
};

/// This process (computed once).
const ProcessIdentity& self_process();

/// Whether `pid`, started at `start` (as ProcessIdentity::start), is running, seen from this
/// process. Meaningful only for a process with the same `local` as self_process().
bool process_alive(int64_t pid, int64_t start);

/// Milliseconds since the Unix epoch (wall clock: comparable between hosts up to their skew).
int64_t wall_ms();

}  // namespace ghx::util
