// The plugin loader: the built-in losses, a good out-of-tree plugin, every way a library can be refused (each
// with its exact message at the file), duplicate names, the search path, and library lifetime.
#include <dlfcn.h>
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>

#include "plugin/registry.h"
#include "plugin/test_host.h"

using namespace hg;
using namespace hg::test;

namespace {

// The one error `file` produced when loaded alone.
std::string single_load_error(const std::string& file) {
  PluginRegistry registry;
  registry.load_file(file);
  CHECK(registry.terms().empty());
  REQUIRE(registry.load_errors().size() == 1);
  return registry.load_errors()[0].str();
}

bool is_loaded(const std::string& path) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (handle) dlclose(handle);  // RTLD_NOLOAD still takes a reference when the library is there
  return handle != nullptr;
}

}  // namespace

TEST_CASE("the built-in folder provides loss.mse, loss.bce and loss.softmax_ce with their parameters") {
  PluginRegistry registry;
  registry.load_folder(HG_PLUGIN_DIR);
  CHECK(registry.load_errors().empty());
  for (const char* name : {"loss.mse", "loss.bce", "loss.softmax_ce"}) {
    CAPTURE(name);
    const TermRef* term = registry.find(name);
    REQUIRE(term);
    CHECK(term->term->kind == HG_TERM_LOSS);
    CHECK(term->term->num_inputs == 2);
    CHECK(term->plugin_version == "1.0.0");
    CHECK(term->plugin_path == builtin_losses());
  }
  for (const char* name : {"loss.mse", "loss.bce"}) {
    const hg_term& term = *registry.find(name)->term;
    REQUIRE(term.num_params == 1);
    CHECK(std::string(term.params[0].name) == "sum");
    CHECK(term.params[0].type == HG_PARAM_INT);
    CHECK(term.params[0].default_value == 0);
    CHECK(term.params[0].min_value == 0);
    CHECK(term.params[0].max_value == 1);
  }
  CHECK(registry.find("loss.softmax_ce")->term->num_params == 0);
  CHECK(std::string(registry.find("loss.softmax_ce")->term->input_names[0]) == "logits");
}

TEST_CASE("a good plugin folder loads, skipping files that are not .so and dangling symlinks") {
  PluginRegistry registry;
  registry.load_folder(fixture("good"));
  CHECK(registry.load_errors().empty());
  CHECK(registry.term_names() == std::vector<std::string>{"test.l1", "test.flip"});
  const hg_term& l1 = *registry.find("test.l1")->term;
  CHECK(l1.kind == HG_TERM_REGULARIZER);
  REQUIRE(l1.num_params == 1);
  CHECK(std::string(l1.params[0].name) == "weight");
  CHECK(l1.params[0].type == HG_PARAM_FLOAT);
  CHECK(registry.find("test.flip")->term->kind == HG_TERM_CORRUPTION);
}

TEST_CASE("an unknown term is nullptr, and the names offer a suggestion") {
  PluginRegistry registry;
  registry.load_folder(HG_PLUGIN_DIR);
  CHECK(registry.find("loss.msee") == nullptr);
  CHECK(registry.find("mse") == nullptr);
  CHECK(closest_names("loss.msee", registry.term_names()).front() == "loss.mse");
}

TEST_CASE("a missing folder is skipped silently but a file given as a folder is an error") {
  PluginRegistry registry;
  registry.load_folder(fixture("no-such-folder"));
  CHECK(registry.load_errors().empty());
  registry.load_folder(fixture("good/README.txt"));
  REQUIRE(registry.load_errors().size() == 1);
  CHECK(registry.load_errors()[0].str() ==
        fixture("good/README.txt") + ": error: plugin folder is not a folder\n");
}

TEST_CASE(
    "a plugin from another ABI version is refused, naming both versions and how to rebuild, before any other "
    "field is read") {
  const auto expected = [](const std::string& file, const std::string& version) {
    return file + ": error: plugin built for plugin ABI " + version +
           ", but this hourglass loads ABI 2 (2.0) only: rebuild the plugin against this hourglass's headers "
           "(find_package(hourglass) in its CMake project, as plugins/examples/log_sparsity does; see "
           "README, "
           "Plugins, for what changed)\n";
  };
  const std::string v1 = fixture("abi/hg_test_abi_v1.so"), future = fixture("abi/hg_test_abi.so");
  CHECK(single_load_error(v1) == expected(v1, "1"));
  CHECK(single_load_error(future) == expected(future, "999"));
}

TEST_CASE("a library without the entry point is not a plugin") {
  const std::string file = fixture("no_entry/hg_test_no_entry.so");
  CHECK(single_load_error(file) ==
        file +
            ": error: not an hourglass plugin: no 'hourglass_plugin' entry point (if the source defines it, "
            "export it: hourglass_add_plugin hides symbols by default, so declare it extern \"C\" "
            "__attribute__((visibility(\"default\"))))\n");
}

TEST_CASE("a file that cannot be loaded reports dlerror's reason, without Boost's wrapping") {
  const std::string garbage = fixture("garbage/not_elf.so");
  CHECK(single_load_error(garbage) == garbage + ": error: cannot load plugin: file too short\n");
  const std::string missing = fixture("garbage/missing.so");
  CHECK(single_load_error(missing) ==
        missing + ": error: cannot load plugin: cannot open shared object file: No such file or directory\n");
}

TEST_CASE("each malformed table is refused with the exact problem") {
  const std::pair<const char*, std::string> cases[] = {
      {"null_entry", "plugin entry point 'hourglass_plugin' returned NULL"},
      {"null_name", "malformed plugin table: term #0 has no name"},
      {"bad_name", "malformed plugin table: term name 'L1-norm' is not a valid name ([a-z_][a-z0-9_]*)"},
      {"null_namespace", "malformed plugin table: namespace is NULL"},
      {"bad_namespace",
       "malformed plugin table: namespace 'My Plugin' is not a valid name ([a-z_][a-z0-9_]*)"},
      {"negative_terms", "malformed plugin table: num_terms is -1"},
      {"bad_kind", "malformed plugin table: term 'bad.l1' has unknown kind 7"},
      {"no_gradient", "malformed plugin table: regularizer 'bad.l1' has no gradient function"},
      {"no_apply_gradient", "malformed plugin table: corruption 'bad.flip' has no apply_gradient function"},
      {"zero_inputs", "malformed plugin table: term 'bad.l1' takes 0 inputs (must be 1 to 4)"},
      {"five_inputs", "malformed plugin table: term 'bad.l1' takes 5 inputs (must be 1 to 4)"},
      {"min_above_max", "malformed plugin table: parameter 'weight' of 'bad.l1' has min 2 > max 1"},
      {"default_outside",
       "malformed plugin table: parameter 'weight' of 'bad.l1' has default 20 outside [0, 10]"},
      {"listed_twice", "malformed plugin table: term 'bad.l1' is listed twice"},
      {"no_input_kinds", "malformed plugin table: term 'bad.l1' has no input_kinds"},
      {"bad_input_kinds",
       "malformed plugin table: input #0 of 'bad.l1' has input kinds 16 (must be a non-empty mask of "
       "HG_INPUT_*, "
       "at most 15)"},
      {"create_without_destroy",
       "malformed plugin table: regularizer 'bad.l1' has no destroy function, but has create (a term with "
       "state "
       "needs both)"},
      {"small_term",
       "malformed plugin table: term #0 has struct_size 8, but ABI 2 structs of this kind have at least " +
           std::to_string(sizeof(hg_term)) + " bytes"},
      {"uneven_terms", "malformed plugin table: term #1 has struct_size " +
                           std::to_string(sizeof(hg_term) + 8) + ", unlike #0's " +
                           std::to_string(sizeof(hg_term)) +
                           " (all elements of an array must have the same)"},
      {"small_plugin",
       "malformed plugin table: the plugin table has struct_size 12, but ABI 2 structs of this kind have at "
       "least " +
           std::to_string(sizeof(hg_plugin)) + " bytes"},
  };
  for (const auto& name_message : cases) {  // not a structured binding: CAPTURE's lambda names it
    const char* const& name = name_message.first;
    const std::string& message = name_message.second;
    CAPTURE(name);
    const std::string file = fixture("malformed/" + std::string(name) + ".so");
    CHECK(single_load_error(file) == file + ": error: " + message + "\n");
  }
}

TEST_CASE("one broken file does not hide the others: a folder reports every file, in name order") {
  PluginRegistry registry;
  registry.load_folder(fixture("malformed"));
  CHECK(registry.terms().empty());
  REQUIRE(registry.load_errors().size() == 20);
  CHECK(registry.load_errors().front().where.file == fixture("malformed/bad_input_kinds.so"));
  CHECK(registry.load_errors().back().where.file == fixture("malformed/zero_inputs.so"));
}

TEST_CASE("a term provided twice is an error at the second file, with a note at the first") {
  PluginRegistry registry;
  registry.load_folder(HG_PLUGIN_DIR);
  const std::string duplicate = fixture("duplicate/hg_test_duplicate.so");
  registry.load_file(duplicate);
  REQUIRE(registry.load_errors().size() == 1);
  CHECK(registry.load_errors()[0].str() == duplicate + ": error: term 'loss.mse' is already provided by " +
                                               builtin_losses() + "\n" + builtin_losses() +
                                               ": note: 'loss.mse' is first provided here\n");
  CHECK(registry.find("loss.huber") == nullptr);  // nothing of the refused plugin is registered
  CHECK(registry.find("loss.mse")->plugin_version == "1.0.0");
}

TEST_CASE("the same file reached twice is loaded once, without a duplicate error") {
  PluginRegistry once;
  once.load_folder(HG_PLUGIN_DIR);
  PluginRegistry registry;
  registry.load_folder(HG_PLUGIN_DIR);
  registry.load_folder(std::string(HG_PLUGIN_DIR) + "/../plugins");
  CHECK(registry.load_errors().empty());
  CHECK(registry.terms().size() >= 3);
  CHECK(registry.terms().size() == once.terms().size());
}

TEST_CASE("the search path is the built-in folder, then the extra folders, then HOURGLASS_PLUGIN_PATH") {
  const char* saved = std::getenv("HOURGLASS_PLUGIN_PATH");
  const std::string saved_value = saved ? saved : "";
  const std::string builtin = std::filesystem::canonical(HG_PLUGIN_DIR).string();

  setenv("HOURGLASS_PLUGIN_PATH", "/a::/b:", 1);
  CHECK(PluginRegistry::default_search_path({"/x", "/y"}) ==
        std::vector<std::string>{builtin, "/x", "/y", "/a", "/b"});
  unsetenv("HOURGLASS_PLUGIN_PATH");
  CHECK(PluginRegistry::default_search_path({}) == std::vector<std::string>{builtin});

  PluginRegistry registry;
  for (const std::string& dir : PluginRegistry::default_search_path({fixture("good")}))
    registry.load_folder(dir);
  CHECK(registry.load_errors().empty());
  CHECK(registry.find("loss.bce"));
  CHECK(registry.find("test.l1"));
  if (saved) setenv("HOURGLASS_PLUGIN_PATH", saved_value.c_str(), 1);
}

TEST_CASE("a TermRef keeps its library loaded after the registry is gone, and only that long") {
  const std::string file = fixture("good/hg_test_good.so");
  TermRef l1;
  {
    PluginRegistry registry;
    registry.load_file(file);
    REQUIRE(registry.find("test.l1"));
    l1 = *registry.find("test.l1");
  }
  REQUIRE(is_loaded(file));
  std::vector<float> src = {1, -2, 3};
  const std::vector<hg_tensor> inputs = {view(src, {1, 3})};
  const std::vector<double> params = {0.5};
  CHECK(call_term_value(l1, make_call(inputs, params), {"m.graph", 1, 1}) == 3.0);
  l1 = TermRef{};
  CHECK_FALSE(is_loaded(file));
}
