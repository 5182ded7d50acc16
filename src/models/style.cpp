// Torch-free half of style.h: the Gram set's cache format and the style loss.
//
// Serialised GramSet, all little-endian:
//   magic   "GXGM"            4 bytes
//   version u32 = 1           bump when the layout changes; never reuse a number
//   layers  u32 L
//   L times: C u32, size f64 (C*H*W), C*C f32 (row-major Gram)
// Nothing may follow the last layer.
#include <cstring>
#include <string>

#include "models/style.h"
#include "util/error.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the Gram format is little-endian");

namespace ghx::models {
namespace {

constexpr char k_magic[4] = {'G', 'X', 'G', 'M'};
constexpr std::uint32_t k_format_version = 1;
constexpr std::uint32_t k_max_layers = 64;
constexpr std::uint32_t k_max_channels = 1u << 16;

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

class Reader {
 public:
  explicit Reader(const std::string& s) : m_s(s) {}
  template <typename T>
  T get(const char* what) {
    T v;
    need(sizeof v, what);
    std::memcpy(&v, m_s.data() + m_pos, sizeof v);
    m_pos += sizeof v;
    return v;
  }
  void read(void* dst, std::size_t n, const char* what) {
    need(n, what);
    if (n != 0) std::memcpy(dst, m_s.data() + m_pos, n);
    m_pos += n;
  }
  std::size_t left() const { return m_s.size() - m_pos; }

 private:
  void need(std::size_t n, const char* what) const {
    if (left() < n)
      throw Error("gram set: truncated buffer (" + std::to_string(m_s.size()) +
                  " bytes) while reading " + what);
  }
  const std::string& m_s;
  std::size_t m_pos = 0;
};

void check_consistent(const GramSet& g, const char* which) {
  if (g.channels.size() != g.grams.size() || g.sizes.size() != g.grams.size())
    throw Error(std::string("gram set (") + which + "): " + std::to_string(g.channels.size()) +
                " channel counts, " + std::to_string(g.sizes.size()) + " sizes, " +
                std::to_string(g.grams.size()) + " grams");
  for (std::size_t l = 0; l < g.grams.size(); ++l) {
    const auto c = static_cast<std::size_t>(g.channels[l] < 0 ? 0 : g.channels[l]);
    if (g.channels[l] <= 0 || g.grams[l].size() != c * c)
      throw Error(std::string("gram set (") + which + "): layer " + std::to_string(l) + " has " +
                  std::to_string(g.channels[l]) + " channels but " +
                  std::to_string(g.grams[l].size()) + " Gram entries");
  }
}

}  // namespace

std::string serialize_grams(const GramSet& g) {
  check_consistent(g, "serialize");
  std::string out(k_magic, sizeof k_magic);
  put<std::uint32_t>(out, k_format_version);
  put<std::uint32_t>(out, static_cast<std::uint32_t>(g.grams.size()));
  for (std::size_t l = 0; l < g.grams.size(); ++l) {
    put<std::uint32_t>(out, static_cast<std::uint32_t>(g.channels[l]));
    put<double>(out, g.sizes[l]);
    out.append(reinterpret_cast<const char*>(g.grams[l].data()), g.grams[l].size() * sizeof(float));
  }
  return out;
}

GramSet deserialize_grams(const std::string& bytes) {
  Reader r(bytes);
  char magic[4];
  r.read(magic, 4, "magic");
  if (std::memcmp(magic, k_magic, 4) != 0) throw Error("gram set: bad magic (not a Gram set)");
  const auto version = r.get<std::uint32_t>("version");
  if (version != k_format_version)
    throw Error("gram set: format version " + std::to_string(version) + ", this ghx reads " +
                std::to_string(k_format_version));
  const auto layers = r.get<std::uint32_t>("layer count");
  if (layers > k_max_layers) throw Error("gram set: implausible layer count " + std::to_string(layers));
  GramSet g;
  for (std::uint32_t l = 0; l < layers; ++l) {
    const auto c = r.get<std::uint32_t>("channel count");
    if (c == 0 || c > k_max_channels)
      throw Error("gram set: layer " + std::to_string(l) + " has " + std::to_string(c) + " channels");
    const auto size = r.get<double>("size");
    const std::size_t n = static_cast<std::size_t>(c) * c;
    if (r.left() < n * sizeof(float))
      throw Error("gram set: truncated buffer (" + std::to_string(bytes.size()) +
                  " bytes) in the Gram of layer " + std::to_string(l));
    std::vector<float> gram(n);
    r.read(gram.data(), n * sizeof(float), "gram");
    g.channels.push_back(static_cast<int>(c));
    g.sizes.push_back(size);
    g.grams.push_back(std::move(gram));
  }
  if (r.left() != 0)
    throw Error("gram set: " + std::to_string(r.left()) + " trailing bytes after the last layer");
  return g;
}

double style_loss(const GramSet& image, const GramSet& target, StyleVariant variant) {
  check_consistent(image, "image");
  check_consistent(target, "target");
  if (image.channels != target.channels)
    throw Error("style loss: the image and target Gram sets have different layers (" +
                std::to_string(image.channels.size()) + " vs " +
                std::to_string(target.channels.size()) + " layers, or different channels)");
  double total = 0.0;
  for (std::size_t l = 0; l < image.grams.size(); ++l) {
    double si = 1.0, st = 1.0;
    if (variant == StyleVariant::normalized) {
      si = image.sizes[l];
      st = target.sizes[l];
      if (!(si > 0.0) || !(st > 0.0))
        throw Error("style loss: layer " + std::to_string(l) + " has a non-positive C*H*W");
    }
    const auto& a = image.grams[l];
    const auto& b = target.grams[l];
    double sum = 0.0;  // one fixed order: the result is deterministic
    for (std::size_t i = 0; i < a.size(); ++i) {
      const double d = static_cast<double>(a[i]) / si - static_cast<double>(b[i]) / st;
      sum += d * d;
    }
    total += sum / static_cast<double>(a.size());
  }
  return total;
}

}  // namespace ghx::models
