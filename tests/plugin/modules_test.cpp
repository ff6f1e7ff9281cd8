// hourglass's own modules (plugin/modules.h): found beside the executable, loaded once, and a missing module
// or symbol is an error that names the module's path and what needed it.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "plugin/modules.h"
#include "support/diagnostics.h"

using namespace hg;

TEST_CASE("the modules folder is lib/hourglass beside the executable's bin/, next to the plugins") {
  const std::filesystem::path folder = hourglass_lib_folder();
  CHECK(folder.filename() == "hourglass");
  CHECK(folder.parent_path().filename() == "lib");
  CHECK(std::filesystem::is_directory(folder / "plugins"));
  CHECK(std::filesystem::exists(folder / "hourglass_charts.so"));
}

TEST_CASE("a module is loaded once and its symbol found") {
  void* first = module_symbol("hourglass_charts.so", "hourglass_render_chart", "drawing charts");
  CHECK(first != nullptr);
  CHECK(module_symbol("hourglass_charts.so", "hourglass_render_chart", "drawing charts") == first);
}

TEST_CASE("a missing module or symbol is an error naming the module's path and its purpose") {
  const std::string folder = hourglass_lib_folder().string();
  CHECK_THROWS_WITH_AS(
      module_symbol("no_such_module.so", "entry", "testing"),
      doctest::Contains((folder + "/no_such_module.so: error: cannot load hourglass's module "
                                  "for testing")
                            .c_str()),
      Error);
  CHECK_THROWS_WITH_AS(module_symbol("hourglass_charts.so", "no_such_symbol", "testing"),
                       doctest::Contains((folder + "/hourglass_charts.so: error: cannot load hourglass's "
                                                   "module for testing")
                                             .c_str()),
                       Error);
  // The failure leaves nothing half-loaded: the module still serves its real symbol.
  CHECK(module_symbol("hourglass_charts.so", "hourglass_render_chart", "drawing charts") != nullptr);
}
