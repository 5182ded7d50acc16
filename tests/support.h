#pragma once
// Test support: a fresh temporary folder per test (ccache's TestContext), and a small review
// written into it (experiment, suite, target images, tiny VGG19 weights).
#include <cstdio>
#include <cstdlib>
#include <sys/wait.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "models/style.h"
#include "util/hash.h"

namespace ghx::test {

class TempDir {
 public:
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "ghx_test_XXXXXX").string();
    if (!mkdtemp(t.data())) throw std::runtime_error("mkdtemp failed");
    m_path = t;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }
  const std::string& path() const { return m_path; }
  std::string operator/(const std::string& rel) const { return m_path + "/" + rel; }

 private:
  std::string m_path;
};

/// A fresh folder per test case, removed at its end; `path` and `/` as in TempDir.
struct Scratch {
  explicit Scratch(const std::string& /*name*/) : path(m_dir.path()) {}
  std::string operator/(const std::string& rel) const { return path + "/" + rel; }

 private:
  TempDir m_dir;

 public:
  const std::string path;
};

inline void write_text(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/// Runs a shell command; its exit code and standard output.
struct CommandResult {
  int code = -1;
  std::string out;
};
inline CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

inline std::string slurp(const std::string& path) { return read_text(path); }
inline void spit(const std::string& path, const std::string& bytes) { write_text(path, bytes); }

/// The committed demo target images (suites/targets/<style>/).
inline std::string repo_targets(const std::string& style) {
  return std::string(GHX_SOURCE_DIR) + "/suites/targets/" + style;
}

inline const char* k_small_suite = R"(
[suite]
name = "small"

[[style]]
id = "anime"
prompts = ["anime girl, cel shading", "anime city at night"]
targets = "targets/anime/"

[[style]]
id = "manga"
prompts = ["manga panel, rain"]
targets = "targets/manga/"
)";

/// experiment.toml with 2 checkpoints, 2 images per prompt, 32x32 images.
inline std::string small_experiment(const std::string& extra_section_keys = "") {
  return R"([experiment]
name = "small"
version = "1"
seed = 7

[generation]
backend = "synthetic"
width = 32
height = 32
batch_size = 2
n_iter = 1

[[checkpoint]]
name = "alpha"
backend_name = "alpha.safetensors"

[[checkpoint]]
name = "beta"
backend_name = "beta.safetensors"

[models]
vgg19 = { file = "models/vgg19.safetensors" }

[[section]]
id = "style"
styles = "suite.toml"
metrics = ["style_loss"]
)" + extra_section_keys;
}

/// Writes the small review into `dir`; returns the experiment path.
inline std::string write_small_review(const std::string& dir) {
  namespace fs = std::filesystem;
  write_text(dir + "/suite.toml", k_small_suite);
  write_text(dir + "/experiment.toml", small_experiment());
  for (const char* style : {"anime", "manga"}) {
    fs::create_directories(dir + "/targets/" + style);
    for (const auto& e : fs::directory_iterator(repo_targets(style)))
      fs::copy_file(e.path(), dir + "/targets/" + style + "/" + e.path().filename().string(),
                    fs::copy_options::overwrite_existing);
  }
  models::write_tiny_vgg19(dir + "/models");
  return dir + "/experiment.toml";
}

/// The small review as a backend review: two checkpoint files (a.safetensors and b.safetensors,
/// holding "checkpoint A bytes" and "checkpoint B bytes"), one style prompt "anime girl", the line
/// `backend = "synthetic"` replaced by `generation`, and `n_iter`. Returns the experiment path.
inline std::string write_backend_review(const std::string& dir, const std::string& generation, int n_iter) {
  write_small_review(dir);
  write_text(dir + "/a.safetensors", "checkpoint A bytes");
  write_text(dir + "/b.safetensors", "checkpoint B bytes");
  std::string exp = read_text(dir + "/experiment.toml");
  auto swap = [&](const std::string& from, const std::string& to) { exp.replace(exp.find(from), from.size(), to); };
  swap("backend = \"synthetic\"", generation);
  swap("n_iter = 1", "n_iter = " + std::to_string(n_iter));
  swap("backend_name = \"alpha.safetensors\"", "file = \"a.safetensors\"");
  swap("backend_name = \"beta.safetensors\"", "file = \"b.safetensors\"");
  write_text(dir + "/experiment.toml", exp);
  write_text(dir + "/suite.toml", "[suite]\nname = \"s\"\n[[style]]\nid = \"anime\"\nprompts = [\"anime girl\"]\n"
                                  "targets = \"targets/anime/\"\n");
  return dir + "/experiment.toml";
}

/// A minimal safetensors file ({} header) holding `data`; returns its A1111 LoRA hash (the first
/// 12 hex digits of sha256(data): the data after the header).
inline std::string write_lora_file(const std::string& path, const std::string& data) {
  const std::string header = "{}      ";
  std::string bytes(8, '\0');
  for (size_t i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  write_text(path, bytes + header + data);
  return util::sha256_hex(data).substr(0, 12);
}

/// `["url1", "url2"]` for a TOML array.
inline std::string toml_strings(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& e : items) s += (s.empty() ? "\"" : ", \"") + e + "\"";
  return "[" + s + "]";
}

}  // namespace ghx::test
