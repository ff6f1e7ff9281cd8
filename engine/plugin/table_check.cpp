// Checks a plugin's term table field by field, so a broken plugin is refused at load time with a message
// that names the bad field, instead of crashing on the first call into it.
#include "plugin/table_check.h"

#include <algorithm>
#include <cstring>
#include <sstream>
#include <type_traits>

namespace hg {

bool is_valid_term_name(const char* name) {
  if (!name || !*name) return false;
  if (!((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_')) return false;
  for (const char* c = name + 1; *c; ++c)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_')) return false;
  return true;
}

// The integer a plugin stored in an enum field. Read as bytes: loading an out-of-range enum value is
// undefined in C++, and a plugin written in C may store anything there.
template <class Enum>
static int raw_value(const Enum& field) {
  std::underlying_type_t<Enum> raw;
  std::memcpy(&raw, &field, sizeof raw);
  return static_cast<int>(raw);
}

static std::string number(double x) {
  std::ostringstream out;
  out << x;
  return out.str();
}

static const char* kind_name(const hg_term_kind& kind) {
  switch (raw_value(kind)) {
    case HG_TERM_LOSS:
      return "loss";
    case HG_TERM_REGULARIZER:
      return "regularizer";
    case HG_TERM_CORRUPTION:
      return "corruption";
  }
  return nullptr;
}

static void check_param(const hg_param_spec& param, int index, const std::string& term,
                        std::vector<std::string>& problems) {
  if (!is_valid_term_name(param.name)) {
    problems.push_back("parameter #" + std::to_string(index) + " of '" + term + "' has " +
                       (param.name ? "an invalid name '" + std::string(param.name) + "'" : "no name"));
    return;
  }
  const std::string where = "parameter '" + std::string(param.name) + "' of '" + term + "'";
  const int type = raw_value(param.type);
  if (type != HG_PARAM_FLOAT && type != HG_PARAM_INT)
    problems.push_back(where + " has unknown type " + std::to_string(type));
  // Written as negations so that NaN bounds or defaults are refused too.
  if (!(param.min_value <= param.max_value))
    problems.push_back(where + " has min " + number(param.min_value) + " > max " + number(param.max_value));
  else if (!(param.default_value >= param.min_value && param.default_value <= param.max_value))
    problems.push_back(where + " has default " + number(param.default_value) + " outside [" +
                       number(param.min_value) + ", " + number(param.max_value) + "]");
}

// The functions the engine will call for a term of this kind must all be present.
static void check_functions(const hg_term& term, const std::string& name,
                            std::vector<std::string>& problems) {
  const std::string what = std::string(kind_name(term.kind)) + " '" + name + "' has no ";
  if (raw_value(term.kind) == HG_TERM_CORRUPTION) {
    if (!term.apply) problems.push_back(what + "apply function");
    if (!term.apply_gradient) problems.push_back(what + "apply_gradient function");
  } else {
    if (!term.value) problems.push_back(what + "value function");
    if (!term.gradient) problems.push_back(what + "gradient function");
  }
}

static void check_inputs(const hg_term& term, const std::string& name, std::vector<std::string>& problems) {
  if (term.num_inputs < 1 || term.num_inputs > 4) {
    problems.push_back("term '" + name + "' takes " + std::to_string(term.num_inputs) +
                       " inputs (must be 1 to 4)");
    return;
  }
  if (!term.input_names) {
    problems.push_back("term '" + name + "' has no input_names");
    return;
  }
  for (int32_t i = 0; i < term.num_inputs; ++i)
    if (!term.input_names[i])
      problems.push_back("input #" + std::to_string(i) + " of '" + name + "' has no name");
}

static void check_term(const hg_term& term, int index, const std::string& name_space,
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
    problems.push_back("term '" + name + "' has unknown kind " + std::to_string(raw_value(term.kind)));
    return;
  }
  check_functions(term, name, problems);
  check_inputs(term, name, problems);
  if (term.num_params < 0 || (term.num_params > 0 && !term.params)) {
    problems.push_back("term '" + name + "' declares " + std::to_string(term.num_params) +
                       " parameters but no valid params array");
    return;
  }
  for (int32_t p = 0; p < term.num_params; ++p) check_param(term.params[p], p, name, problems);
}

static bool check_header(const hg_plugin& plugin, std::vector<std::string>& problems) {
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

std::vector<std::string> check_plugin_table(const hg_plugin& plugin) {
  std::vector<std::string> problems;
  if (!check_header(plugin, problems)) return problems;  // the terms cannot be read or named safely
  std::vector<std::string> seen;
  for (int32_t i = 0; i < plugin.num_terms; ++i) {
    const hg_term& term = plugin.terms[i];
    check_term(term, i, plugin.name_space, problems);
    if (!term.name) continue;
    if (std::find(seen.begin(), seen.end(), term.name) != seen.end())
      problems.push_back("term '" + std::string(plugin.name_space) + "." + term.name + "' is listed twice");
    seen.push_back(term.name);
  }
  return problems;
}

}  // namespace hg
