// torch.save zip archives without libtorch; see torch_zip.h for the contract.
//
// Zip: the end-of-central-directory record (EOCD) is found by scanning back from the end of the
// file (it may be followed by a comment of up to 64 KiB); if any of its fields is saturated, the
// zip64 locator just before it points at the zip64 EOCD. Each central-directory entry gives the
// local header's offset (zip64 extra 0x0001 when saturated); the data starts after the LOCAL
// header's name and extra field, which torch pads so storages are 64-byte aligned.
//
// The pickle inside (ARCHIVE/data.pkl) is read by torch_pickle.cpp.
#include "models/torch_zip.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <utility>

#include "util/error.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "torch storages are read in place");

namespace ghx::models {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& msg) { throw Error(path + ": " + msg); }

// ---- zip ----

constexpr std::uint32_t k_local_sig = 0x04034b50;
constexpr std::uint32_t k_central_sig = 0x02014b50;
constexpr std::uint32_t k_eocd_sig = 0x06054b50;
constexpr std::uint32_t k_zip64_locator_sig = 0x07064b50;
constexpr std::uint32_t k_zip64_eocd_sig = 0x06064b50;
constexpr std::size_t k_eocd_size = 22;
constexpr std::size_t k_central_size = 46;
constexpr std::size_t k_local_size = 30;
constexpr std::size_t k_zip64_locator_size = 20;
constexpr std::size_t k_zip64_eocd_size = 56;

struct Directory {
  std::uint64_t entries = 0;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
};

Directory find_directory(const std::string& path, const unsigned char* data, std::size_t size) {
  if (size < k_eocd_size) fail(path, "truncated zip archive (" + std::to_string(size) + " bytes)");
  // Scan back over a possible comment (at most 65535 bytes).
  const std::size_t last = size - k_eocd_size;
  const std::size_t first = last > 65535 ? last - 65535 : 0;
  std::size_t eocd = std::numeric_limits<std::size_t>::max();
  for (std::size_t i = last + 1; i-- > first;) {
    if (read_le(data + i, 4) == k_eocd_sig && i + k_eocd_size + read_le(data + i + 20, 2) == size) {
      eocd = i;
      break;
    }
  }
  if (eocd == std::numeric_limits<std::size_t>::max())
    fail(path, "truncated or corrupt zip archive: no end-of-central-directory record");
  const unsigned char* e = data + eocd;
  Directory d;
  d.entries = read_le(e + 10, 2);
  d.size = read_le(e + 12, 4);
  d.offset = read_le(e + 16, 4);
  if (read_le(e + 4, 2) != 0 || read_le(e + 6, 2) != 0) {
    if (read_le(e + 4, 2) != 0xffff && read_le(e + 6, 2) != 0xffff) fail(path, "multi-disk zip archives are not supported");
  }
  const bool saturated =
      d.entries == 0xffff || d.size == 0xffffffffu || d.offset == 0xffffffffu || read_le(e + 8, 2) == 0xffff;
  if (eocd >= k_zip64_locator_size && read_le(data + eocd - k_zip64_locator_size, 4) == k_zip64_locator_sig) {
    const unsigned char* loc = data + eocd - k_zip64_locator_size;
    const std::uint64_t z = read_le(loc + 8, 8);
    if (z > size || size - z < k_zip64_eocd_size || read_le(data + z, 4) != k_zip64_eocd_sig)
      fail(path, "corrupt zip64 archive: bad zip64 end-of-central-directory offset");
    const unsigned char* r = data + z;
    d.entries = read_le(r + 32, 8);
    d.size = read_le(r + 40, 8);
    d.offset = read_le(r + 48, 8);
  } else if (saturated) {
    fail(path,
         "corrupt zip archive: saturated end-of-central-directory record without zip64 "
         "locator (truncated?)");
  }
  if (d.offset > size || d.size > size - d.offset)
    fail(path, "central directory (offset " + std::to_string(d.offset) + ", " + std::to_string(d.size) +
                   " bytes) lies beyond the end of the file (" + std::to_string(size) + " bytes): truncated?");
  return d;
}

}  // namespace

bool looks_like_zip(const unsigned char* data, std::size_t size) {
  return size >= 4 && data[0] == 'P' && data[1] == 'K' &&
         ((data[2] == 3 && data[3] == 4) || (data[2] == 5 && data[3] == 6));
}

bool looks_like_pickle(const unsigned char* data, std::size_t size) {
  return size >= 2 && data[0] == 0x80 && data[1] >= 1 && data[1] <= 5;
}

bool looks_like_legacy_torch(const unsigned char* data, std::size_t size) {
  // PROTO 2, LONG1 10 bytes: torch.serialization.MAGIC_NUMBER.
  static const unsigned char k_magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c,
                                          0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  return size >= sizeof k_magic && std::memcmp(data, k_magic, sizeof k_magic) == 0;
}

std::uint32_t crc32(const unsigned char* data, std::size_t size) {
  static const auto table = [] {
    std::vector<std::uint32_t> t(256);
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xffffffffu;
  for (std::size_t i = 0; i < size; ++i) c = table[(c ^ data[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

std::vector<ZipEntry> read_zip_directory(const std::string& path, const unsigned char* data, std::size_t size) {
  const Directory d = find_directory(path, data, size);
  std::vector<ZipEntry> out;
  std::size_t pos = static_cast<std::size_t>(d.offset);
  const std::size_t end = static_cast<std::size_t>(d.offset + d.size);
  for (std::uint64_t n = 0; n < d.entries; ++n) {
    const std::string where = "central directory entry " + std::to_string(n);
    if (end - pos < k_central_size || read_le(data + pos, 4) != k_central_sig)
      fail(path, "corrupt zip archive: " + where + " is missing or damaged");
    const unsigned char* c = data + pos;
    ZipEntry z;
    const std::uint64_t flags = read_le(c + 8, 2);
    z.method = static_cast<std::uint16_t>(read_le(c + 10, 2));
    z.crc32 = static_cast<std::uint32_t>(read_le(c + 16, 4));
    z.compressed = read_le(c + 20, 4);
    z.size = read_le(c + 24, 4);
    const std::size_t name_len = read_le(c + 28, 2), extra_len = read_le(c + 30, 2), comment_len = read_le(c + 32, 2);
    std::uint64_t local = read_le(c + 42, 4);
    if (end - pos - k_central_size < name_len + extra_len + comment_len)
      fail(path, "corrupt zip archive: " + where + " runs past the central directory");
    z.name.assign(reinterpret_cast<const char*>(c + k_central_size), name_len);
    if (flags & 1) fail(path, "zip entry '" + z.name + "' is encrypted");
    // zip64 extra field: only the saturated fields are present, in this order.
    const unsigned char* x = c + k_central_size + name_len;
    const unsigned char* x_end = x + extra_len;
    while (x_end - x >= 4) {
      const std::uint64_t id = read_le(x, 2), len = read_le(x + 2, 2);
      if (static_cast<std::uint64_t>(x_end - x - 4) < len)
        fail(path, "corrupt zip archive: extra field of '" + z.name + "' is truncated");
      if (id == 0x0001) {
        const unsigned char* f = x + 4;
        std::uint64_t left = len;
        auto take = [&](std::uint64_t* v) {
          if (left < 8) fail(path, "corrupt zip64 extra field in entry '" + z.name + "'");
          *v = read_le(f, 8);
          f += 8;
          left -= 8;
        };
        if (z.size == 0xffffffffu) take(&z.size);
        if (z.compressed == 0xffffffffu) take(&z.compressed);
        if (local == 0xffffffffu) take(&local);
      }
      x += 4 + len;
    }
    // The local header repeats name and extra (torch's extra is padding to 64-byte alignment).
    if (local > size || size - local < k_local_size || read_le(data + local, 4) != k_local_sig)
      fail(path, "zip entry '" + z.name + "': local header at offset " + std::to_string(local) +
                     " is missing (truncated or corrupt archive)");
    const unsigned char* l = data + local;
    const std::uint64_t start = local + k_local_size + read_le(l + 26, 2) + read_le(l + 28, 2);
    if (start > size || size - start < z.compressed)
      fail(path, "zip entry '" + z.name + "' (" + std::to_string(z.compressed) + " bytes at offset " +
                     std::to_string(start) + ") runs past the end of the file (" + std::to_string(size) +
                     " bytes): truncated?");
    if (z.method == 0 && z.compressed != z.size)
      fail(path, "corrupt zip archive: stored entry '" + z.name + "' has compressed size " +
                     std::to_string(z.compressed) + " != size " + std::to_string(z.size));
    z.data_offset = start;
    out.push_back(std::move(z));
    pos += k_central_size + name_len + extra_len + comment_len;
  }
  return out;
}

// ---- the archive around the pickle ----

std::map<std::string, TensorInfo> read_torch_zip(const std::string& path, const unsigned char* data, std::size_t size) {
  const std::vector<ZipEntry> entries = read_zip_directory(path, data, size);
  // ARCHIVE/data.pkl names the archive's single top folder.
  const ZipEntry* pkl = nullptr;
  bool torchscript = false;
  for (const ZipEntry& e : entries) {
    const auto slash = e.name.find('/');
    if (slash == std::string::npos || e.name.find('/', slash + 1) != std::string::npos) continue;
    const std::string base = e.name.substr(slash + 1);
    if (base == "constants.pkl") torchscript = true;
    if (base != "data.pkl") continue;
    if (pkl != nullptr) fail(path, "zip archive holds two pickles ('" + pkl->name + "', '" + e.name + "')");
    pkl = &e;
  }
  if (pkl == nullptr)
    fail(path, torchscript ? "a TorchScript archive (torch.jit.save), not a torch.save state dict"
                           : "zip archive without ARCHIVE/data.pkl: not a torch.save file");
  const std::string prefix = pkl->name.substr(0, pkl->name.find('/') + 1);

  std::map<std::string, const ZipEntry*> storages;
  const ZipEntry* byteorder = nullptr;
  for (const ZipEntry& e : entries) {
    if (e.name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = e.name.substr(prefix.size());
    if (rest == "byteorder") byteorder = &e;
    if (rest.compare(0, 5, "data/") != 0 || rest.size() == 5) continue;
    if (e.method != 0)
      fail(path, "zip entry '" + e.name + "' is compressed (method " + std::to_string(e.method) +
                     "); torch.save stores storages uncompressed");
    storages.emplace(rest.substr(5), &e);
  }
  auto small_entry = [&](const ZipEntry& e) {
    if (e.method != 0)
      fail(path, "zip entry '" + e.name + "' is compressed (method " + std::to_string(e.method) +
                     "); torch.save stores entries uncompressed");
    const unsigned char* p = data + e.data_offset;
    if (crc32(p, static_cast<std::size_t>(e.size)) != e.crc32)
      fail(path, "zip entry '" + e.name + "' fails its CRC check: corrupt archive");
    return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(e.size));
  };
  if (byteorder != nullptr && small_entry(*byteorder) != "little")
    fail(path, "archive byteorder is '" + small_entry(*byteorder) + "', only little-endian is read");
  const std::string pickle = small_entry(*pkl);
  return unpickle_state_dict(path, reinterpret_cast<const unsigned char*>(pickle.data()), pickle.size(), storages);
}

}  // namespace ghx::models
