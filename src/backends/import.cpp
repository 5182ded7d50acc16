#include "backends/import.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>

#include <nlohmann/json.hpp>

#include "backends/a1111.h"
#include "backends/infotext.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/png.h"
#include "util/png_text.h"
#include "util/strings.h"

namespace ghx::backends {

using exec::Executor;
using exec::Job;
using exec::Outcome;

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) { return std::string(util::trim(s)); }

bool is_image_ext(const std::string& ext) {
  std::string e = lower(ext);
  return e == ".png" || e == ".jpg" || e == ".jpeg" || e == ".webp";
}

/// "512x768" -> (512, 768); (0, 0) when not that.
std::pair<int, int> parse_size(const std::string& s) {
  auto x = s.find('x');
  if (x == std::string::npos || x == 0 || x + 1 >= s.size()) return {0, 0};
  try {
    size_t a = 0, b = 0;
    int w = std::stoi(s.substr(0, x), &a), h = std::stoi(s.substr(x + 1), &b);
    if (a != x || b != s.size() - x - 1 || w <= 0 || h <= 0) return {0, 0};
    return {w, h};
  } catch (const std::exception&) {
    return {0, 0};
  }
}

/// A JSON scalar as infotext writes it ("7", "6.5", "DPM++ 2M"); "" for null/objects.
/// A JSON double that is a whole number within int64_t (the cast is only defined there).
std::optional<int64_t> whole(double d) {
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return std::nullopt;  // NaN too
  const auto i = static_cast<int64_t>(d);
  return static_cast<double>(i) == d ? std::optional<int64_t>(i) : std::nullopt;
}

std::string scalar_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer() || v.is_number_unsigned()) return v.dump();
  if (v.is_number_float()) {
    if (auto i = whole(v.get<double>())) return std::to_string(*i);
    return v.dump();
  }
  return "";
}

std::string str_field(const json& o, const char* key) {
  auto it = o.find(key);
  return it == o.end() ? "" : scalar_text(*it);
}

std::optional<int64_t> parse_seed(const json& v) {
  if (v.is_number_unsigned()) {  // before is_number_integer(), which is also true for these
    const uint64_t u = v.get<uint64_t>();
    return u <= static_cast<uint64_t>(INT64_MAX) ? std::optional<int64_t>(static_cast<int64_t>(u)) : std::nullopt;
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    return whole(v.get<double>());
  }
  if (v.is_string()) {
    std::string s = trim(v.get<std::string>());
    if (s.empty()) return std::nullopt;
    size_t n = 0;
    try {
      long long x = std::stoll(s, &n);
      if (n == s.size()) return static_cast<int64_t>(x);
    } catch (const std::exception&) {
    }
  }
  return std::nullopt;
}

/// Civitai metadata (the image object with `meta`, or `meta` itself) into `img`.
void read_sidecar(const std::string& path, ImportImage& img) {
  json j;
  try {
    j = json::parse(util::read_file(path));
  } catch (const std::exception& e) {
    throw Error("sidecar " + path + ": " + e.what());
  }
  if (!j.is_object()) throw Error("sidecar " + path + ": not a JSON object");
  const json* meta = &j;
  if (j.contains("meta")) {
    if (!j["meta"].is_object()) throw Error("sidecar " + path + ": 'meta' is not an object");
    meta = &j["meta"];
  }
  const json& m = *meta;
  img.prompt = trim(str_field(m, "prompt"));
  img.negative_prompt = trim(str_field(m, "negativePrompt"));
  if (m.contains("seed")) img.seed = parse_seed(m["seed"]);
  std::string hash = str_field(m, "Model hash");
  if (hash.empty() && m.contains("hashes") && m["hashes"].is_object()) hash = str_field(m["hashes"], "model");
  if (hash.empty() && m.contains("resources") && m["resources"].is_array()) {
    for (const auto& r : m["resources"]) {
      if (!r.is_object()) continue;
      std::string type = lower(str_field(r, "type"));
      if (type == "model" || type == "checkpoint") {
        hash = str_field(r, "hash");
        if (img.model_name.empty()) img.model_name = str_field(r, "name");
        if (!hash.empty()) break;
      }
    }
  }
  img.model_hash = lower(trim(hash));
  if (std::string name = str_field(m, "Model"); !name.empty()) img.model_name = name;
  if (m.contains("resources") && m["resources"].is_array())
    for (const auto& r : m["resources"])
      if (r.is_object() && lower(str_field(r, "type")) == "lora" && !str_field(r, "name").empty() &&
          !str_field(r, "hash").empty())
        img.lora_hashes[str_field(r, "name")] = lower(trim(str_field(r, "hash")));
  for (const auto& [name, v] : parse_lora_hashes(str_field(m, "Lora hashes"))) img.lora_hashes[name] = v;
  std::string size = str_field(m, "Size");
  std::tie(img.width, img.height) = parse_size(size);

  Infotext t;
  t.prompt = img.prompt;
  t.negative_prompt = img.negative_prompt;
  auto put = [&](const char* key, const std::string& v) {
    if (!v.empty()) t.set(key, v);
  };
  put("Steps", str_field(m, "steps"));
  put("Sampler", str_field(m, "sampler"));
  put("CFG scale", str_field(m, "cfgScale"));
  if (img.seed) t.set("Seed", std::to_string(*img.seed));
  put("Size", size);
  put("Model hash", img.model_hash);
  put("Model", img.model_name);
  // Where it came from; also makes the parameters line hold >= 3 pairs, which infotext parsers
  // (A1111's, ours) need to read it as parameters rather than prompt text.
  t.set("Import source", "sidecar");
  t.set("Import file", fs::path(path).filename().string());
  img.infotext = t.format();
}

void read_infotext(const std::string& text, ImportImage& img) {
  auto t = Infotext::parse(text);
  if (!t) return;
  img.prompt = trim(t->prompt);
  img.negative_prompt = trim(t->negative_prompt);
  img.seed = t->seed();
  img.model_hash = lower(trim(t->model_hash()));
  if (const std::string* m = t->get("Model")) img.model_name = *m;
  if (const std::string* s = t->get("Size")) std::tie(img.width, img.height) = parse_size(*s);
  img.lora_hashes = t->lora_hashes();
  img.infotext = text;
}

std::string sidecar_of(const fs::path& p) {
  std::error_code ec;
  fs::path a = p;
  a.replace_extension(".json");
  if (fs::is_regular_file(a, ec)) return a.string();
  fs::path b = p.string() + ".json";
  if (fs::is_regular_file(b, ec)) return b.string();
  return "";
}

std::string stem_of(const std::string& name) {
  return fs::path(name).stem().string();
}

bool is_import_step(const plan::Step& s) {
  if (s.kind != plan::StepKind::generate) return false;
  const std::string* b = s.find_param("backend");
  return b && *b == "import";
}

std::string step_dir(const plan::Step& s) {
  const std::string* d = s.find_context("import_dir");
  return d ? *d : "";
}

std::string no_image_message(const plan::Step& s) {
  std::string hash = expected_autov2(s.param("checkpoint"));
  return "no image in " + step_dir(s) + " for prompt '" + s.param("prompt") + "' seed " + s.param("seed") +
         " (model " + (hash.empty() ? s.param("checkpoint") : hash) + ")";
}

/// Indexes of the images of `index` that fill `step`.
std::vector<size_t> candidates(const ImportIndex& index, const plan::Step& step) {
  std::vector<size_t> out;
  for (size_t i = 0; i < index.images.size(); ++i)
    if (import_mismatch(index.images[i], step).empty()) out.push_back(i);
  return out;
}

std::string too_many_message(const ImportIndex& index, const std::vector<size_t>& c, const plan::Step& s) {
  std::string names;
  for (size_t i : c) names += (names.empty() ? "" : ", ") + index.images[i].rel;
  return std::to_string(c.size()) + " images in " + index.dir + " fit prompt '" + s.param("prompt") + "' seed " +
         s.param("seed") + " (" + names + "): remove all but one";
}

using Clock = std::chrono::steady_clock;

class ImportExecutor : public Executor {
 public:
  size_t max_batch() const override { return 16; }
  std::string device() const override { return "import"; }

  void run(const std::vector<Job>& jobs, std::vector<Outcome>& out) override {
    out.assign(jobs.size(), Outcome{});
    for (size_t i = 0; i < jobs.size(); ++i) {
      auto t0 = Clock::now();
      try {
        one(*jobs[i].step, out[i]);
        out[i].ok = true;
      } catch (const std::exception& e) {
        out[i].error = e.what();
      }
      out[i].duration_s = std::chrono::duration<double>(Clock::now() - t0).count();
    }
  }

 private:
  std::shared_ptr<const ImportIndex> index_for(const std::string& dir) {
    std::lock_guard<std::mutex> lock(m_mu);  // scans are serialised; each folder once per executor
    auto it = m_indexes.find(dir);
    if (it != m_indexes.end()) return it->second;
    auto idx = std::make_shared<const ImportIndex>(scan_import_dir(dir));
    m_indexes.emplace(dir, idx);
    return idx;
  }

  void one(const plan::Step& s, Outcome& o) {
    std::string dir = step_dir(s);
    if (dir.empty()) throw Error("import step without 'import_dir'");
    auto index = index_for(dir);
    std::vector<size_t> c = candidates(*index, s);
    if (c.empty()) throw Error(no_image_message(s));
    if (c.size() > 1) throw Error(too_many_message(*index, c, s));
    const ImportImage& img = index->images[c[0]];
    std::string bytes = util::read_file(img.path);
    std::string sha = util::sha256_hex(bytes);
    std::string png;
    bool converted = false, text_added = false;
    if (util::is_png(bytes)) {
      auto chunks = util::png_text_chunks(bytes, img.path);
      if (chunks.count("parameters")) {
        png = std::move(bytes);
      } else {
        png = util::png_set_text(bytes, "parameters", img.infotext, img.path);
        text_added = true;
      }
    } else {
      png = util::png_set_text(util::encode_png(util::decode_image(bytes, img.path)), "parameters", img.infotext,
                               img.path);
      converted = text_added = true;
    }
    json meta = {{"backend", "import"},
                 {"path", img.path},
                 {"source", img.source},
                 {"sha256", sha},
                 {"converted_to_png", converted},
                 {"infotext_added", text_added},
                 {"infotext", img.infotext},
                 {"checkpoint", {{"identity", s.param("checkpoint")}, {"autov2", expected_autov2(s.param("checkpoint"))}}}};
    if (!img.sidecar.empty()) meta["sidecar"] = img.sidecar;
    o.bytes = std::move(png);
    o.meta = meta.dump();
    o.device = "import:" + dir;
  }

  std::mutex m_mu;
  std::map<std::string, std::shared_ptr<const ImportIndex>> m_indexes;
};

}  // namespace

ImportIndex scan_import_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error("import folder " + dir + ": not a folder");
  ImportIndex index;
  index.dir = dir;
  fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, ec), end;
  if (ec) throw Error("import folder " + dir + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) throw Error("import folder " + dir + ": " + ec.message());
    std::error_code ec2;
    if (!it->is_regular_file(ec2) || !is_image_ext(it->path().extension().string())) continue;
    ImportImage img;
    img.path = it->path().string();
    img.rel = it->path().lexically_relative(dir).generic_string();
    index.images.push_back(std::move(img));
  }
  std::sort(index.images.begin(), index.images.end(),
            [](const ImportImage& a, const ImportImage& b) { return a.rel < b.rel; });
  for (ImportImage& img : index.images) {
    try {
      std::string side = sidecar_of(img.path);
      if (!side.empty()) {
        read_sidecar(side, img);
        img.source = "sidecar";
        img.sidecar = side;
        continue;
      }
      if (lower(fs::path(img.path).extension().string()) != ".png") continue;
      std::string bytes = util::read_file(img.path);
      auto chunks = util::png_text_chunks(bytes, img.path);
      auto p = chunks.find("parameters");
      if (p == chunks.end()) continue;
      read_infotext(p->second, img);
      if (!img.prompt.empty() || img.seed) img.source = "infotext";
    } catch (const std::exception& e) {
      ImportImage bad;
      bad.path = img.path;
      bad.rel = img.rel;
      bad.error = e.what();
      img = std::move(bad);
    }
  }
  return index;
}

std::string import_mismatch(const ImportImage& img, const plan::Step& step) {
  if (!img.error.empty()) return img.error;
  if (img.source.empty()) return "no metadata (no sidecar, no PNG 'parameters')";
  if (!img.seed) return "no seed in its metadata";
  if (img.prompt != trim(step.param("prompt"))) return "another prompt";
  if (std::to_string(*img.seed) != step.param("seed")) return "seed " + std::to_string(*img.seed) + ", not " + step.param("seed");
  if (img.negative_prompt != trim(step.param("negative_prompt"))) return "another negative prompt";
  std::string want = expected_autov2(step.param("checkpoint"));
  if (!want.empty()) {
    if (img.model_hash.empty()) return "no model hash (the step wants " + want + ")";
    if (img.model_hash.size() < want.size() || img.model_hash.compare(0, want.size(), want) != 0)
      return "model hash " + img.model_hash + ", not " + want;
  } else if (!img.model_name.empty()) {
    std::vector<std::string> names;
    for (const char* k : {"checkpoint.server_name", "checkpoint.backend_name", "checkpoint.name"})
      if (const std::string* v = step.find_context(k); v && !v->empty()) names.push_back(*v);
    bool ok = false;
    for (const auto& n : names) ok |= img.model_name == n || stem_of(img.model_name) == stem_of(n);
    if (!ok) return "model " + img.model_name + ", not " + (names.empty() ? step.param("checkpoint") : names[0]);
  }
  for (const PromptLora& l : a1111_prompt_loras(step)) {
    auto it = img.lora_hashes.find(l.name);
    if (l.file.empty() || it == img.lora_hashes.end()) continue;  // nothing to compare
    const std::string& got = it->second;
    LoraFileHashes want;
    try {
      want = a1111_lora_hash(l.file);
    } catch (const std::exception& e) {
      return e.what();
    }
    auto prefix = [](const std::string& a, const std::string& b) { return a.size() >= 8 && b.compare(0, a.size(), a) == 0; };
    if (!prefix(got, want.lora) && !prefix(want.lora, got) && !prefix(got, want.sha256))
      return "LoRA '" + l.name + "' hash " + got + ", not the review's " + l.file + " (" + want.lora + ")";
  }
  if (img.width > 0 && (std::to_string(img.width) != step.param("width") || std::to_string(img.height) != step.param("height")))
    return "size " + std::to_string(img.width) + "x" + std::to_string(img.height) + ", not " + step.param("width") + "x" +
           step.param("height");
  return "";
}

ImportReport match_import(const plan::Plan& plan, const std::function<bool(uint32_t)>& done) {
  std::map<std::string, ImportIndex> indexes;
  for (const auto& s : plan.steps) {
    if (!is_import_step(s)) continue;
    std::string d = step_dir(s);
    if (!d.empty() && !indexes.count(d)) indexes.emplace(d, scan_import_dir(d));
  }
  return match_import(plan, indexes, done);
}

ImportReport match_import(const plan::Plan& plan, const std::map<std::string, ImportIndex>& indexes,
                          const std::function<bool(uint32_t)>& done) {
  ImportReport r;
  // (folder, image index) -> the steps it fills
  std::map<std::pair<std::string, size_t>, std::vector<uint32_t>> users;
  std::vector<std::vector<size_t>> cands;
  for (uint32_t i = 0; i < plan.steps.size(); ++i) {
    const plan::Step& s = plan.steps[i];
    if (!is_import_step(s)) continue;
    std::string d = step_dir(s);
    auto it = indexes.find(d);
    std::vector<size_t> c;
    if (it != indexes.end()) c = candidates(it->second, s);
    for (size_t k : c) users[{d, k}].push_back(i);
    r.steps.push_back({i, "", ""});
    cands.push_back(std::move(c));
  }
  for (size_t n = 0; n < r.steps.size(); ++n) {
    ImportStepMatch& m = r.steps[n];
    const plan::Step& s = plan.steps[m.step];
    std::string d = step_dir(s);
    auto it = indexes.find(d);
    const std::vector<size_t>& c = cands[n];
    bool is_done = done && done(m.step);
    if (it == indexes.end()) {
      m.error = "import folder " + d + " was not scanned";
      if (!is_done) r.missing.push_back(m.step);
    } else if (c.empty()) {
      m.error = no_image_message(s);
      if (!is_done) r.missing.push_back(m.step);
    } else if (c.size() > 1) {
      m.error = too_many_message(it->second, c, s);
      r.ambiguous.push_back(m.step);
    } else if (const auto& u = users[{d, c[0]}]; u.size() > 1) {
      std::string labels;
      for (uint32_t o : u)
        if (o != m.step) labels += (labels.empty() ? "" : ", ") + plan.steps[o].label();
      m.error = "image " + it->second.images[c[0]].rel + " fits this step and " + labels + ": not guessed";
      r.ambiguous.push_back(m.step);
    } else {
      m.image = it->second.images[c[0]].path;
      ++r.matched;
    }
  }
  // Images no step uses, with the reason nearest to a step (the first one with its prompt).
  for (const auto& [d, index] : indexes) {
    for (size_t k = 0; k < index.images.size(); ++k) {
      if (users.count({d, k})) continue;
      const ImportImage& img = index.images[k];
      std::string why;
      if (!img.error.empty() || img.source.empty() || !img.seed) {
        why = import_mismatch(img, plan::Step{});
      } else {
        for (const auto& m : r.steps) {
          const plan::Step& s = plan.steps[m.step];
          if (step_dir(s) != d || img.prompt != trim(s.param("prompt"))) continue;
          std::string w = import_mismatch(img, s);
          if (why.empty() || w.rfind("seed ", 0) != 0) why = w;  // prefer a reason other than the seed
          if (w.rfind("seed ", 0) != 0) break;
        }
        if (why.empty()) why = "no planned step has its prompt";
      }
      r.unmatched.push_back({img.path, why});
    }
  }
  return r;
}

std::string import_summary(const ImportReport& r, const plan::Plan& plan, bool as_json) {
  if (as_json) {
    json j = {{"matched", r.matched}, {"unmatched", json::array()}, {"missing", json::array()}, {"ambiguous", json::array()}};
    for (const auto& u : r.unmatched) j["unmatched"].push_back({{"path", u.path}, {"why", u.why}});
    for (uint32_t i : r.missing) j["missing"].push_back(plan.steps[i].label());
    for (uint32_t i : r.ambiguous) j["ambiguous"].push_back(plan.steps[i].label());
    return j.dump();
  }
  constexpr size_t k_list = 20;
  std::string s = "import: " + std::to_string(r.matched) + " steps matched an image\n";
  if (!r.unmatched.empty()) {
    s += "import: " + std::to_string(r.unmatched.size()) + " images matched no step (listed, not guessed):\n";
    for (size_t i = 0; i < r.unmatched.size() && i < k_list; ++i)
      s += "  " + r.unmatched[i].path + ": " + r.unmatched[i].why + "\n";
    if (r.unmatched.size() > k_list) s += "  ... and " + std::to_string(r.unmatched.size() - k_list) + " more\n";
  }
  auto list_steps = [&](const std::vector<uint32_t>& v, const char* what) {
    if (v.empty()) return;
    s += "import: " + std::to_string(v.size()) + " steps " + what + ":\n";
    for (size_t i = 0; i < v.size() && i < k_list; ++i) {
      for (const auto& m : r.steps)
        if (m.step == v[i]) s += "  " + plan.steps[v[i]].label() + ": " + m.error + "\n";
    }
    if (v.size() > k_list) s += "  ... and " + std::to_string(v.size() - k_list) + " more\n";
  };
  list_steps(r.missing, "have no image");
  list_steps(r.ambiguous, "have more than one image, or share one");
  return s;
}

std::unique_ptr<Executor> make_import_executor() { return std::make_unique<ImportExecutor>(); }

}  // namespace ghx::backends
