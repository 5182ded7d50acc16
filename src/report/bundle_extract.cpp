// Verifier's extraction: a bundle's entries checked one by one and written below a temporary
// folder, never through a link, never outside it (report/bundle.h).
#include "report/bundle_parts.h"


#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "dsl/loader.h"
#include "exec/executor.h"
#include "stats/stats.h"
#include "plan/file_hasher.h"
#include "report/gallery.h"
#include "report/render.h"
#include "report/review_doc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/strings.h"
#include "util/version.h"


namespace ghx::report::bundle_detail {

/// Extracts regular files and folders into <work>/bundle after checking each entry; false
/// when the file is no archive we read (m_res.unreadable set).
bool Verifier::extract(const std::string& file) {
  ArchiveReader ar;
  if (archive_read_open_filename(ar.a, file.c_str(), 1 << 16) != ARCHIVE_OK) {
    m_res.unreadable = true;
    m_res.error = file + ": not a tar archive (" + ar.err() + ")";
    return false;
  }
  m_root = m_work + "/bundle";
  if (::mkdir(m_root.c_str(), 0700) != 0) throw Error(m_root + ": " + std::strerror(errno));
  int64_t n = 0, extracted = 0;
  uint64_t total = 0;
  std::set<std::string> seen;
  std::string last = "(start)";
  std::vector<char> buf(1 << 16);
  for (;;) {
    struct archive_entry* e = nullptr;
    int r = archive_read_next_header(ar.a, &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      if (n == 0) {
        m_res.unreadable = true;
        m_res.error = file + ": not a tar archive (" + ar.err() + ")";
        return false;
      }
      mismatch("archive", last, "the archive is damaged after this entry: " + ar.err());
      break;
    }
    ++n;
    const char* raw = archive_entry_pathname(e);
    if (!raw) raw = archive_entry_pathname_utf8(e);
    std::string name = raw ? raw : "";
    last = name.empty() ? "entry #" + std::to_string(n) : name;
    std::string rel;  // relative to the top folder
    bool is_dir = archive_entry_filetype(e) == AE_IFDIR;
    std::string why = entry_problem(e, name, is_dir, rel);
    if (why.empty() && !seen.insert(rel).second) why = "appears twice in the archive";
    uint64_t size =
        archive_entry_size_is_set(e) ? static_cast<uint64_t>(std::max<la_int64_t>(0, archive_entry_size(e))) : 0;
    if (why.empty() && !is_dir && size > k_max_entry_bytes)
      why = "is " + std::to_string(size) + " bytes, over the limit of " + std::to_string(k_max_entry_bytes) +
            " per file";
    if (why.empty() && !is_dir && total + size > k_max_total_bytes) {
      mismatch("archive", last,
               "the files add up to more than " + std::to_string(k_max_total_bytes) +
                   " bytes; this entry and the rest were not extracted");
      break;
    }
    if (!why.empty()) {
      mismatch("archive", last, "rejected: " + why + "; not extracted");
      archive_read_data_skip(ar.a);
      continue;
    }
    std::string target = m_root + "/" + m_res.top + (rel.empty() ? "" : "/" + rel);
    std::string problem = make_parents(m_res.top + (rel.empty() ? "" : "/" + rel));
    if (problem.empty() && is_dir && ::mkdir(target.c_str(), 0700) != 0 && !is_folder(target))
      problem = "a file and a folder have the same name";
    if (!problem.empty()) {
      mismatch("archive", last, "rejected: " + problem + "; not extracted");
      archive_read_data_skip(ar.a);
      continue;
    }
    if (is_dir) continue;
    int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      mismatch("archive", last,
               std::string("rejected: cannot be created (") + std::strerror(errno) + "); not extracted");
      archive_read_data_skip(ar.a);
      continue;
    }
    bool damaged = false;
    for (;;) {
      la_ssize_t got = archive_read_data(ar.a, buf.data(), buf.size());
      if (got == 0) break;
      if (got < 0) {
        mismatch("archive", last, "the archive is damaged in this entry: " + ar.err());
        damaged = true;
        break;
      }
      total += static_cast<uint64_t>(got);
      for (la_ssize_t off = 0; off < got;) {
        ssize_t w = ::write(fd, buf.data() + off, static_cast<size_t>(got - off));
        if (w < 0) {
          ::close(fd);
          throw Error(target + ": " + std::strerror(errno));
        }
        off += w;
      }
    }
    ::close(fd);
    if (damaged) break;
    m_files.insert(rel);
    ++extracted;
  }
  m_res.checked["entries"] = n;
  m_res.checked["files"] = extracted;
  if (n == 0) {
    m_res.unreadable = true;
    m_res.error = file + ": an empty archive, not a ghx bundle";
    return false;
  }
  return true;
}

/// Why an entry may not be extracted ("" = fine); sets `rel`, its path below the top folder.
std::string Verifier::entry_problem(struct archive_entry* e, const std::string& name, bool is_dir, std::string& rel) {
  if (name.empty()) return "it has no name";
  if (const char* link = archive_entry_hardlink(e)) return std::string("it is a hard link (to ") + link + ")";
  switch (archive_entry_filetype(e)) {
    case AE_IFREG:
    case AE_IFDIR:
      break;
    case AE_IFLNK: {
      const char* to = archive_entry_symlink(e);
      return std::string("it is a symbolic link (to ") + (to ? to : "?") + ")";
    }
    case AE_IFCHR:
    case AE_IFBLK:
      return "it is a device";
    case AE_IFIFO:
      return "it is a FIFO";
    case AE_IFSOCK:
      return "it is a socket";
    default:
      return "it is not a regular file or folder";
  }
  if (name.size() > 4096) return "its name is over 4096 bytes";
  if (name[0] == '/') return "its path is absolute";
  std::vector<std::string> parts = util::split(name, '/');
  if (is_dir && parts.size() > 1 && parts.back().empty()) parts.pop_back();
  for (const auto& p : parts) {
    if (p == "..") return "its path has a '..' component";
    if (p.empty() || p == ".") return "its path is not a plain relative path";
  }
  if (m_res.top.empty()) {
    if (!is_dir && parts.size() == 1) return "a file where the bundle's top folder belongs";
    m_res.top = parts[0];
  } else if (parts[0] != m_res.top) {
    return "it lies outside the top folder '" + m_res.top + "/'";
  }
  if (!is_dir && parts.size() == 1) return "a file where the bundle's top folder belongs";
  rel.clear();
  for (size_t i = 1; i < parts.size(); ++i) rel += (i > 1 ? "/" : "") + parts[i];
  return "";
}

bool Verifier::is_folder(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

/// Creates the folders above `rel` (below m_root), one at a time; "" or the problem.
std::string Verifier::make_parents(const std::string& rel) {
  std::string cur = m_root;
  std::vector<std::string> parts = util::split(rel, '/');
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    cur += "/" + parts[i];
    if (::mkdir(cur.c_str(), 0700) != 0 && !is_folder(cur)) return "a file and a folder have the same name";
  }
  return "";
}

std::optional<std::string> Verifier::read(const std::string& rel) const {
  if (!m_files.count(rel)) return std::nullopt;
  return util::read_file(file_path(rel));
}

}  // namespace ghx::report::bundle_detail
