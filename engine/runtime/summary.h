// The summary of a sweep: the evaluations a pipeline wrote, one row per eval stage and configuration (its
// parameters but the seed) with mean ± sample std over seeds of every figure, and paired differences between
// arms (pretrained − baseline at the same seed). Pure functions on records, so the numbers are tested
// without training; tools/ reads the files and writes markdown, CSV and JSON.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace hg {

// One evaluation: the eval stage, the pipeline's parameters it ran with, and its figures by name
// ("test_accuracy", "valid_loss", "selected_epoch", "train_seconds", ...).
struct EvalRecord {
  std::string stage;
  std::map<std::string, std::string> params;
  std::map<std::string, double> figures;
};

struct Spread {
  int n = 0;
  double mean = 0, std = 0;  // std: sample standard deviation (n - 1); 0 for a single value
};
Spread spread(const std::vector<double>& values);

struct SummaryRow {
  std::string arm;                            // the eval stage, or "A - B" for a paired difference
  std::map<std::string, std::string> config;  // the parameters but the seed
  std::vector<std::string> seeds;             // the seeds that entered, in order
  std::map<std::string, Spread> figures;
};

struct SummaryPair {
  std::string a, b;  // eval stages: the row is a - b at the same configuration and seed
};

struct Summary {
  std::vector<std::string> figures;  // every figure any record has, sorted
  std::vector<SummaryRow> rows;      // arms in first-seen order, then configurations; pairs last
};

// `seed_param` is the parameter that varies between repeats ("seed").
Summary summarize(const std::vector<EvalRecord>& records, const std::vector<SummaryPair>& pairs,
                  const std::string& seed_param = "seed");

std::string summary_markdown(const Summary& summary);
std::string summary_csv(const Summary& summary);
std::string summary_json(const Summary& summary);

}  // namespace hg
