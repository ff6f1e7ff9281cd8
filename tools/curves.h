// A run's per-epoch figures, read back from the metrics log `train` writes (one JSON object per epoch), and
// the charts drawn from them: the loss of the training data and of every held-out set, and accuracy where
// the graph has labels. `train` draws them next to its log; `report` puts them in its page.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "chart.h"

namespace hg::tools {

struct Curves {
  std::vector<double> epochs;
  std::map<std::string, std::vector<double>>
      figures;               // "train_loss", "valid_accuracy"...: one per epoch, NaN if absent
  std::vector<double> best;  // epochs `select` marked best, in order
  std::vector<double> seconds;
};

// Throws hg::Error at file:line for a line that is not a metrics object. A resumed run appends to its log,
// and a restarted one truncates it, so the epochs read are those of the run that wrote it last.
Curves read_curves(const std::string& metrics_path);
// The charts the curves hold: loss, then accuracy when any set has one; the last best epoch is marked.
std::vector<Chart> curve_charts(const Curves& curves, const std::string& title);
// Where `train` puts the chart of its log: "out/x.metrics.jsonl" -> "out/x.curves.png".
std::string curves_png_path(const std::string& metrics_path);

}  // namespace hg::tools
