// Validation of the term table a plugin hands over (private to the plugin layer). The engine trusts
// nothing in it: a null name or a missing function pointer would otherwise crash much later, far from the
// plugin that caused it.
#pragma once

#include <hourglass/plugin.h>

#include <string>
#include <vector>

namespace hg {

// True for names usable in graph files: [a-z_][a-z0-9_]*.
bool is_valid_term_name(const char* name);

// Every problem in the table, one message each; empty when the table is well formed. The caller has
// already checked abi_version, so the layout of `plugin` is known to match ours.
std::vector<std::string> check_plugin_table(const hg_plugin& plugin);

}  // namespace hg
