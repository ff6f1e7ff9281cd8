// Line charts of a run's curves (loss and accuracy per epoch), drawn by PLplot: as SVG text to put inside a
// report's page, or as a PNG file (its cairo driver) next to a metrics log.
#pragma once

#include <string>
#include <vector>

namespace hg::tools {

struct Series {
  std::string label;         // the legend's text: "train", "valid", "test"
  std::vector<double> x, y;  // a NaN y (a diverged epoch) breaks the line there
};

struct Chart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  std::vector<double> marks;  // x values marked by a vertical line (the selected epoch)
};

// Whether any series has a finite point: a chart without one has nothing to draw.
bool drawable(const Chart& chart);
std::string chart_svg(const Chart& chart);                          // throws hg::Error when PLplot fails
void write_chart_png(const Chart& chart, const std::string& path);  // throws hg::Error naming the path

}  // namespace hg::tools
