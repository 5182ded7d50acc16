#pragma once
// torch.save `.pth` archives (the zip format torch writes since 1.6) read without libtorch:
// internal to src/models/ (WeightFile is the public face), exposed for tests.
//
// Owns: a zip central-directory reader over a mapped file (zip64 extra fields and records, so
// files over 4 GB work; stored entries only, which is all torch.save writes), and a pickle
// machine for the subset torch.save emits for a state dict: a dict / collections.OrderedDict of
// torch._utils._rebuild_tensor_v2 (or _rebuild_parameter) tensors whose storages are the entries
// ARCHIVE/data/<key>; or, for a torch.jit.save archive, a tree of TorchScript modules
// (GLOBAL __torch__.*, NEWOBJ, BUILD with an attribute dict) whose tensor attributes are named
// by their path ("visual.conv1.weight"; other attributes skipped; torch.jit._pickle's build_*list
// and restore_type_tag return their argument). Tensors come back as TensorInfo with begin/end ABSOLUTE offsets into the
// mapping (zero-copy: the bytes are never copied or converted).
// Fails: throws ghx::Error("FILE: ...") naming the file and, where there is one, the key: a
// truncated or corrupt zip, a compressed or out-of-range entry, an unsupported pickle opcode, a
// GLOBAL outside the whitelist (named in the message), a non-contiguous tensor, a storage too
// small for its tensor, a top-level value that is not a tensor, a big-endian archive.
// Never: executes anything a pickle names (GLOBALs are matched against a fixed whitelist of
// collections.OrderedDict, torch._utils._rebuild_tensor_v2/_rebuild_parameter, torch.<X>Storage,
// torch dtypes, __torch__.* module classes (data only) and torch.jit._pickle's list builders;
// nothing is imported or called), writes, or allocates per tensor byte.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "models/safetensors.h"

namespace ghx::models {

struct ZipEntry {
  std::string name;
  std::uint16_t method = 0;  ///< 0 = stored
  std::uint32_t crc32 = 0;
  std::uint64_t size = 0;  ///< uncompressed size
  std::uint64_t compressed = 0;
  std::uint64_t data_offset = 0;  ///< first byte of the entry's data in the file
};

/// True for "PK\x03\x04" (a zip's first local header) or "PK\x05\x06" (an empty zip).
bool looks_like_zip(const unsigned char* data, std::size_t size);
/// True for a bare pickle (PROTO opcode first): torch.save's legacy, pre-1.6 format.
bool looks_like_pickle(const unsigned char* data, std::size_t size);
/// True for the legacy format's exact start: pickled magic number 0x1950a86a20f9469cfc6c.
bool looks_like_legacy_torch(const unsigned char* data, std::size_t size);

/// The central directory of the zip archive in data[0, size), in directory order.
/// Throws ghx::Error("PATH: ...").
std::vector<ZipEntry> read_zip_directory(const std::string& path, const unsigned char* data, std::size_t size);

/// The tensors of the torch.save state dict in data[0, size) (the whole mapped file).
/// Throws ghx::Error("PATH: ...").
std::map<std::string, TensorInfo> read_torch_zip(const std::string& path, const unsigned char* data, std::size_t size);

/// The tensors the pickle data[0, size) (a state dict's data.pkl) describes, their storages
/// found in `storages` (the ARCHIVE/data/<key> entries by key). Throws ghx::Error("PATH: ...").
std::map<std::string, TensorInfo> unpickle_state_dict(const std::string& path, const unsigned char* pickle,
                                                      std::size_t size,
                                                      const std::map<std::string, const ZipEntry*>& storages);

/// The n-byte little-endian unsigned integer at p (n <= 8), as zip and pickle write them.
inline std::uint64_t read_le(const unsigned char* p, int n) {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

/// CRC-32 (zip's polynomial), for checking small entries.
std::uint32_t crc32(const unsigned char* data, std::size_t size);

}  // namespace ghx::models
