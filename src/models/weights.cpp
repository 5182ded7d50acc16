// WeightFile: format by content, then SafetensorsFile or the torch.save reader (torch_zip.h).
#include "models/weights.h"

#include <cstdint>
#include <cstring>

#include "models/torch_zip.h"
#include "util/error.h"

namespace ghx::models {

WeightFile WeightFile::open(const std::string& path) {
  WeightFile w;
  w.m_path = path;
  auto map = Mapping::open(path);
  const unsigned char* p = map->data();
  const std::size_t n = map->size();
  if (n == 0) throw Error(path + ": empty file (0 bytes), not a safetensors or torch .pth file");
  // A safetensors header length may start with the bytes of a zip or pickle signature (640 =
  // 0x80 0x02 ..., PROTO 2): whatever can be safetensors (a length within the file, then '{'; a
  // zip has its compression method there, a pickle an opcode) is read as safetensors.
  std::uint64_t header_len = 0;
  if (n >= 8) std::memcpy(&header_len, p, 8);
  const bool maybe_safetensors = n > 8 && header_len <= n - 8 && p[8] == '{';
  if (looks_like_zip(p, n) && !maybe_safetensors) {
    w.m_format = WeightFormat::torch_zip;
    w.m_tensors = read_torch_zip(path, p, n);
    w.m_mapping = std::move(map);
    return w;
  }
  if (looks_like_legacy_torch(p, n) || (looks_like_pickle(p, n) && !maybe_safetensors))
    throw Error(path + ": legacy torch.save format" +
                (looks_like_legacy_torch(p, n) ? std::string() : std::string(" (a bare pickle)")) +
                ": re-save with torch.save(..., _use_new_zipfile_serialization=True) or convert "
                "to safetensors");
  w.m_format = WeightFormat::safetensors;
  w.m_st = std::make_shared<SafetensorsFile>(SafetensorsFile::open(path));
  w.m_mapping = w.m_st->mapping();
  return w;
}

bool WeightFile::contains(const std::string& name) const {
  return m_st ? m_st->contains(name) : m_tensors.count(name) != 0;
}

const TensorInfo& WeightFile::info(const std::string& name) const {
  if (m_st) return m_st->info(name);
  auto it = m_tensors.find(name);
  if (it == m_tensors.end()) throw Error(m_path + ": missing tensor '" + name + "'");
  return it->second;
}

std::vector<std::string> WeightFile::names() const {
  if (m_st) return m_st->names();
  std::vector<std::string> out;
  out.reserve(m_tensors.size());
  for (const auto& kv : m_tensors) out.push_back(kv.first);
  return out;
}

const unsigned char* WeightFile::data(const std::string& name) const {
  if (m_st) return m_st->data(name);
  return m_mapping->data() + info(name).begin;
}

std::vector<float> WeightFile::to_float(const std::string& name) const {
  const TensorInfo& t = info(name);
  const unsigned char* p = data(name);
  std::vector<float> out(static_cast<std::size_t>(t.numel()));
  switch (t.dtype) {
    case Dtype::f32:
      if (!out.empty()) std::memcpy(out.data(), p, out.size() * 4);
      break;
    case Dtype::f64:
      for (std::size_t i = 0; i < out.size(); ++i) {
        double d;
        std::memcpy(&d, p + 8 * i, 8);
        out[i] = static_cast<float>(d);
      }
      break;
    case Dtype::f16:
    case Dtype::bf16:
      for (std::size_t i = 0; i < out.size(); ++i) {
        std::uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = t.dtype == Dtype::f16 ? half_to_float(h) : bfloat16_to_float(h);
      }
      break;
    default:
      throw Error(m_path + ": tensor '" + name + "' has dtype " + dtype_name(t.dtype) + ", not a float type");
  }
  return out;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace ghx::models
