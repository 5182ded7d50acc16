#pragma once
// Generation backends: the executors of `generate` steps, one per `backend` a review names
// (docs/backends.md): `synthetic` (deterministic drawings, no server), `import` (a folder of
// existing images), `a1111` and `comfyui` (servers over HTTP). This header is the folder's
// contract for the layers above (run/, cli/): the executors by name, the options that reach the
// servers, and probing. What the run layer asks of particular backends (a server's models, an
// import folder's matches) is in a1111.h and import.h, included here.
// Fails: make_generators never throws; each executor fails its own steps (exec/executor.h).
// Never: touches the cache, plans, or computes scores.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/options.h"
#include "exec/executor.h"
#include "plan/plan.h"

namespace ghx::backends {

/// Every built-in backend's executor by name, for exec::ExecutorSet::builtin.
exec::Generators make_generators(const BackendOptions& options = {});

/// The endpoints of `backend` ("a1111" or "comfyui") among `urls` that answer within
/// `timeout_s`, in order; why each other one did not in `errors`.
std::vector<std::string> probe(const std::string& backend, const std::vector<std::string>& urls, double timeout_s,
                               std::vector<std::string>* errors);

/// The synthetic backend's picture for one generate step, PNG bytes. Deterministic in (prompt,
/// negative, seed, checkpoint identity, size) and nothing else.
std::string synthetic_png(const plan::Step& step);
std::unique_ptr<exec::Executor> make_synthetic_executor();

}  // namespace ghx::backends

#include "backends/a1111.h"    // IWYU pragma: export (server models, checkpoint identity)
#include "backends/comfyui.h"  // IWYU pragma: export
#include "backends/import.h"   // IWYU pragma: export (import matching and its summary)
