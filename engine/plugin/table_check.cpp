// Copies a plugin's term table into the engine's layout by its struct sizes and checks it field by field,
// so a broken plugin is refused at load time with a message that names the bad field, instead of crashing
// on the first call into it.
#include "plugin/table_check.h"

#include <algorithm>
#include <cstring>
#include <sstream>

namespace hg {

namespace {

// A struct larger than this is a garbage struct_size, not a future minor version: reading that far past
// a small struct would run off the plugin's data.
constexpr uint32_t kMaxStructSize = 4096;

std::string number(double x) {
  std::ostringstream out;
  out << x;
  return out.str();
}

const char* kind_name(int32_t kind) {
  switch (kind) {
    case HG_TERM_LOSS:
      return "loss";
    case HG_TERM_REGULARIZER:
      return "regularizer";
    case HG_TERM_CORRUPTION:
      return "corruption";
  }
  return nullptr;
}

// Whether a plugin struct of `size` bytes holds at least ABI 2.0's fields (`minimum`) and is plausible.
bool check_struct_size(uint32_t size, size_t minimum, const std::string& what,
                       std::vector<std::string>& problems) {
  if (size >= minimum && size <= kMaxStructSize) return true;
  problems.push_back(
      what + " has struct_size " + std::to_string(size) + ", but ABI " +
      std::to_string(HG_PLUGIN_ABI_VERSION_MAJOR) + " structs of this kind have " +
      (size < minimum ? "at least " + std::to_string(minimum) : "at most " + std::to_string(kMaxStructSize)) +
      " bytes");
  return false;
}

// `T` number `index` of an array whose elements are `stride` bytes apart, copied into a zeroed T: the
// fields a plugin of an older minor version lacks read as zero, newer ones it has are dropped.
template <class T>
T copy_element(const T* array, uint32_t stride, int32_t index) {
  T copy{};
  std::memcpy(&copy, reinterpret_cast<const char*>(array) + size_t(stride) * size_t(index),
              std::min<size_t>(stride, sizeof(T)));
  return copy;
}

// The elements of a plugin array, all of the first element's struct_size; false (with a problem) if they
// are not, since the stride must be the same for all.
template <class T>
bool copy_array(const T* array, int32_t count, const std::string& what, std::vector<T>& out,
                std::vector<std::string>& problems) {
  if (count == 0) return true;
  const uint32_t stride = array[0].struct_size;
  if (!check_struct_size(stride, sizeof(T), what + " #0", problems)) return false;
  for (int32_t i = 0; i < count; ++i) {
    out.push_back(copy_element(array, stride, i));
    if (out.back().struct_size != stride) {
      problems.push_back(what + " #" + std::to_string(i) + " has struct_size " +
                         std::to_string(out.back().struct_size) + ", unlike #0's " + std::to_string(stride) +
                         " (all elements of an array must have the same)");
      return false;
    }
  }
  return true;
}

void check_param(const hg_param_spec& param, int index, const std::string& term,
                 std::vector<std::string>& problems) {
  if (!is_valid_term_name(param.name)) {
    problems.push_back("parameter #" + std::to_string(index) + " of '" + term + "' has " +
                       (param.name ? "an invalid name '" + std::string(param.name) + "'" : "no name"));
    return;
  }
  const std::string where = "parameter '" + std::string(param.name) + "' of '" + term + "'";
  if (param.type != HG_PARAM_FLOAT && param.type != HG_PARAM_INT)
    problems.push_back(where + " has unknown type " + std::to_string(param.type));
  // Written as negations so that NaN bounds or defaults are refused too.
  if (!(param.min_value <= param.max_value))
    problems.push_back(where + " has min " + number(param.min_value) + " > max " + number(param.max_value));
  else if (!(param.default_value >= param.min_value && param.default_value <= param.max_value))
    problems.push_back(where + " has default " + number(param.default_value) + " outside [" +
                       number(param.min_value) + ", " + number(param.max_value) + "]");
}

// The functions the engine will call for a term of this kind must all be present; state comes as a pair.
void check_functions(const hg_term& term, const std::string& name, std::vector<std::string>& problems) {
  const std::string what = std::string(kind_name(term.kind)) + " '" + name + "' has no ";
  if (term.kind == HG_TERM_CORRUPTION) {
    if (!term.apply) problems.push_back(what + "apply function");
    if (!term.apply_gradient) problems.push_back(what + "apply_gradient function");
  } else {
    if (!term.value) problems.push_back(what + "value function");
    if (!term.gradient) problems.push_back(what + "gradient function");
  }
  if (!term.create != !term.destroy)
    problems.push_back(
        what + (term.create ? "destroy function, but has create" : "create function, but has destroy") +
        " (a term with state needs both)");
}

void check_inputs(const hg_term& term, const std::string& name, std::vector<std::string>& problems) {
  if (term.num_inputs < 1 || term.num_inputs > 4) {
    problems.push_back("term '" + name + "' takes " + std::to_string(term.num_inputs) +
                       " inputs (must be 1 to 4)");
    return;
  }
  if (!term.input_names) problems.push_back("term '" + name + "' has no input_names");
  if (!term.input_kinds) problems.push_back("term '" + name + "' has no input_kinds");
  if (!term.input_names || !term.input_kinds) return;
  for (int32_t i = 0; i < term.num_inputs; ++i) {
    const std::string input = "input #" + std::to_string(i) + " of '" + name + "'";
    if (!term.input_names[i]) problems.push_back(input + " has no name");
    const uint32_t kinds = term.input_kinds[i];
    if (kinds == 0 || (kinds & ~HG_INPUT_ANY))
      problems.push_back(input + " has input kinds " + std::to_string(kinds) +
                         " (must be a non-empty mask of HG_INPUT_*, at most " + std::to_string(HG_INPUT_ANY) +
                         ")");
  }
}

// Copies the term's parameter specs into `params` and points the term at them.
void check_term(hg_term& term, int index, const std::string& name_space, std::vector<hg_param_spec>& params,
                std::vector<std::string>& problems) {
  if (!term.name) {
    problems.push_back("term #" + std::to_string(index) + " has no name");
    return;
  }
  if (!is_valid_term_name(term.name)) {
    problems.push_back("term name '" + std::string(term.name) + "' is not a valid name ([a-z_][a-z0-9_]*)");
    return;
  }
  const std::string name = name_space + "." + term.name;
  if (!kind_name(term.kind)) {
    problems.push_back("term '" + name + "' has unknown kind " + std::to_string(term.kind));
    return;
  }
  check_functions(term, name, problems);
  check_inputs(term, name, problems);
  if (term.num_params < 0 || (term.num_params > 0 && !term.params)) {
    problems.push_back("term '" + name + "' declares " + std::to_string(term.num_params) +
                       " parameters but no valid params array");
    return;
  }
  if (!copy_array(term.params, term.num_params, "parameter of '" + name + "'", params, problems)) return;
  term.params = params.data();
  for (int32_t p = 0; p < term.num_params; ++p) check_param(params[size_t(p)], p, name, problems);
}

bool check_header(const hg_plugin& plugin, std::vector<std::string>& problems) {
  if (!plugin.name_space)
    problems.push_back("namespace is NULL");
  else if (!is_valid_term_name(plugin.name_space))
    problems.push_back("namespace '" + std::string(plugin.name_space) +
                       "' is not a valid name ([a-z_][a-z0-9_]*)");
  if (!plugin.version) problems.push_back("version is NULL");
  if (plugin.num_terms < 0)
    problems.push_back("num_terms is " + std::to_string(plugin.num_terms));
  else if (plugin.num_terms > 0 && !plugin.terms)
    problems.push_back("num_terms is " + std::to_string(plugin.num_terms) + " but terms is NULL");
  return problems.empty();
}

}  // namespace

bool is_valid_term_name(const char* name) {
  if (!name || !*name) return false;
  if (!((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_')) return false;
  for (const char* c = name + 1; *c; ++c)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_')) return false;
  return true;
}

std::string abi_mismatch(const hg_plugin& plugin) {
  if (plugin.abi_major == HG_PLUGIN_ABI_VERSION_MAJOR) return "";
  return "plugin built for plugin ABI " + std::to_string(plugin.abi_major) +
         ", but this hourglass loads ABI " + std::to_string(HG_PLUGIN_ABI_VERSION_MAJOR) + " (" +
         std::to_string(HG_PLUGIN_ABI_VERSION_MAJOR) + "." + std::to_string(HG_PLUGIN_ABI_VERSION_MINOR) +
         ") only: rebuild the plugin against this hourglass's headers (find_package(hourglass) in its CMake "
         "project, as plugins/examples/log_sparsity does; see README, Plugins, for what changed)";
}

std::vector<std::string> read_plugin_table(const hg_plugin& plugin, PluginTable& table) {
  std::vector<std::string> problems;
  table = PluginTable{};
  if (!check_struct_size(plugin.struct_size, sizeof(hg_plugin), "the plugin table", problems))
    return problems;
  std::memcpy(&table.header, &plugin, std::min<size_t>(plugin.struct_size, sizeof(hg_plugin)));
  const hg_plugin& header = table.header;
  if (!check_header(header, problems)) return problems;  // the terms cannot be read or named safely
  if (!copy_array(header.terms, header.num_terms, "term", table.terms, problems)) return problems;
  table.params.resize(table.terms.size());
  std::vector<std::string> seen;
  for (size_t i = 0; i < table.terms.size(); ++i) {
    hg_term& term = table.terms[i];
    check_term(term, int(i), header.name_space, table.params[i], problems);
    if (!term.name) continue;
    if (std::find(seen.begin(), seen.end(), term.name) != seen.end())
      problems.push_back("term '" + std::string(header.name_space) + "." + term.name + "' is listed twice");
    seen.push_back(term.name);
  }
  table.header.terms = table.terms.data();
  return problems;
}

}  // namespace hg
