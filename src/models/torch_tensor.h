#pragma once
// Internal to libghx_torch.so (the only header here that includes libtorch; include it only
// from the module's .cpp files): weight tensors as owned float32 copies.
#include <ATen/core/Tensor.h>

#include <string>

#include "models/weights.h"

namespace ghx::models {

/// An owned, contiguous float32 copy of a tensor of `f` (F32, F16, BF16 or F64), read through the
/// mapping (never a view of it: in-place ops on a read-only mapping would fault; misaligned data is
/// copied first). Throws ghx::Error naming the file and key for another dtype.
at::Tensor float_tensor(const WeightFile& f, const std::string& key);

}  // namespace ghx::models
