// Modules stay loaded until the process ends: what they return may still be in use.
#include "plugin/modules.h"

#include <boost/dll/shared_library.hpp>
#include <map>
#include <mutex>

#include "support/diagnostics.h"

namespace hg {

std::filesystem::path hourglass_lib_folder() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  return (exe.parent_path() / ".." / "lib" / "hourglass").lexically_normal();
}

void* module_symbol(const std::string& file, const std::string& symbol, const std::string& purpose,
                    bool global) {
  static std::mutex loading;
  static std::map<std::string, boost::dll::shared_library>* modules =
      new std::map<std::string, boost::dll::shared_library>();  // never unloaded
  const std::lock_guard<std::mutex> lock(loading);
  const std::filesystem::path path = hourglass_lib_folder() / file;
  try {
    boost::dll::shared_library& module = (*modules)[file];
    if (!module.is_loaded())
      module.load(path, boost::dll::load_mode::rtld_now | (global ? boost::dll::load_mode::rtld_global
                                                                  : boost::dll::load_mode::rtld_local));
    return &module.get<char>(symbol);  // the symbol's address
  } catch (const std::exception& e) {
    throw Error({path.string(), 0, 0}, "cannot load hourglass's module for " + purpose + ": " + e.what());
  }
}

}  // namespace hg
