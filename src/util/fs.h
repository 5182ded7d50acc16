#pragma once
// Small file-system helpers. Knows no ghx types.
// Fails: throws ghx::Error with the path in the message.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace ghx::util {

/// Reads a whole file. Throws ghx::Error if it cannot.
std::string read_file(const std::string& path);

/// Atomic write: a unique temporary file in the target's folder, write, fsync, rename over the
/// target (then fsync the folder). Either the old or the new content is there after a crash,
/// never a torn file. Creates the folder if needed.
void write_file_atomic(const std::string& path, std::string_view data);

/// Writes a folder as a set: `fill` writes every file into a fresh temporary sibling folder
/// (.NAME.tmp.PID.XXXXXX), which then takes `target`'s place in one rename (an atomic exchange
/// where `target` exists and the file system has one), and the old folder is removed. A reader
/// sees the old set or the new one, never a mix; a crash leaves the old set and a temporary
/// folder, which a later call removes once its process is gone. If `fill` throws, the target is
/// untouched and the temporary folder removed.
void replace_dir(const std::string& target, const std::function<void(const std::string& tmp)>& fill);

/// The name of a network or cluster file system type (statfs f_type: "NFS", "CIFS", "SMB2",
/// "FUSE", ...) on which SQLite's WAL (shared memory between processes) and its locks cannot be
/// trusted; "" for a local one.
std::string network_fs_name(int64_t f_type);
/// network_fs_name() of the file system holding `path` ("" when it cannot be told).
std::string network_fs_of(const std::string& path);

/// Joins `rel` to the folder of `file` unless `rel` is absolute; lexically normalised.
std::string resolve_relative(const std::string& file, const std::string& rel);

/// Every file below `dir`, one line each, sorted by path: "PATH SIZE MTIME_NS INODE\n" (PATH
/// relative to `dir`). "" for a folder that does not exist. What a stamp compares, as ninja
/// compares mtimes: a file edited, added or removed changes it.
std::string tree_listing(const std::string& dir);

bool file_exists(const std::string& path);
bool is_directory(const std::string& path);

}  // namespace ghx::util
