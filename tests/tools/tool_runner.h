// Test helpers that run the `hourglass` runner as a user would, from the source folder, and capture its
// exit code and output.
#pragma once

#include <doctest/doctest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace hg::test {

struct ToolResult {
  int status;
  std::string output;  // stdout and stderr together
};

// Runs a shell command from the source folder.
inline ToolResult run_command(const std::string& command) {
  FILE* pipe = popen(("cd " HG_SOURCE_DIR " && " + command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output.append(buffer.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

inline ToolResult run_tool(const std::string& arguments) {
  return run_command(HG_TOOL " " + arguments);
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// How many times `needle` occurs in `haystack`, overlapping occurrences included.
inline size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

// A path under the build folder's test-tools/ for files a test writes.
inline std::string tool_scratch(const std::string& name) {
  const std::string dir = std::string(HG_BINARY_DIR) + "/test-tools";
  std::filesystem::create_directories(dir);
  return dir + "/" + name;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline bool have_numpy() {
  return std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

}  // namespace hg::test
