#pragma once
// Internal to src/models/: the process-wide libtorch settings every torch-backed model shares.
// Torch-free header. Owns: the intra-op thread count (the only global state of ghx_models).
// Fails: never throws. Sets OpenBLAS's thread count once, to blas_threads() (models/numerics.h),
// the count the step keys name; set_torch_threads() changes ATen's threads only.

namespace ghx::models {

/// libtorch defaults to 1 intra-op thread on small VMs; a model's load() calls this so that the
/// machine's cores are used unless someone already chose with set_torch_threads().
void ensure_torch_threads();

}  // namespace ghx::models
