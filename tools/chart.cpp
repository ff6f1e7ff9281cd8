// PLplot (in the chart module, chart_render.cpp) draws into a file of its choosing device: SVG to a scratch
// file read back (the svg driver writes only to files), PNG through cairo straight to the target, which is
// written atomically.
#include "chart.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "common.h"
#include "plugin/modules.h"
#include "support/diagnostics.h"

namespace hg::tools {
namespace {

namespace fs = std::filesystem;

void render(const Chart& chart, const char* device, const std::string& path) {
  using Render = void (*)(const Chart*, const char*, const char*);
  const auto render_chart = reinterpret_cast<Render>(
      module_symbol("hourglass_charts.so", "hourglass_render_chart", "drawing charts"));
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
