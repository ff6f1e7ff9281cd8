#include "curves.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/diagnostics.h"

namespace hg::tools {

Curves read_curves(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error({path, 0, 0}, "cannot read the metrics log");
  Curves c;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
      if (!j.is_object() || !j.contains("epoch") || !j.at("epoch").is_number())
        throw Error({path, number, 1}, "not a metrics line of `hourglass train`: it has no epoch");
    } catch (const nlohmann::json::exception& e) {
      throw Error({path, number, 1}, std::string("not a JSON line: ") + e.what());
    }
    const double epoch = j.at("epoch").get<double>();
    const size_t row = c.epochs.size();
    c.epochs.push_back(epoch);
    for (auto& [name, column] : c.figures) column.push_back(std::nan(""));
    for (const auto& [key, value] : j.items()) {
      const bool figure =
          key.size() > 5 && (key.compare(key.size() - 5, 5, "_loss") == 0 ||
                             (key.size() > 9 && key.compare(key.size() - 9, 9, "_accuracy") == 0));
      if (!figure || !(value.is_number() || value.is_null())) continue;
      std::vector<double>& column = c.figures[key];
      column.resize(row + 1, std::nan(""));
      column[row] = value.is_null() ? std::nan("") : value.get<double>();  // null: a diverged epoch
    }
    c.seconds.push_back(j.value("seconds", std::nan("")));
    if (j.value("best", false)) c.best.push_back(epoch);
  }
  if (c.epochs.empty()) throw Error({path, 0, 0}, "the metrics log has no epochs");
  return c;
}

std::vector<Chart> curve_charts(const Curves& c, const std::string& title) {
  std::vector<Chart> charts;
  for (const std::string suffix : {"_loss", "_accuracy"}) {
    Chart chart{title, "epoch", suffix == "_loss" ? "loss" : "accuracy", {}, {}};
    // train first, then the held-out sets in name order
    for (int pass = 0; pass < 2; ++pass)
      for (const auto& [key, values] : c.figures) {
        if (key.size() <= suffix.size() ||
            key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0)
          continue;
        const std::string set = key.substr(0, key.size() - suffix.size());
        if ((set == "train") != (pass == 0)) continue;
        chart.series.push_back({set, c.epochs, values});
      }
    if (!c.best.empty()) chart.marks.push_back(c.best.back());
    if (drawable(chart)) charts.push_back(chart);
  }
  return charts;
}

std::string curves_png_path(const std::string& metrics_path) {
  const std::string suffix = ".metrics.jsonl";
  if (metrics_path.size() > suffix.size() &&
      metrics_path.compare(metrics_path.size() - suffix.size(), suffix.size(), suffix) == 0)
    return metrics_path.substr(0, metrics_path.size() - suffix.size()) + ".curves.png";
  return metrics_path + ".curves.png";
}

}  // namespace hg::tools
