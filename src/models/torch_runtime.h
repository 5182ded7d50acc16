#pragma once
// Internal to src/models/: the process-wide libtorch settings every torch-backed model shares.
// Torch-free header. Owns: the intra-op thread count (the only global state of ghx_models).
// Fails: never throws. Never: touches OpenBLAS's own thread pool (OPENBLAS_NUM_THREADS rules it).

namespace ghx::models {

/// libtorch defaults to 1 intra-op thread on small VMs; a model's load() calls this so that the
/// machine's cores are used unless someone already chose with set_torch_threads().
void ensure_torch_threads();

}  // namespace ghx::models
