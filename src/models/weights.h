#pragma once
// A state dict on disk, whatever its format: safetensors, or a torch.save `.pth` zip archive
// (a pickled dict / collections.OrderedDict of tensors, how torchvision's vgg19-dcbb9e9d.pth
// and improved-aesthetic-predictor's .pth are stored). The format is chosen by content, never by
// the file name: "PK\x03\x04" is a torch.save zip (read by torch_zip.h), anything else is read
// as safetensors. Torch-free: models' .cpp files turn the bytes into tensors.
// Owns: the file mapping (shared; data() points into it for both formats, no copy).
// Fails: throws ghx::Error("FILE: ...") naming the file and, where there is one, the key: an
// empty, missing, truncated or garbage file, a legacy (pre-1.6, non-zip) torch.save file, an
// unsupported dtype, a non-contiguous tensor, a top-level value that is not a tensor, a pickle
// that names anything but the few torch rebuild functions (a pickle can otherwise run code).
// Never: executes pickle code, writes, or converts on open.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/safetensors.h"

namespace ghx::models {

enum class WeightFormat { safetensors, torch_zip };

class WeightFile {
 public:
  /// Throws ghx::Error.
  static WeightFile open(const std::string& path);

  const std::string& path() const { return m_path; }
  WeightFormat format() const { return m_format; }
  bool contains(const std::string& name) const;
  /// Throws ghx::Error("FILE: missing tensor 'NAME'").
  const TensorInfo& info(const std::string& name) const;
  /// Tensor names, sorted.
  std::vector<std::string> names() const;
  /// First byte of a contiguous tensor, little-endian. Alignment: torch.save storages are
  /// 64-byte aligned (plus offset * dtype size); safetensors guarantees 1 byte only.
  const unsigned char* data(const std::string& name) const;
  /// Keeps the bytes behind data() alive.
  const std::shared_ptr<const Mapping>& mapping() const { return m_mapping; }
  /// Copy of an f32/f16/bf16/f64 tensor as floats. Throws ghx::Error for other dtypes.
  std::vector<float> to_float(const std::string& name) const;

 private:
  std::string m_path;
  WeightFormat m_format = WeightFormat::safetensors;
  std::shared_ptr<const Mapping> m_mapping;
  /// For safetensors: the parsed file. For .pth: tensors' offsets are absolute in the mapping.
  std::shared_ptr<SafetensorsFile> m_st;
  std::map<std::string, TensorInfo> m_tensors;  ///< .pth only (begin/end absolute in the file)
};

/// "[768, 1024]": shapes in error messages.
std::string shape_text(const std::vector<std::int64_t>& shape);

}  // namespace ghx::models
