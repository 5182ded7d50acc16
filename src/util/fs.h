#pragma once
// Small file-system helpers. Knows no ghx types.
// Fails: throws ghx::Error with the path in the message.
#include <string>
#include <string_view>

namespace ghx::util {

/// Reads a whole file. Throws ghx::Error if it cannot.
std::string read_file(const std::string& path);

/// Atomic write: a unique temporary file in the target's folder, write, fsync, rename over the
/// target (then fsync the folder). Either the old or the new content is there after a crash,
/// never a torn file. Creates the folder if needed.
void write_file_atomic(const std::string& path, std::string_view data);

/// Joins `rel` to the folder of `file` unless `rel` is absolute; lexically normalised.
std::string resolve_relative(const std::string& file, const std::string& rel);

bool file_exists(const std::string& path);
bool is_directory(const std::string& path);

}  // namespace ghx::util
