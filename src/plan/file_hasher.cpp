#include "plan/file_hasher.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "util/error.h"
#include "util/hash.h"

namespace ghx::plan {

FileStat stat_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw Error(path + ": " + std::strerror(errno));
  FileStat fs;
  fs.size = static_cast<uint64_t>(st.st_size);
  fs.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  fs.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000LL + st.st_ctim.tv_nsec;
  fs.inode = static_cast<uint64_t>(st.st_ino);
  fs.device = static_cast<uint64_t>(st.st_dev);
  return fs;
}

std::string FileHasher::sha256(const std::string& path) {
  std::error_code ec;
  std::string abs = std::filesystem::absolute(path, ec).lexically_normal().string();
  if (ec) abs = path;
  auto it = m_local.find(abs);
  if (it != m_local.end()) return it->second;
  FileStat st = stat_file(abs);
  if (m_memo) {
    if (auto h = m_memo->lookup(abs, st)) {
      m_local.emplace(abs, *h);
      return *h;
    }
  }
  std::string h = util::sha256_file_hex(abs);
  ++m_files_read;
  // The file may have changed while it was read: only memoise if it is still the same.
  FileStat after = stat_file(abs);
  if (m_memo && after == st)
    m_memo->store(abs, st, h);
  m_local.emplace(abs, h);
  return h;
}

}  // namespace ghx::plan
