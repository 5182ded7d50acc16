#pragma once
// File identity by content: SHA-256 of the whole file, memoised by (absolute path, size,
// mtime_ns, ctime_ns, inode, device) so an unchanged multi-GB checkpoint is read once, not on
// every plan. ctime catches a rewrite that restored the mtime (touch -r, rsync -t, tar x); the
// device catches the same inode number on another filesystem mounted at the same path.
// The memo's storage is an interface (the cache implements it in its SQLite index).
// Fails: throws ghx::Error if a file cannot be read. Never: uses the path in a key.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

namespace ghx::plan {

struct FileStat {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  uint64_t inode = 0;
  uint64_t device = 0;
  bool operator==(const FileStat& o) const {
    return size == o.size && mtime_ns == o.mtime_ns && ctime_ns == o.ctime_ns && inode == o.inode && device == o.device;
  }
};

class HashMemo {
 public:
  virtual ~HashMemo() = default;
  virtual std::optional<std::string> lookup(const std::string& abs_path, const FileStat& st) = 0;
  virtual void store(const std::string& abs_path, const FileStat& st, const std::string& sha256) = 0;
};

class FileHasher {
 public:
  /// `memo` may be null (no persistence, only this process's memo).
  explicit FileHasher(HashMemo* memo) : m_memo(memo) {}
  /// SHA-256 hex of the file's content. Throws ghx::Error.
  std::string sha256(const std::string& path);
  /// Files actually read (memo misses) since construction.
  size_t files_read() const { return m_files_read; }

 private:
  HashMemo* m_memo;
  std::unordered_map<std::string, std::string> m_local;  // abs path -> sha, this process
  size_t m_files_read = 0;
};

/// Throws ghx::Error if the file cannot be stat'ed.
FileStat stat_file(const std::string& path);

}  // namespace ghx::plan
