// hourglass's own optional parts that pull in large libraries only some runs need (PLplot for charts,
// protobuf for ONNX export): each is a module in lib/hourglass/ beside the built-in plugins' folder, loaded
// on first use, so that every other run starts without loading them.
#pragma once

#include <filesystem>
#include <string>

namespace hg {

// lib/hourglass beside the running executable's bin/ folder, where the build and `cmake --install` put the
// modules and the built-in plugins (plugins/); empty if /proc/self/exe cannot be read.
std::filesystem::path hourglass_lib_folder();

// The address of `symbol` in the module `file` (a name in lib/hourglass/, next to the executable's bin/),
// loading the module on the first call; safe to call from several threads. Throws hg::Error naming the
// module's path, with `purpose` ("drawing charts") saying what needs it, when it cannot be loaded or lacks
// the symbol. `global`: the module's symbols (and its libraries') are visible to libraries loaded later.
void* module_symbol(const std::string& file, const std::string& symbol, const std::string& purpose,
                    bool global = false);

}  // namespace hg
