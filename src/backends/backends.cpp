#include "backends/backends.h"

#include "util/error.h"

namespace ghx::backends {

exec::Generators make_generators(const BackendOptions& options) {
  exec::Generators g;
  g["synthetic"] = make_synthetic_executor();
  g["a1111"] = make_a1111_executor(options);
  g["comfyui"] = make_comfyui_executor(options);
  g["import"] = make_import_executor();
  return g;
}

std::vector<std::string> probe(const std::string& backend, const std::vector<std::string>& urls, double timeout_s,
                               std::vector<std::string>* errors) {
  if (backend == "a1111") return probe_a1111(urls, timeout_s, errors);
  if (backend == "comfyui") return probe_comfyui(urls, timeout_s, errors);
  throw Error("backend '" + backend + "' has no server to probe");
}

}  // namespace ghx::backends
