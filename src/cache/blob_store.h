#pragma once
// Content-addressed blob store.
//
// On-disk layout (format 1, the version lives in the SQLite index, see cache/cache.h):
//   <cache>/objects/ab/cdef0123...   the raw bytes of one blob; the name is the XXH3-128 of the
//                                    content in hex (first 2 digits = folder, other 30 = file)
//   <cache>/objects/ab/.NAME.tmp.XXXXXX  a write in progress (swept by gc)
// A write goes to a unique temporary file in the target folder, is fsync'ed, then renamed: a
// blob either exists whole or not at all. Reads re-hash the bytes; a mismatch is reported as
// corrupt (never returned as data).
// Fails: throws ghx::Error on I/O errors of writes. Never: deletes a blob on its own.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/hash.h"

namespace ghx::cache {

enum class BlobStatus { ok, missing, corrupt };

class BlobStore {
 public:
  explicit BlobStore(std::string objects_dir) : m_dir(std::move(objects_dir)) {}

  /// Stores `data`; returns its address (hex). Idempotent.
  std::string put(std::string_view data);
  /// Reads and verifies a blob. `out` is set only when the status is ok.
  BlobStatus get(const std::string& address, std::string* out) const;
  /// Re-hashes a blob without keeping its bytes.
  BlobStatus check(const std::string& address) const;
  /// Removes a blob; false (and nothing removed) for an address that is not 32 hex digits.
  bool remove(const std::string& address);
  /// Throws ghx::Error for an address that is not 32 lowercase hex digits.
  std::string path_of(const std::string& address) const;
  /// 32 lowercase hex digits, as put() names blobs. get() and check() report any other address
  /// (a damaged index row) as corrupt without touching the file system.
  static bool valid_address(const std::string& address);
  /// Every blob address present, and every stray temporary file path.
  void scan(std::vector<std::string>* addresses, std::vector<std::string>* temps) const;
  const std::string& dir() const { return m_dir; }

 private:
  std::string m_dir;
};

}  // namespace ghx::cache
