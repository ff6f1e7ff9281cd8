// Reading and validating the term table a plugin hands over (private to the plugin layer). The engine
// trusts nothing in it: a null name or a missing function pointer would otherwise crash much later, far
// from the plugin that caused it. The table is copied into this engine's own layout first, so a plugin
// built against another minor version of the ABI (smaller or larger structs) is read by its struct sizes
// and the rest of the engine sees only structs of its own size.
#pragma once

#include <hourglass/plugin.h>

#include <string>
#include <vector>

namespace hg {

// True for names usable in graph files: [a-z_][a-z0-9_]*.
bool is_valid_term_name(const char* name);

// Why a plugin with this major version cannot be loaded, naming both versions and how to rebuild; empty
// when it can. Reads only `abi_major`, the one field every ABI puts first.
std::string abi_mismatch(const hg_plugin& plugin);

// A plugin's table in this engine's layout. `terms[i].params` points into `params[i]`; the strings,
// input_names, input_kinds and functions still point into the plugin, which must stay loaded.
struct PluginTable {
  PluginTable() = default;
  PluginTable(PluginTable&&) = default;  // moving a vector keeps its elements where they are
  PluginTable& operator=(PluginTable&&) = default;
  PluginTable(const PluginTable&) = delete;  // a copy's terms would point into the original's params

  hg_plugin header{};
  std::vector<hg_term> terms;
  std::vector<std::vector<hg_param_spec>> params;
};

// Copies `plugin` (whose major version abi_mismatch accepted) into `table` by its struct sizes and checks
// every field. Returns every problem, one message each; empty when the table is well formed.
std::vector<std::string> read_plugin_table(const hg_plugin& plugin, PluginTable& table);

}  // namespace hg
