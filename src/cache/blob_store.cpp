#include "cache/blob_store.h"

#include <filesystem>

#include "util/error.h"
#include "util/fs.h"

namespace ghx::cache {

namespace fs = std::filesystem;

bool BlobStore::valid_address(const std::string& address) {
  // What put() writes: XXH3-128 as 32 lowercase hex digits. Anything else (an empty or NULL
  // column, "../x", a path) names no blob: it must never become a path that is read or removed.
  if (address.size() != 32) return false;
  for (char c : address)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string BlobStore::path_of(const std::string& address) const {
  if (!valid_address(address)) throw Error("cache: '" + address + "' is not a blob address (32 hex digits)");
  return m_dir + "/" + address.substr(0, 2) + "/" + address.substr(2);
}

std::string BlobStore::put(std::string_view data) {
  std::string address = util::xxh3_128(data).hex();
  std::string path = path_of(address);
  if (check(address) == BlobStatus::ok) return address;
  util::write_file_atomic(path, data);
  return address;
}

BlobStatus BlobStore::get(const std::string& address, std::string* out) const {
  if (!valid_address(address)) return BlobStatus::corrupt;  // a damaged index row
  std::string path = path_of(address);
  if (!util::file_exists(path)) return BlobStatus::missing;
  std::string data;
  try {
    data = util::read_file(path);
  } catch (const Error&) {
    return BlobStatus::corrupt;
  }
  if (util::xxh3_128(data).hex() != address) return BlobStatus::corrupt;
  *out = std::move(data);
  return BlobStatus::ok;
}

BlobStatus BlobStore::check(const std::string& address) const {
  std::string tmp;
  return get(address, &tmp);
}

bool BlobStore::remove(const std::string& address) {
  if (!valid_address(address)) return false;  // never a file outside objects/
  std::error_code ec;
  return fs::remove(path_of(address), ec);
}

void BlobStore::scan(std::vector<std::string>* addresses, std::vector<std::string>* temps) const {
  std::error_code ec;
  if (!fs::is_directory(m_dir, ec)) return;
  for (const auto& sub : fs::directory_iterator(m_dir, ec)) {
    if (!sub.is_directory(ec)) continue;
    std::string prefix = sub.path().filename().string();
    for (const auto& f : fs::directory_iterator(sub.path(), ec)) {
      std::string name = f.path().filename().string();
      if (!name.empty() && name[0] == '.') {
        if (temps) temps->push_back(f.path().string());
      } else if (addresses && valid_address(prefix + name) && prefix.size() == 2) {
        addresses->push_back(prefix + name);
      }
    }
  }
}

}  // namespace ghx::cache
