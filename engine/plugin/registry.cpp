// Loading term plugins with Boost.DLL: find the libraries, check the ABI version and the table, refuse
// duplicate names, and record every failure as a diagnostic at the plugin's file, so one broken plugin never
// hides the others. TermRef shares ownership of its library, which therefore outlives every use of it.
#ifndef BOOST_DLL_USE_STD_FS
// Boost.DLL 1.74 stays header-only only with std::filesystem. engine/CMakeLists.txt sets this as an
// INTERFACE definition, which does not reach this library's own sources.
#define BOOST_DLL_USE_STD_FS
#endif
#include "plugin/registry.h"

#include <dlfcn.h>

#include <algorithm>
#include <boost/dll/shared_library.hpp>
#include <cstdlib>
#include <filesystem>
#include <type_traits>

#include "plugin/modules.h"
#include "plugin/table_check.h"

namespace hg {

namespace fs = std::filesystem;

class PluginLibrary {
 public:
  // rtld_now: an unresolved symbol fails here, with dlerror's text, not as a crash at the first call.
  // rtld_local: plugins cannot see (or clash with) each other's symbols.
  explicit PluginLibrary(const std::string& path)
      : library_(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local) {}
  const boost::dll::shared_library& library() const { return library_; }
  PluginTable table;  // the library's table in the engine's layout

 private:
  boost::dll::shared_library library_;
};

namespace {

// Built field by field: GCC 12 warns (falsely) about brace-initialized Diagnostics.
Diagnostic diagnostic_at(const std::string& file, std::string message, Severity severity = Severity::Error) {
  Diagnostic d;
  d.severity = severity;
  d.where.file = file;
  d.message = std::move(message);
  return d;
}

// Boost reports "...failed (dlerror system message: <text>): <errc text>"; the user needs only <text>,
// minus its leading file name, which the diagnostic already shows.
std::string dlerror_text(const std::string& what, const std::string& path) {
  const std::string marker = "dlerror system message: ";
  size_t begin = what.find(marker);
  if (begin == std::string::npos) return what;
  begin += marker.size();
  const size_t end = what.rfind("): ");
  std::string text =
      what.substr(begin, end == std::string::npos || end < begin ? std::string::npos : end - begin);
  for (const std::string& prefix : {path + ": ", "./" + path + ": "})
    if (text.compare(0, prefix.size(), prefix) == 0) return text.substr(prefix.size());
  return text;
}

// Opens the library and reads its table; on failure returns nullptr and sets `error`.
const hg_plugin* open_plugin(const std::string& path, std::shared_ptr<PluginLibrary>& library,
                             std::string& error) {
  try {
    library = std::make_shared<PluginLibrary>(path);
  } catch (const std::exception& e) {
    error = "cannot load plugin: " + dlerror_text(e.what(), path);
    return nullptr;
  }
  if (!library->library().has(HG_PLUGIN_ENTRY_POINT)) {
    // hourglass_add_plugin builds with hidden visibility, so a defined but unexported entry point is the
    // usual cause, and its fix is one attribute.
    error = "not an hourglass plugin: no '" HG_PLUGIN_ENTRY_POINT
            "' entry point (if the source defines "
            "it, export it: hourglass_add_plugin hides symbols by default, so declare it "
            "extern \"C\" __attribute__((visibility(\"default\"))))";
    return nullptr;
  }
  // get<F> with F a function type yields a function reference; get<F*> would read the symbol as a variable.
  auto& entry = library->library().get<std::remove_pointer_t<hg_plugin_entry_fn>>(HG_PLUGIN_ENTRY_POINT);
  const hg_plugin* plugin = nullptr;
  try {
    plugin = entry();
  } catch (const std::exception& e) {
    error = "plugin entry point '" HG_PLUGIN_ENTRY_POINT "' threw: " + std::string(e.what());
    return nullptr;
  } catch (...) {
    error = "plugin entry point '" HG_PLUGIN_ENTRY_POINT "' threw an unknown exception";
    return nullptr;
  }
  if (!plugin) error = "plugin entry point '" HG_PLUGIN_ENTRY_POINT "' returned NULL";
  return plugin;
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return fs::equivalent(a, b, ec) && !ec;
}

std::vector<TermRef> make_terms(const std::string& path,
                                const std::shared_ptr<const PluginLibrary>& library) {
  const hg_plugin& plugin = library->table.header;
  std::vector<TermRef> terms;
  for (const hg_term& term : library->table.terms)
    terms.push_back({std::string(plugin.name_space) + "." + term.name, &term, path, plugin.version, library});
  return terms;
}

// An error at the newer file for each name the registry already has, with a note at the first provider.
std::vector<Diagnostic> duplicate_terms(const PluginRegistry& registry, const std::vector<TermRef>& added) {
  std::vector<Diagnostic> clashes;
  for (const TermRef& term : added) {
    const TermRef* first = registry.find(term.full_name);
    if (!first) continue;
    Diagnostic& d = clashes.emplace_back(diagnostic_at(
        term.plugin_path, "term '" + term.full_name + "' is already provided by " + first->plugin_path));
    d.notes.push_back(
        diagnostic_at(first->plugin_path, "'" + term.full_name + "' is first provided here", Severity::Note));
  }
  return clashes;
}

// Appends the entries of a colon-separated list, skipping empty ones ("a::b:" gives a, b).
void append_path_list(const std::string& list, std::vector<std::string>& dirs) {
  for (size_t begin = 0; begin <= list.size();) {
    size_t end = list.find(':', begin);
    if (end == std::string::npos) end = list.size();
    if (end > begin) dirs.push_back(list.substr(begin, end - begin));
    begin = end + 1;
  }
}

}  // namespace

void PluginRegistry::load_file(const std::string& path) {
  // The same file reached twice (the built-in folder also listed in HOURGLASS_PLUGIN_PATH) is not a clash.
  for (const TermRef& term : terms_)
    if (same_file(term.plugin_path, path)) return;

  auto fail = [&](std::string message) { load_errors_.push_back(diagnostic_at(path, std::move(message))); };
  std::shared_ptr<PluginLibrary> library;
  std::string error;
  const hg_plugin* plugin = open_plugin(path, library, error);
  if (!plugin) return fail(error);
  // Before any other field: with another major version the rest of the table may have another layout.
  const std::string mismatch = abi_mismatch(*plugin);
  if (!mismatch.empty()) return fail(mismatch);
  const std::vector<std::string> problems = read_plugin_table(*plugin, library->table);
  for (const std::string& problem : problems) fail("malformed plugin table: " + problem);
  if (!problems.empty()) return;

  std::vector<TermRef> added = make_terms(path, library);
  std::vector<Diagnostic> clashes = duplicate_terms(*this, added);
  // All or nothing: a plugin that is only partly registered would be confusing to debug.
  if (clashes.empty())
    terms_.insert(terms_.end(), added.begin(), added.end());
  else
    load_errors_.insert(load_errors_.end(), clashes.begin(), clashes.end());
}

void PluginRegistry::load_folder(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return;
  if (!fs::is_directory(dir, ec)) {
    load_errors_.push_back(diagnostic_at(dir, "plugin folder is not a folder"));
    return;
  }
  std::vector<std::string> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code ignored;  // a dangling symlink is just not a plugin; it must not end the listing
    if (it->path().extension() == ".so" && it->is_regular_file(ignored)) files.push_back(it->path().string());
  }
  if (ec) load_errors_.push_back(diagnostic_at(dir, "cannot read plugin folder: " + ec.message()));
  std::sort(files.begin(), files.end());  // a fixed order makes "already provided by" deterministic
  for (const std::string& file : files) load_file(file);
}

std::vector<std::string> PluginRegistry::default_search_path(const std::vector<std::string>& extra_dirs) {
  std::vector<std::string> dirs;
  const auto add_builtin = [&dirs](const fs::path& folder) {
    std::error_code ec;
    const fs::path canonical = fs::weakly_canonical(folder, ec);
    const std::string dir = ec ? folder.lexically_normal().string() : canonical.string();
    if (std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) dirs.push_back(dir);
  };
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) add_builtin(hourglass_lib_folder() / "plugins");
  // In libhourglass.so, linked into someone else's program: the folder beside the library (lib/hourglass/
  // plugins). The runner and the tests link the engine statically, and this code is in the executable.
  Dl_info self{};
  if (dladdr(reinterpret_cast<void*>(&PluginRegistry::default_search_path), &self) && self.dli_fname &&
      !fs::equivalent(self.dli_fname, exe, ec) && !ec)
    add_builtin(fs::path(self.dli_fname).parent_path() / "hourglass" / "plugins");
  dirs.insert(dirs.end(), extra_dirs.begin(), extra_dirs.end());
  if (const char* env = std::getenv("HOURGLASS_PLUGIN_PATH")) append_path_list(env, dirs);
  return dirs;
}

const TermRef* PluginRegistry::find(const std::string& full_name) const {
  for (const TermRef& term : terms_)
    if (term.full_name == full_name) return &term;
  return nullptr;
}

std::vector<std::string> PluginRegistry::term_names() const {
  std::vector<std::string> names;
  for (const TermRef& term : terms_) names.push_back(term.full_name);
  return names;
}

}  // namespace hg
