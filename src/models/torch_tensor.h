#pragma once
// Internal to libghx_torch.so (the only header here that includes libtorch; include it only
// from the module's .cpp files): weight tensors as owned float32 copies.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <string>

#include "models/weights.h"

namespace ghx::models {

/// An owned, contiguous float32 copy of a tensor of `f` (F32, F16, BF16 or F64), read through the
/// mapping (never a view of it: in-place ops on a read-only mapping would fault; misaligned data is
/// copied first). Throws ghx::Error naming the file and key for another dtype.
at::Tensor float_tensor(const WeightFile& f, const std::string& key);

/// Where models run: GHX_DEVICE = `cpu`, `cuda` or `cuda:N`, or `auto`/unset (CUDA when this
/// libtorch has it, else the CPU). Throws ghx::Error for CUDA on a libtorch without it (Debian's
/// libtorch-dev is CPU-only: build against a CUDA libtorch with -DTorch_DIR=...) and for an
/// unknown value. Weights move there at load, inputs per batch; results come back to the CPU.
/// NOTE: the CUDA path has not run on a GPU yet (no session has had the GPU machine).
at::Device model_device();

}  // namespace ghx::models
