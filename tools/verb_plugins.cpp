// `hourglass plugins`: every term the plugin folders provide, with its kind, inputs (and what each must
// be), typed parameters
// (default and bounds) and the plugin's version and file; then every plugin that failed to load, and why
// (exit status 1 when one did).
#include <cstdio>
#include <iostream>

#include "common.h"
#include "ir/lower_util.h"

namespace hg::tools {

int verb_plugins(const std::vector<std::string>& args) {
  std::vector<std::string> plugin_dirs;
  po::options_description options("plugins options");
  options.add_options()("plugin-dir", po::value(&plugin_dirs)->composing(),
                        "also load plugins from this folder")("help,h", "show this help");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(options).run(), vm);
  if (vm.count("help")) {
    std::cout << "usage: hourglass plugins [--plugin-dir DIR]...\n\n" << options << "\n";
    return 0;
  }
  po::notify(vm);
  check_plugin_dirs(plugin_dirs);
  PluginRegistry registry;
  std::printf("plugin folders:\n");
  for (const std::string& dir : PluginRegistry::default_search_path(plugin_dirs)) {
    std::printf("  %s\n", dir.c_str());
    registry.load_folder(dir);
  }
  std::printf("\nterms:\n");
  for (const TermRef& ref : registry.terms()) {
    const hg_term& t = *ref.term;
    std::string inputs;
    for (int32_t i = 0; i < t.num_inputs; ++i) inputs += std::string(i ? ", " : "") + t.input_names[i];
    std::printf("  %s(%s)  %s, version %s, %s\n", ref.full_name.c_str(), inputs.c_str(),
                term_kind_name(t.kind), ref.plugin_version.c_str(), ref.plugin_path.c_str());
    if (t.help && *t.help) std::printf("      %s\n", t.help);
    std::string kinds;
    for (int32_t i = 0; i < t.num_inputs; ++i)
      kinds += std::string(i ? "; " : "") + t.input_names[i] + ": " + input_kinds_text(t.input_kinds[i]);
    std::printf("      %s\n", kinds.c_str());
    for (int32_t p = 0; p < t.num_params; ++p) {
      const hg_param_spec& s = t.params[p];
      std::printf("      %-10s %-5s default %g, in [%g, %g]%s%s\n", s.name,
                  s.type == HG_PARAM_INT ? "int" : "float", s.default_value, s.min_value, s.max_value,
                  s.help && *s.help ? "  " : "", s.help ? s.help : "");
    }
  }
  if (!registry.load_errors().empty()) {
    std::printf("\nplugins that failed to load:\n");
    for (const Diagnostic& d : registry.load_errors()) std::printf("  %s", d.str().c_str());
    return 1;  // scripts that check plugins before a run must notice
  }
  return 0;
}

}  // namespace hg::tools
