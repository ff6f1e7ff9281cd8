// PLplot (in the chart module, chart_render.cpp) draws into a file of its choosing device: SVG to a scratch
// file read back (the svg driver writes only to files), PNG through cairo straight to the target, which is
// written atomically.
#include "chart.h"

#include <unistd.h>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <cmath>
#include <filesystem>
#include <mutex>

#include "common.h"
#include "support/diagnostics.h"

namespace hg::tools {
namespace {

namespace fs = std::filesystem;

// The chart module beside the built-in plugins (lib/hourglass/ next to bin/), loaded on the first chart.
void render(const Chart& chart, const char* device, const std::string& path) {
  using Render = void (*)(const Chart*, const char*, const char*);
  static std::mutex loading;
  static boost::dll::shared_library module;
  static Render render_chart = nullptr;
  {
    const std::lock_guard<std::mutex> lock(loading);
    if (!render_chart) {
      const fs::path file =
          boost::dll::program_location().parent_path() / ".." / "lib" / "hourglass" / "hourglass_charts.so";
      try {
        module.load(file, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
        render_chart = module.get<void(const Chart*, const char*, const char*)>("hourglass_render_chart");
      } catch (const std::exception& e) {
        throw Error({file.lexically_normal().string(), 0, 0},
                    std::string("cannot load the chart module (drawing charts needs it): ") + e.what());
      }
    }
  }
  render_chart(&chart, device, path.c_str());
}

}  // namespace

bool drawable(const Chart& chart) {
  for (const Series& s : chart.series)
    for (double v : s.y)
      if (std::isfinite(v)) return true;
  return false;
}

std::string chart_svg(const Chart& chart) {
  const fs::path scratch =
      fs::temp_directory_path() / ("hourglass-chart-" + std::to_string(getpid()) + ".svg");
  render(chart, "svg", scratch.string());
  std::string svg = read_text(scratch.string());  // common.h
  std::error_code ignored;
  fs::remove(scratch, ignored);
  const size_t start = svg.find("<svg");  // inside a page: no XML declaration or doctype
  if (start == std::string::npos) throw Error({chart.title, 0, 0}, "PLplot wrote no SVG for the chart");
  return svg.substr(start);
}

void write_chart_png(const Chart& chart, const std::string& path) {
  const fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  const std::string scratch = path + ".tmp" + std::to_string(getpid()) + ".png";
  render(chart, "pngcairo", scratch);
  std::error_code ec;
  if (!fs::exists(scratch, ec) || fs::file_size(scratch, ec) == 0)
    throw Error({path, 0, 0}, "PLplot's cairo driver wrote no PNG (is plplot-driver-cairo installed?)");
  fs::rename(scratch, target, ec);
  if (ec) throw Error({path, 0, 0}, "cannot write the chart: " + ec.message());
}

}  // namespace hg::tools

#if defined(__SANITIZE_ADDRESS__)
// PLplot loads its cairo driver through libltdl, and cairo's text goes through fontconfig, whose caches live
// until the process ends and are never freed: LeakSanitizer would fail every run that drew a PNG chart.
// Those two libraries' allocations are theirs to keep; anything of hourglass's is still reported.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libfontconfig.so\nleak:libltdl.so\n";
}
#endif
