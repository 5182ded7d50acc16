#pragma once
// Safetensors files: a validating, zero-copy reader (mmap) and a deterministic F32 writer.
// Torch-free on purpose: the bytes are handed to the torch code in src/models/*.cpp, and tests
// and tools can read and write weights without libtorch.
//
// Layout: u64 little-endian header length N, then N bytes of JSON
// {name: {"dtype": D, "shape": [..], "data_offsets": [b, e]}, "__metadata__": {str: str}},
// then the data section; offsets are relative to byte 8 + N.
// Owns: the file mapping (shared; tensors made from it keep it alive through mapping()).
// Fails: throws ghx::Error("FILE: ...") naming the file and, where there is one, the key: a
// missing, truncated or garbage file, a header length beyond the file, bad JSON, an unknown
// dtype, offsets out of range, overlapping or disagreeing with dtype * shape.
// Never: writes through the mapping, converts on open, or leaves a partial file behind (writes
// go to a temp file in the same folder, fsync, rename).
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ghx::models {

/// The dtypes a safetensors header may name. Only f32, f16 and bf16 convert to float; the
/// others are accepted (a file may carry tensors nobody reads) but not converted.
enum class Dtype { f64, f32, f16, bf16, i64, i32, i16, i8, u8, boolean };

/// "F32", "BF16", ... as written in headers.
const char* dtype_name(Dtype d);
std::size_t dtype_size(Dtype d);

struct TensorInfo {
  Dtype dtype = Dtype::f32;
  std::vector<std::int64_t> shape;
  std::size_t begin = 0;  ///< offset into the data section
  std::size_t end = 0;    ///< one past the last byte
  std::int64_t numel() const;
};

/// A read-only memory mapping of a whole file; unmapped when the last owner goes.
class Mapping {
 public:
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping();
  /// Throws ghx::Error("PATH: ...") when the file cannot be opened or mapped.
  static std::shared_ptr<const Mapping> open(const std::string& path);
  const unsigned char* data() const { return m_data; }
  std::size_t size() const { return m_size; }

 private:
  Mapping() = default;
  const unsigned char* m_data = nullptr;
  std::size_t m_size = 0;
};

class SafetensorsFile {
 public:
  /// Maps and validates the whole header. Throws ghx::Error.
  static SafetensorsFile open(const std::string& path);

  const std::string& path() const { return m_path; }
  bool contains(const std::string& name) const { return m_tensors.count(name) != 0; }
  /// Throws ghx::Error("FILE: missing tensor 'NAME'").
  const TensorInfo& info(const std::string& name) const;
  /// Tensor names, sorted.
  std::vector<std::string> names() const;
  const std::map<std::string, std::string>& metadata() const { return m_metadata; }

  /// First byte of a tensor inside the mapping (only 1-byte alignment is guaranteed).
  const unsigned char* data(const std::string& name) const;
  /// The mapping, for anyone who keeps pointers into it (e.g. from_blob deleters).
  const std::shared_ptr<const Mapping>& mapping() const { return m_mapping; }

  /// Copy of an f32/f16/bf16 tensor as floats. Throws ghx::Error for other dtypes.
  std::vector<float> to_float(const std::string& name) const;

 private:
  std::string m_path;
  std::shared_ptr<const Mapping> m_mapping;
  std::size_t m_data_start = 0;
  std::map<std::string, TensorInfo> m_tensors;
  std::map<std::string, std::string> m_metadata;
};

float half_to_float(std::uint16_t h);
float bfloat16_to_float(std::uint16_t b);

struct FloatTensor {
  std::vector<std::int64_t> shape;
  std::vector<float> data;  ///< row-major, size = product of shape
};

/// A tensor in any dtype, as raw little-endian bytes (size = dtype size * product of shape).
struct RawTensor {
  Dtype dtype = Dtype::f32;
  std::vector<std::int64_t> shape;
  std::string bytes;
};

/// Writes `tensors` as safetensors: keys sorted, data packed in key order, compact JSON header
/// space-padded to a multiple of 8, so the same input gives the same bytes. Atomic: temp file in
/// the same folder, fsync, rename. Throws ghx::Error("PATH: ...") on I/O failure or when a
/// shape disagrees with its byte count.
void write_safetensors(const std::string& path, const std::map<std::string, RawTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

/// Writes `tensors` as F32 safetensors (the overload above, same guarantees).
void write_safetensors(const std::string& path, const std::map<std::string, FloatTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});


}  // namespace ghx::models
