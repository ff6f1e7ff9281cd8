// Golden error tests: every graphs/invalid/*.graph must fail to load with exactly the diagnostics written in
// its `# expect:` lines, in order, notes included. Paths are relative to the repository root, as a user
// would type them, so the expected text names them that way too.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ir/builtin_plugins.h"
#include "ir/lower.h"

using namespace hg;

namespace {

namespace fs = std::filesystem;

const char* const kFolder = "graphs/invalid";
constexpr size_t kMinimumCases = 24;  // so that a lost folder cannot pass by having nothing to check

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The `# expect: ` lines of a graph file, without that prefix.
std::vector<std::string> expected_diagnostics(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in, "cannot read " << path);
  const std::string prefix = "# expect: ";
  std::vector<std::string> expected;
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) expected.push_back(line.substr(prefix.size()));
  return expected;
}

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// Every line that loading `path` reports, or a marker when it loads without error.
std::vector<std::string> actual_diagnostics(const std::string& path) {
  try {
    load_graph(path, builtin_ops(), test::builtin_terms());
  } catch (const Error& error) {
    std::string text;
    for (const Diagnostic& d : error.diagnostics()) text += d.str();
    // Plugin files are named by where this build put them; the expectations say <plugins>.
    const std::string plugins = HG_PLUGIN_DIR;
    for (size_t at; (at = text.find(plugins)) != std::string::npos;)
      text.replace(at, plugins.size(), "<plugins>");
    return lines_of(text);
  }
  return {"(the graph loaded without errors)"};
}

std::string indented(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += "\n    " + line;
  return lines.empty() ? "\n    (none)" : out;
}

}  // namespace

TEST_CASE("invalid graphs: each file reports exactly the diagnostics in its '# expect:' lines") {
  // ctest runs this from the repository root; running the binary by hand from elsewhere works too.
  fs::current_path(HG_SOURCE_DIR);
  REQUIRE_MESSAGE(fs::is_directory(kFolder), kFolder << " is missing from " << HG_SOURCE_DIR);
  std::vector<std::string> paths;
  for (const fs::directory_entry& entry : fs::directory_iterator(kFolder))
    if (entry.path().extension() == ".graph")
      paths.push_back(std::string(kFolder) + "/" + entry.path().filename().string());
  std::sort(paths.begin(), paths.end());
  REQUIRE_MESSAGE(paths.size() >= kMinimumCases, "only " << paths.size() << " files in " << kFolder);

  for (const std::string& path : paths) {
    INFO("graph file: ", path);
    CHECK_MESSAGE(first_line(path).rfind("# ", 0) == 0,
                  path << " should open with a comment saying what it checks");
    const std::vector<std::string> expected = expected_diagnostics(path);
    CHECK_MESSAGE(!expected.empty(), path << " has no '# expect:' lines");
    const std::vector<std::string> actual = actual_diagnostics(path);
    CHECK_MESSAGE(actual == expected, path << " reports different diagnostics\n  expected:"
                                           << indented(expected) << "\n  actual:" << indented(actual));
  }
}
