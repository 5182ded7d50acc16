// Safetensors reader and writer; see safetensors.h for the layout and the contract.
#include "models/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/fs.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian");

namespace ghx::models {
namespace {

// The reference implementation refuses headers over 100 MB; so do we (a garbage length would
// otherwise ask the JSON parser to chew on the whole file).
constexpr std::uint64_t k_max_header = 100u * 1024 * 1024;

[[noreturn]] void fail(const std::string& path, const std::string& msg) {
  throw Error(path + ": " + msg);
}

std::string errno_text() { return std::strerror(errno); }

bool parse_dtype(const std::string& s, Dtype* out) {
  static const std::pair<const char*, Dtype> k_names[] = {
      {"F64", Dtype::f64}, {"F32", Dtype::f32}, {"F16", Dtype::f16}, {"BF16", Dtype::bf16},
      {"I64", Dtype::i64}, {"I32", Dtype::i32}, {"I16", Dtype::i16}, {"I8", Dtype::i8},
      {"U8", Dtype::u8},   {"BOOL", Dtype::boolean}};
  for (const auto& [name, d] : k_names) {
    if (s == name) {
      *out = d;
      return true;
    }
  }
  return false;
}

// Reads a non-negative integer JSON value that fits in u64, else returns false.
bool as_u64(const nlohmann::json& v, std::uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<std::uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) {
    *out = static_cast<std::uint64_t>(v.get<std::int64_t>());
    return true;
  }
  return false;
}

TensorInfo parse_entry(const std::string& path, const std::string& key, const nlohmann::json& v,
                       std::size_t data_size) {
  auto bad = [&](const std::string& msg) { fail(path, "tensor '" + key + "': " + msg); };
  if (!v.is_object()) bad("header entry is not an object");
  TensorInfo t;
  auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string()) bad("missing dtype");
  if (!parse_dtype(dt->get<std::string>(), &t.dtype))
    bad("unknown dtype '" + dt->get<std::string>() + "'");
  auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array()) bad("missing shape");
  // numel stays below 2^63 / 8 so that numel * dtype size cannot overflow.
  std::uint64_t numel = 1;
  for (const auto& d : *sh) {
    std::uint64_t n = 0;
    if (!as_u64(d, &n)) bad("shape holds a non-integer or negative dimension");
    if (n != 0 && numel > (std::numeric_limits<std::uint64_t>::max() >> 4) / n)
      bad("shape is too large");
    numel *= n;
    t.shape.push_back(static_cast<std::int64_t>(n));
  }
  auto off = v.find("data_offsets");
  if (off == v.end() || !off->is_array() || off->size() != 2) bad("missing data_offsets [b, e]");
  std::uint64_t b = 0, e = 0;
  if (!as_u64((*off)[0], &b) || !as_u64((*off)[1], &e)) bad("data_offsets are not integers");
  if (b > e) bad("data_offsets [" + std::to_string(b) + ", " + std::to_string(e) + "] reversed");
  if (e > data_size)
    bad("data_offsets [" + std::to_string(b) + ", " + std::to_string(e) +
        "] beyond the data section (" + std::to_string(data_size) + " bytes; truncated file?)");
  const std::uint64_t want = numel * dtype_size(t.dtype);
  if (e - b != want)
    bad("data_offsets span " + std::to_string(e - b) + " bytes, dtype and shape need " +
        std::to_string(want));
  t.begin = static_cast<std::size_t>(b);
  t.end = static_cast<std::size_t>(e);
  return t;
}


}  // namespace

const char* dtype_name(Dtype d) {
  switch (d) {
    case Dtype::f64: return "F64";
    case Dtype::f32: return "F32";
    case Dtype::f16: return "F16";
    case Dtype::bf16: return "BF16";
    case Dtype::i64: return "I64";
    case Dtype::i32: return "I32";
    case Dtype::i16: return "I16";
    case Dtype::i8: return "I8";
    case Dtype::u8: return "U8";
    case Dtype::boolean: return "BOOL";
  }
  return "?";
}

std::size_t dtype_size(Dtype d) {
  switch (d) {
    case Dtype::f64:
    case Dtype::i64: return 8;
    case Dtype::f32:
    case Dtype::i32: return 4;
    case Dtype::f16:
    case Dtype::bf16:
    case Dtype::i16: return 2;
    case Dtype::i8:
    case Dtype::u8:
    case Dtype::boolean: return 1;
  }
  return 1;
}

std::int64_t TensorInfo::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

// ---- Mapping ----

Mapping::~Mapping() {
  if (m_data != nullptr && m_size != 0)
    ::munmap(const_cast<unsigned char*>(m_data), m_size);
}

std::shared_ptr<const Mapping> Mapping::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, "cannot open: " + errno_text());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    std::string why = errno_text();
    ::close(fd);
    fail(path, "cannot stat: " + why);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, "not a regular file");
  }
  std::shared_ptr<Mapping> m(new Mapping());
  m->m_size = static_cast<std::size_t>(st.st_size);
  if (m->m_size != 0) {
    void* p = ::mmap(nullptr, m->m_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      std::string why = errno_text();
      ::close(fd);
      m->m_size = 0;
      fail(path, "cannot map: " + why);
    }
    m->m_data = static_cast<const unsigned char*>(p);
  }
  ::close(fd);
  return m;
}

// ---- SafetensorsFile ----

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  f.m_path = path;
  f.m_mapping = Mapping::open(path);
  const std::size_t size = f.m_mapping->size();
  const unsigned char* p = f.m_mapping->data();
  if (size < 8)
    fail(path, "truncated: " + std::to_string(size) + " bytes, a safetensors file has at least 8");
  std::uint64_t n = 0;
  std::memcpy(&n, p, 8);
  if (n > size - 8)
    fail(path, "header length " + std::to_string(n) + " is larger than the file (" +
                   std::to_string(size) + " bytes): truncated or not a safetensors file");
  if (n > k_max_header) fail(path, "header length " + std::to_string(n) + " exceeds 100 MB");
  if (n < 2) fail(path, "header of " + std::to_string(n) + " bytes cannot hold a JSON object");

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(p + 8, p + 8 + n);
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("header is not valid JSON (not a safetensors file?): ") + e.what());
  }
  if (!header.is_object()) fail(path, "header is not a JSON object");

  f.m_data_start = 8 + static_cast<std::size_t>(n);
  const std::size_t data_size = size - f.m_data_start;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it.value().is_object()) fail(path, "__metadata__ is not an object");
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string())
          fail(path, "__metadata__ value of '" + m.key() + "' is not a string");
        f.m_metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    f.m_tensors[it.key()] = parse_entry(path, it.key(), it.value(), data_size);
  }

  // No two tensors may share bytes (empty tensors occupy nothing).
  std::vector<std::pair<const std::string*, const TensorInfo*>> order;
  for (const auto& [k, t] : f.m_tensors)
    if (t.end > t.begin) order.emplace_back(&k, &t);
  std::sort(order.begin(), order.end(),
            [](const auto& a, const auto& b) { return a.second->begin < b.second->begin; });
  for (std::size_t i = 1; i < order.size(); ++i) {
    if (order[i].second->begin < order[i - 1].second->end)
      fail(path, "tensor '" + *order[i].first + "' overlaps tensor '" + *order[i - 1].first + "'");
  }
  return f;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = m_tensors.find(name);
  if (it == m_tensors.end()) fail(m_path, "missing tensor '" + name + "'");
  return it->second;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(m_tensors.size());
  for (const auto& kv : m_tensors) out.push_back(kv.first);
  return out;
}

const unsigned char* SafetensorsFile::data(const std::string& name) const {
  return m_mapping->data() + m_data_start + info(name).begin;
}

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t man = h & 0x3ffu;
  std::uint32_t bits = 0;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);  // inf / nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man != 0) {  // subnormal: normalise
    exp = 113;
    while ((man & 0x400u) == 0) {
      man <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((man & 0x3ffu) << 13);
  } else {
    bits = sign;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bfloat16_to_float(std::uint16_t b) {
  const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::vector<float> SafetensorsFile::to_float(const std::string& name) const {
  const TensorInfo& t = info(name);
  const unsigned char* p = data(name);
  const auto n = static_cast<std::size_t>(t.numel());
  std::vector<float> out(n);
  switch (t.dtype) {
    case Dtype::f32:
      if (n != 0) std::memcpy(out.data(), p, n * 4);
      break;
    case Dtype::f16:
    case Dtype::bf16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t v;
        std::memcpy(&v, p + 2 * i, 2);
        out[i] = t.dtype == Dtype::f16 ? half_to_float(v) : bfloat16_to_float(v);
      }
      break;
    default:
      fail(m_path, "tensor '" + name + "': dtype " + dtype_name(t.dtype) +
                       " is not a float type (F32, F16 or BF16 expected)");
  }
  return out;
}

// ---- writing ----

void write_safetensors(const std::string& path, const std::map<std::string, RawTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();  // std::map-backed: keys come out sorted
  std::size_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") fail(path, "'__metadata__' cannot name a tensor");
    std::uint64_t numel = 1;
    for (auto d : t.shape) {
      if (d < 0) fail(path, "tensor '" + name + "': negative dimension");
      numel *= static_cast<std::uint64_t>(d);
    }
    if (numel * dtype_size(t.dtype) != t.bytes.size())
      fail(path, "tensor '" + name + "': shape " + std::to_string(numel) + " elements of " +
                     dtype_name(t.dtype) + ", data " + std::to_string(t.bytes.size()) + " bytes");
    header[name] = {{"dtype", dtype_name(t.dtype)},
                    {"shape", t.shape},
                    {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(8 + json.size() + offset);
  const std::uint64_t n = json.size();
  out.append(reinterpret_cast<const char*>(&n), 8);
  out += json;
  for (const auto& kv : tensors) out += kv.second.bytes;
  util::write_file_atomic(path, out);
}

void write_safetensors(const std::string& path, const std::map<std::string, FloatTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::map<std::string, RawTensor> raw;
  for (const auto& [name, t] : tensors) {
    std::uint64_t numel = 1;
    for (auto d : t.shape) numel *= static_cast<std::uint64_t>(d < 0 ? 0 : d);
    if (numel != t.data.size())
      fail(path, "tensor '" + name + "': shape holds " + std::to_string(numel) +
                     " elements, data " + std::to_string(t.data.size()));
    raw[name] = {Dtype::f32, t.shape,
                 std::string(reinterpret_cast<const char*>(t.data.data()), t.data.size() * 4)};
  }
  write_safetensors(path, raw, metadata);
}

}  // namespace ghx::models
