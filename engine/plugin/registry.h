// Finds and loads term plugins (shared libraries) with Boost.DLL, checks their ABI version, and keeps each
// library loaded while anything that came from it lives (TermRef holds a shared_ptr to its library).
// This layer is the only code in hourglass that knows Boost.DLL.
#pragma once

#include <hourglass/plugin.h>

#include <memory>
#include <string>
#include <vector>

#include "support/diagnostics.h"

namespace hg {

class PluginLibrary;  // a loaded shared library and its table; opaque outside registry.cpp

// One term a plugin provides, e.g. "loss.bce".
struct TermRef {
  std::string full_name;          // name_space.term
  const hg_term* term = nullptr;  // the engine's copy of the term, valid while `library` lives
  std::string plugin_path;        // the file it came from
  std::string plugin_version;
  std::shared_ptr<const PluginLibrary> library;
};

class PluginRegistry {
 public:
  // Loads every shared library in `dir` (sorted by name). A library that fails (not a plugin, missing entry
  // point, wrong ABI version, malformed table) is recorded in load_errors() and skipped, so one broken file
  // does not hide the others. A term name provided twice is a load error naming both files.
  void load_folder(const std::string& dir);
  // Loads one library; failures are recorded like load_folder's.
  void load_file(const std::string& path);

  // The built-in folder (next to the executable: ../lib/hourglass/plugins, or, in a program linking
  // libhourglass.so, beside the library: hourglass/plugins), then `extra_dirs`, then the
  // directories in $HOURGLASS_PLUGIN_PATH (colon-separated). Missing folders are skipped silently.
  static std::vector<std::string> default_search_path(const std::vector<std::string>& extra_dirs);

  const TermRef* find(const std::string& full_name) const;  // nullptr when unknown
  std::vector<std::string> term_names() const;
  const std::vector<TermRef>& terms() const { return terms_; }
  const std::vector<Diagnostic>& load_errors() const { return load_errors_; }

 private:
  std::vector<TermRef> terms_;
  std::vector<Diagnostic> load_errors_;
};

// A term's per-use state (hg_term.create), destroyed with this object; empty for a term without state.
class TermState {
 public:
  TermState(const TermRef& term, void* state) : term_(term), state_(state) {}
  ~TermState();
  TermState(const TermState&) = delete;
  TermState& operator=(const TermState&) = delete;
  void* get() const { return state_; }

 private:
  TermRef term_;  // keeps the library, and so `destroy`, loaded
  void* state_;
};

// Calls the term's create, if it has one, with `call`'s inputs (their shapes), parameters and host.
std::shared_ptr<TermState> create_term_state(const TermRef& term, hg_term_call call,
                                             const SourceLocation& where);

// Calls into a term. A non-zero return (or a crash-free failure of any kind) becomes hg::Error at `where`,
// naming the term and its plugin file. `call.error` is filled in here.
double call_term_value(const TermRef& term, hg_term_call call, const SourceLocation& where);
void call_term_gradient(const TermRef& term, hg_term_call call, float scale, hg_tensor* diff_inputs,
                        const SourceLocation& where);
void call_term_apply(const TermRef& term, hg_term_call call, hg_tensor* dst, const SourceLocation& where);
void call_term_apply_gradient(const TermRef& term, hg_term_call call, const hg_tensor* diff_dst,
                              hg_tensor* diff_input, const SourceLocation& where);

}  // namespace hg
