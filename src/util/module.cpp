#include "util/module.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "util/error.h"

namespace ghx::util {

void* load_module_entry(const std::string& file_name, const char* env_var, const char* entry, const std::string& what) {
  namespace fs = std::filesystem;
  std::vector<std::string> candidates;
  if (const char* env = std::getenv(env_var)) candidates.push_back(env);
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back((exe.parent_path() / file_name).string());
    candidates.push_back((exe.parent_path().parent_path() / file_name).string());
  }
  candidates.push_back(file_name);
  std::string errors;
  for (const auto& c : candidates) {
    if (c.find('/') != std::string::npos && !fs::exists(c, ec)) continue;
    void* h = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      errors += std::string("\n  ") + dlerror();
      continue;
    }
    void* sym = dlsym(h, entry);
    if (!sym) throw Error(c + ": not " + what + " (no " + entry + ")");
    return sym;
  }
  throw Error("cannot load " + what + " " + file_name + " (set " + env_var + " to its path)" + errors);
}

}  // namespace ghx::util
