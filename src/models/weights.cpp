#include "models/weights.h"

#include <cstring>

#include "util/error.h"

namespace ghx::models {

WeightFile WeightFile::open(const std::string& path) {
  WeightFile w;
  w.m_path = path;
  auto map = Mapping::open(path);
  if (map->size() >= 4 && std::memcmp(map->data(), "PK\x03\x04", 4) == 0) {
    throw Error(path + ": torch .pth (zip) state dicts are not supported yet; convert to safetensors");
  }
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
  for (const auto& [k, v] : m_tensors) out.push_back(k);
  return out;
}

const unsigned char* WeightFile::data(const std::string& name) const {
  if (m_st) return m_st->data(name);
  return m_mapping->data() + info(name).begin;
}

std::vector<float> WeightFile::to_float(const std::string& name) const {
  if (m_st) return m_st->to_float(name);
  const TensorInfo& t = info(name);
  const unsigned char* p = data(name);
  std::vector<float> out(static_cast<size_t>(t.numel()));
  switch (t.dtype) {
    case Dtype::f32: std::memcpy(out.data(), p, out.size() * 4); break;
    case Dtype::f16:
    case Dtype::bf16:
      for (size_t i = 0; i < out.size(); ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = t.dtype == Dtype::f16 ? half_to_float(h) : bfloat16_to_float(h);
      }
      break;
    default: throw Error(m_path + ": tensor '" + name + "' has dtype " + dtype_name(t.dtype) + ", not a float type");
  }
  return out;
}

}  // namespace ghx::models
