// clip_config(): the known CLIP architectures and Hugging Face CLIP config.json files.
// Torch-free (nlohmann-json only).
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "models/clip_config.h"
#include "util/error.h"
#include "util/strings.h"

namespace ghx::models {
namespace {

using nlohmann::json;

constexpr std::array<float, 3> k_openai_mean = {0.48145466f, 0.4578275f, 0.40821073f};
constexpr std::array<float, 3> k_openai_std = {0.26862954f, 0.26130258f, 0.27577711f};
constexpr std::array<float, 3> k_inception = {0.5f, 0.5f, 0.5f};

ClipConfig known(const std::string& name, ClipTowerConfig vision, ClipTowerConfig text,
                 int patch, int projection, const std::string& activation,
                 const std::array<float, 3>& mean, const std::array<float, 3>& std) {
  ClipConfig c;
  c.name = name;
  vision.mlp = 4 * vision.width;
  text.mlp = 4 * text.width;
  c.vision = vision;
  c.text = text;
  c.image_size = 224;
  c.patch_size = patch;
  c.context = 77;
  c.vocab_size = 49408;
  c.projection_dim = projection;
  c.activation = activation;
  c.mean = mean;
  c.std = std;
  c.layer_norm_eps = 1e-5f;
  return c;
}

// "ViT-L/14", "vit-l-14", "ViT-L-14" all name the same thing (open_clip spells it with dashes).
std::string folded(const std::string& s) {
  std::string out;
  for (char ch : s) out += ch == '/' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

/// The known architectures: the one table every other place asks (names, configs, messages).
struct KnownArch {
  const char* name;   ///< as keys and messages write it
  const char* alias;  ///< another spelling (folded), or ""
  ClipTowerConfig vision, text;
  int patch, projection;
  const char* activation;
  const std::array<float, 3>* mean;
  const std::array<float, 3>* std;
};

const KnownArch k_known[] = {
    // OpenAI's weights (quick_gelu, OpenAI mean/std).
    {"ViT-B/32", "", {12, 768, 12}, {12, 512, 8}, 32, 512, "quick_gelu", &k_openai_mean, &k_openai_std},
    {"ViT-L/14", "", {24, 1024, 16}, {12, 768, 12}, 14, 768, "quick_gelu", &k_openai_mean, &k_openai_std},
    // open_clip ViT-H-14 laion2b_s32b_b79k (HPSv2, PickScore): exact gelu, OpenAI mean/std (its
    // pretrained config keeps the OpenAI defaults).
    {"ViT-H/14", "", {32, 1280, 16}, {24, 1024, 16}, 14, 1024, "gelu", &k_openai_mean, &k_openai_std},
    // open_clip ViT-L-14 laion2b_s32b_b82k (GhostReview's rating/artifacts heads): exact gelu and
    // mean = std = 0.5 (open_clip registers INCEPTION_MEAN/STD for this one).
    {"ViT-L/14-laion2b", "vit-l-14-laion2b_s32b_b82k", {24, 1024, 16}, {12, 768, 12}, 14, 768, "gelu", &k_inception,
     &k_inception},
};

const KnownArch* find_known(const std::string& name) {
  const std::string n = folded(name);
  for (const KnownArch& k : k_known)
    if (n == folded(k.name) || n == k.alias) return &k;
  return nullptr;
}

std::optional<ClipConfig> known_architecture(const std::string& name) {
  const KnownArch* k = find_known(name);
  if (!k) return std::nullopt;
  return known(k->name, k->vision, k->text, k->patch, k->projection, k->activation, *k->mean, *k->std);
}

class ConfigReader {
 public:
  explicit ConfigReader(std::string path) : m_path(std::move(path)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& msg) const {
    throw Error(m_path + ": " + (key.empty() ? "" : key + ": ") + msg);
  }

  json parse(const std::string& path) const {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open the CLIP config");
    std::string text((std::istreambuf_iterator<char>(in)), {});
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) throw Error(path + ": not valid JSON");
    if (!j.is_object()) throw Error(path + ": a JSON object was expected at the top level");
    return j;
  }

  // A tower's object: "text_config" (or the legacy "text_config_dict" when that is null/absent).
  const json& tower(const json& root, const std::string& name) const {
    for (const std::string& key : {name, name + "_dict"}) {
      auto it = root.find(key);
      if (it != root.end() && !it->is_null()) {
        if (!it->is_object()) fail(key, "a JSON object was expected");
        return *it;
      }
    }
    fail(name, "missing (not a Hugging Face CLIP config.json?)");
  }

  // A positive integer at obj[key], or `fallback` when absent (Hugging Face's own default).
  int positive(const json& obj, const std::string& where, const std::string& key, int fallback) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return fallback;
    if (!it->is_number_integer() || it->get<long long>() <= 0 || it->get<long long>() > (1 << 30))
      fail(where + key, "a positive integer was expected, got " + it->dump());
    return static_cast<int>(it->get<long long>());
  }

  std::string act(const json& obj, const std::string& where) const {
    auto it = obj.find("hidden_act");
    if (it == obj.end() || it->is_null()) return "quick_gelu";
    if (!it->is_string()) fail(where + "hidden_act", "a string was expected, got " + it->dump());
    const std::string a = it->get<std::string>();
    if (a != "quick_gelu" && a != "gelu")
      fail(where + "hidden_act", "'" + a + "' is not supported (quick_gelu or gelu)");
    return a;
  }

  float eps(const json& obj, const std::string& where) const {
    auto it = obj.find("layer_norm_eps");
    if (it == obj.end() || it->is_null()) return 1e-5f;
    if (!it->is_number() || it->get<double>() <= 0 || it->get<double>() > 1)
      fail(where + "layer_norm_eps", "a small positive number was expected, got " + it->dump());
    return static_cast<float>(it->get<double>());
  }

  // Reads a 3-vector (image_mean / image_std) from obj[key] into `out`; false when absent.
  bool triple(const json& obj, const std::string& file, const std::string& key,
              std::array<float, 3>& out, bool positive_only) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return false;
    auto bad = [&]() {
      throw Error(file + ": " + key + ": three " + (positive_only ? "positive " : "") +
                  "numbers were expected, got " + it->dump());
    };
    if (!it->is_array() || it->size() != 3) bad();
    for (std::size_t i = 0; i < 3; ++i) {
      const json& v = (*it)[i];
      if (!v.is_number()) bad();
      if (positive_only && v.get<double>() <= 0) bad();
      out[i] = static_cast<float>(v.get<double>());
    }
    return true;
  }

  ClipTowerConfig read_tower(const json& t, const std::string& where, int def_width, int def_layers,
                             int def_heads, int def_mlp) const {
    ClipTowerConfig c;
    c.width = positive(t, where, "hidden_size", def_width);
    c.layers = positive(t, where, "num_hidden_layers", def_layers);
    c.heads = positive(t, where, "num_attention_heads", def_heads);
    c.mlp = positive(t, where, "intermediate_size", def_mlp);
    if (c.width % c.heads != 0)
      fail(where + "num_attention_heads", std::to_string(c.heads) + " heads do not divide " +
                                              where + "hidden_size " + std::to_string(c.width));
    return c;
  }

  ClipConfig read() const {
    const json root = parse(m_path);
    const json& vt = tower(root, "vision_config");
    const json& tt = tower(root, "text_config");
    ClipConfig c;
    c.name = m_path;
    // Defaults are those of transformers' CLIPVisionConfig / CLIPTextConfig (ViT-B/32), which is
    // what a config.json written with only the non-default keys relies on.
    c.vision = read_tower(vt, "vision_config.", 768, 12, 12, 3072);
    c.text = read_tower(tt, "text_config.", 512, 12, 8, 2048);
    c.image_size = positive(vt, "vision_config.", "image_size", 224);
    c.patch_size = positive(vt, "vision_config.", "patch_size", 32);
    if (c.image_size % c.patch_size != 0)
      fail("vision_config.patch_size", std::to_string(c.patch_size) +
                                           " does not divide vision_config.image_size " +
                                           std::to_string(c.image_size));
    if (vt.contains("num_channels") && positive(vt, "vision_config.", "num_channels", 3) != 3)
      fail("vision_config.num_channels", "only 3 (RGB) is supported");
    c.context = positive(tt, "text_config.", "max_position_embeddings", 77);
    c.vocab_size = positive(tt, "text_config.", "vocab_size", 49408);
    c.projection_dim = positive(root, "", "projection_dim", 512);
    const std::string va = act(vt, "vision_config.");
    const std::string ta = act(tt, "text_config.");
    if (va != ta)
      fail("text_config.hidden_act", "'" + ta + "' differs from vision_config.hidden_act '" + va +
                                         "' (one activation per model is supported)");
    c.activation = va;
    c.layer_norm_eps = eps(vt, "vision_config.");
    if (eps(tt, "text_config.") != c.layer_norm_eps)
      fail("text_config.layer_norm_eps", "differs from vision_config.layer_norm_eps");
    // Mean/std: in config.json when someone put them there, else in the Hugging Face processor's
    // preprocessor_config.json beside it, else OpenAI's (ClipConfig's defaults).
    bool has_mean = triple(root, m_path, "image_mean", c.mean, false);
    bool has_std = triple(root, m_path, "image_std", c.std, true);
    const std::filesystem::path pre =
        std::filesystem::path(m_path).parent_path() / "preprocessor_config.json";
    std::error_code ec;
    if ((!has_mean || !has_std) && std::filesystem::is_regular_file(pre, ec)) {
      const json p = parse(pre.string());
      if (!has_mean) triple(p, pre.string(), "image_mean", c.mean, false);
      if (!has_std) triple(p, pre.string(), "image_std", c.std, true);
    }
    return c;
  }

 private:
  std::string m_path;
};

}  // namespace

ClipConfig clip_config(const std::string& arch_or_path) {
  if (auto c = known_architecture(arch_or_path)) return *c;
  std::error_code ec;
  if (std::filesystem::is_regular_file(arch_or_path, ec)) return ConfigReader(arch_or_path).read();
  if (arch_or_path.size() >= 5 && arch_or_path.compare(arch_or_path.size() - 5, 5, ".json") == 0)
    throw Error(arch_or_path + ": cannot open the CLIP config (no such file)");
  throw Error("clip: unknown architecture '" + arch_or_path + "' (known: " + util::join(clip_arch_names(), ", ") +
              ", or the path of a Hugging Face CLIP config.json)");
}

std::optional<std::string> clip_arch_name(const std::string& name) {
  const KnownArch* k = find_known(name);
  return k ? std::optional<std::string>(k->name) : std::nullopt;
}

const std::vector<std::string>& clip_arch_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const KnownArch& k : k_known) v.push_back(k.name);
    return v;
  }();
  return names;
}

}  // namespace ghx::models
