#include "util/fs.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "util/error.h"

namespace ghx::util {

namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(path + ": read error");
  return ss.str();
}

void write_file_atomic(const std::string& path, std::string_view data) {
  fs::path target(path);
  fs::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::string tmpl = (dir / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  int fd = mkstemp(tmpl.data());
  if (fd < 0) throw Error(path + ": cannot create temporary file: " + std::strerror(errno));
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t w = ::write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmpl.c_str());
      throw Error(path + ": write failed: " + std::strerror(e));
    }
    p += w;
    left -= static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int e = errno;
    ::unlink(tmpl.c_str());
    throw Error(path + ": write failed: " + std::strerror(e));
  }
  ::chmod(tmpl.c_str(), 0644);
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmpl.c_str());
    throw Error(path + ": rename failed: " + std::strerror(e));
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

namespace {

void fsync_dir(const std::string& dir) {
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

/// Removes .NAME.tmp.PID.* siblings left by processes that are gone (a crash mid-write).
void sweep_stale(const fs::path& parent, const std::string& prefix) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    std::string n = e.path().filename().string();
    if (n.compare(0, prefix.size(), prefix) != 0) continue;
    long pid = std::strtol(n.c_str() + prefix.size(), nullptr, 10);
    if (pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM)) continue;  // alive
    fs::remove_all(e.path(), ec);
  }
}

}  // namespace

void replace_dir(const std::string& target_in, const std::function<void(const std::string& tmp)>& fill) {
  fs::path target = fs::path(target_in).lexically_normal();
  if (target.filename().empty()) target = target.parent_path();
  fs::path parent = target.parent_path();
  if (parent.empty()) parent = ".";
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) throw Error(parent.string() + ": cannot create folder: " + ec.message());
  const std::string prefix = "." + target.filename().string() + ".tmp.";
  sweep_stale(parent, prefix);
  std::string tmpl = (parent / (prefix + std::to_string(::getpid()) + ".XXXXXX")).string();
  if (!::mkdtemp(tmpl.data())) throw Error(target.string() + ": cannot create temporary folder: " + std::strerror(errno));
  ::chmod(tmpl.c_str(), 0755);
  try {
    fill(tmpl);
  } catch (...) {
    fs::remove_all(tmpl, ec);
    throw;
  }
  fsync_dir(tmpl);
  const std::string dst = target.string();
  bool placed = ::rename(tmpl.c_str(), dst.c_str()) == 0;  // no target yet (or an empty one)
  if (!placed && (errno == ENOTEMPTY || errno == EEXIST)) {
    placed = ::renameat2(AT_FDCWD, tmpl.c_str(), AT_FDCWD, dst.c_str(), RENAME_EXCHANGE) == 0;
    if (!placed && errno == EINVAL) {
      // No exchange on this file system: move the old set aside, then the new one in (a reader
      // may find no folder for a moment, never a mixed one).
      std::string aside = tmpl + ".old";
      placed = ::rename(dst.c_str(), aside.c_str()) == 0 && ::rename(tmpl.c_str(), dst.c_str()) == 0;
      if (placed) fs::remove_all(aside, ec);
    }
  }
  if (!placed) {
    int e = errno;
    fs::remove_all(tmpl, ec);
    throw Error(dst + ": cannot put the new folder in place: " + std::strerror(e));
  }
  fsync_dir(parent.string());
  fs::remove_all(tmpl, ec);  // the old set, after an exchange
}

std::string network_fs_name(int64_t f_type) {
  switch (static_cast<uint32_t>(f_type)) {  // linux/magic.h and the file systems' own headers
    case 0x6969: return "NFS";
    case 0x517B: return "SMB";
    case 0xFF534D42: return "CIFS";
    case 0xFE534D42: return "SMB2";
    case 0x65735546: return "FUSE";  // sshfs, s3fs, gcsfuse, ... (a local FUSE file system too)
    case 0x01021997: return "9P";
    case 0x5346414F: return "AFS";
    case 0x00C36400: return "Ceph";
    case 0x01161970: return "GFS2";
    case 0x0BD00BD0: return "Lustre";
    case 0x7461636F: return "OCFS2";
    case 0x47504653: return "GPFS";
    case 0xAAD7AAEA: return "PanFS";
    case 0x013111A8: return "IBRIX";
    default: return "";
  }
}

std::string network_fs_of(const std::string& path) {
  struct statfs s {};
  if (::statfs(path.c_str(), &s) != 0) return "";
  return network_fs_name(static_cast<int64_t>(s.f_type));
}

std::string resolve_relative(const std::string& file, const std::string& rel) {
  fs::path r(rel);
  if (r.is_absolute()) return r.lexically_normal().string();
  fs::path base = fs::path(file).parent_path();
  return (base / r).lexically_normal().string();
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

bool is_directory(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

std::string tree_listing(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return "";
  std::vector<std::string> lines;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec); !ec && it != std::filesystem::end(it);
       it.increment(ec)) {
    struct stat st;
    if (::lstat(it->path().c_str(), &st) != 0 || S_ISDIR(st.st_mode)) continue;
    lines.push_back(it->path().lexically_relative(dir).generic_string() + " " + std::to_string(st.st_size) + " " +
                    std::to_string(static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec) + " " +
                    std::to_string(st.st_ino) + "\n");
  }
  if (ec) lines.push_back("? " + ec.message() + "\n");  // unreadable: never equal to a good listing
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l;
  return out;
}

}  // namespace ghx::util
