#pragma once
// Loading a ghx module (a shared object built beside ghx: libghx_torch.so, libghx_heavy.so) with
// dlopen, so that a process pays for heavy libraries only when a command needs them.
// Looks in $ENV_VAR, then beside the executable, then one folder up (tests/), then the library
// search path. Fails: throws ghx::Error naming every place tried. Knows no ghx types.
#include <string>

namespace ghx::util {

/// dlopen's the module `file_name` (RTLD_NOW | RTLD_LOCAL) and returns the address of its
/// `entry` symbol. `what` names the module in messages ("the libtorch module").
void* load_module_entry(const std::string& file_name, const char* env_var, const char* entry, const std::string& what);

}  // namespace ghx::util
