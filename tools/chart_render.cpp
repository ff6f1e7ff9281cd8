// The chart module (lib/hourglass/hourglass_charts.so): PLplot's drawing of a Chart, loaded by the runner
// only when it draws one (chart.cpp), so that PLplot and the ten libraries it pulls in are not loaded, and
// cost nothing, in every other run: 5 ms of a start-up measured in tens.
#include <plplot/plstream.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "chart.h"

namespace hg::tools {
namespace {

// cmap0: white background, black axes and text, then one colour per series (colour-blind safe, Okabe-Ito).
constexpr int kPalette[][3] = {{255, 255, 255}, {0, 0, 0},       {0, 114, 178}, {213, 94, 0},
                               {0, 158, 115},   {204, 121, 167}, {230, 159, 0}, {86, 180, 233}};
constexpr int kSeriesColours = 6;

struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  // A flat range or a single point still gets an axis of some width.
  void pad(double fraction) {
    const double span = hi - lo, margin = span > 0 ? span * fraction : std::max(std::abs(lo) * 0.05, 0.5);
    lo -= margin;
    hi += margin;
  }
};

void draw(plstream& pls, const Chart& chart) {
  int r[8], g[8], b[8];
  for (int i = 0; i < 8; ++i) r[i] = kPalette[i][0], g[i] = kPalette[i][1], b[i] = kPalette[i][2];
  pls.scmap0(r, g, b, 8);
  pls.init();
  Range x, y;
  for (const Series& s : chart.series)
    for (size_t i = 0; i < s.x.size(); ++i)
      if (std::isfinite(s.y[i])) x.add(s.x[i]), y.add(s.y[i]);
  x.pad(0.02);
  y.pad(0.05);
  pls.col0(1);
  pls.schr(0, 0.9);
  pls.env(x.lo, x.hi, y.lo, y.hi, 0, 0);  // 0: a box with ticks and labels
  pls.lab(chart.x_label.c_str(), chart.y_label.c_str(), chart.title.c_str());
  pls.width(2);
  for (size_t k = 0; k < chart.series.size(); ++k) {
    const Series& s = chart.series[k];
    pls.col0(2 + int(k) % kSeriesColours);
    std::vector<double> px, py;
    const auto flush = [&] {
      if (px.size() > 1) pls.line(int(px.size()), px.data(), py.data());
      if (px.size() == 1) pls.poin(1, px.data(), py.data(), 17);  // a lone point: a dot
      px.clear();
      py.clear();
    };
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) {
        flush();
        continue;
      }
      px.push_back(s.x[i]);
      py.push_back(s.y[i]);
    }
    flush();
  }
  pls.width(1);
  pls.col0(1);
  pls.lsty(2);  // dashes
  for (double m : chart.marks) {
    const double mx[2] = {m, m}, my[2] = {y.lo, y.hi};
    pls.line(2, mx, my);
  }
  pls.lsty(1);
  std::vector<int> options(chart.series.size(), PL_LEGEND_LINE), colours, styles(chart.series.size(), 1);
  std::vector<double> widths(chart.series.size(), 2);
  std::vector<const char*> texts;
  for (size_t k = 0; k < chart.series.size(); ++k) {
    colours.push_back(2 + int(k) % kSeriesColours);
    texts.push_back(chart.series[k].label.c_str());
  }
  std::vector<int> text_colours(chart.series.size(), 1);
  double legend_width = 0, legend_height = 0;
  pls.legend(&legend_width, &legend_height, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
             PL_POSITION_TOP | PL_POSITION_RIGHT | PL_POSITION_INSIDE, 0.02, 0.02, 0.08, 0, 1, 1, 0, 0,
             int(chart.series.size()), options.data(), 1.0, 0.9, 2.0, 0.0, text_colours.data(), texts.data(),
             nullptr, nullptr, nullptr, nullptr, colours.data(), styles.data(), widths.data(), nullptr,
             nullptr, nullptr, nullptr);
}

// Runs PLplot with `device` writing to `path`.
void render(const Chart& chart, const char* device, const std::string& path) {
  plstream pls;
  pls.sdev(device);
  pls.sfnam(path.c_str());
  pls.spage(0, 0, 800, 450, 0, 0);
  draw(pls, chart);
}

}  // namespace
}  // namespace hg::tools

// Runs PLplot with `device` ("svg", "pngcairo") writing `chart` to the file `path`.
extern "C" __attribute__((visibility("default"))) void hourglass_render_chart(const hg::tools::Chart* chart,
                                                                              const char* device,
                                                                              const char* path) {
  hg::tools::render(*chart, device, path);
}
