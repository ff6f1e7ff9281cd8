// The summary table of a sweep: grouping by configuration, mean and sample standard deviation over seeds,
// paired differences, and the three formats it is written in.
#include "runtime/summary.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <nlohmann/json.hpp>
#include <set>

namespace hg {

Spread spread(const std::vector<double>& values) {
  Spread s;
  s.n = int(values.size());
  if (values.empty()) return s;
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / double(values.size());
  if (values.size() < 2) return s;
  double squares = 0;
  for (double v : values) squares += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(squares / double(values.size() - 1));
  return s;
}

namespace {

using Config = std::map<std::string, std::string>;

Config config_of(const EvalRecord& r, const std::string& seed_param) {
  Config c = r.params;
  c.erase(seed_param);
  return c;
}

std::string seed_of(const EvalRecord& r, const std::string& seed_param) {
  const auto at = r.params.find(seed_param);
  return at == r.params.end() ? "" : at->second;
}

std::string config_text(const Config& c) {
  std::string out;
  for (const auto& kv : c) out += (out.empty() ? "" : " ") + kv.first + "=" + kv.second;
  return out.empty() ? "-" : out;
}

std::string number(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.6g", v);
  return buffer;
}

// Figures as people read them: accuracies in percent; counts and seconds as they are.
std::string cell(const std::string& figure, const Spread& s) {
  if (s.n == 0) return "";
  const bool percent = figure.find("accuracy") != std::string::npos;
  char buffer[64];
  if (percent)
    std::snprintf(buffer, sizeof buffer, "%.2f%% ± %.2f", 100 * s.mean, 100 * s.std);
  else
    std::snprintf(buffer, sizeof buffer, "%.4g ± %.2g", s.mean, s.std);
  return buffer;
}

}  // namespace

Summary summarize(const std::vector<EvalRecord>& records, const std::vector<SummaryPair>& pairs,
                  const std::string& seed_param) {
  Summary summary;
  std::set<std::string> figures;
  std::vector<std::string> arms;
  for (const EvalRecord& r : records) {
    for (const auto& kv : r.figures) figures.insert(kv.first);
    if (std::find(arms.begin(), arms.end(), r.stage) == arms.end()) arms.push_back(r.stage);
  }
  summary.figures.assign(figures.begin(), figures.end());
  auto add_row = [&](const std::string& arm, const Config& config,
                     const std::vector<std::pair<std::string, const std::map<std::string, double>*>>& runs) {
    SummaryRow row{arm, config, {}, {}};
    for (const auto& run : runs) row.seeds.push_back(run.first);
    for (const std::string& f : summary.figures) {
      std::vector<double> values;
      for (const auto& run : runs)
        if (const auto at = run.second->find(f); at != run.second->end()) values.push_back(at->second);
      if (!values.empty()) row.figures[f] = spread(values);
    }
    summary.rows.push_back(row);
  };
  for (const std::string& arm : arms) {
    std::map<Config, std::vector<std::pair<std::string, const std::map<std::string, double>*>>> by_config;
    for (const EvalRecord& r : records)
      if (r.stage == arm)
        by_config[config_of(r, seed_param)].emplace_back(seed_of(r, seed_param), &r.figures);
    for (const auto& group : by_config) add_row(arm, group.first, group.second);
  }
  // A paired difference needs both arms at the same configuration and seed; figures either lacks are left
  // out of that seed's difference.
  std::deque<std::map<std::string, double>> differences;  // a deque: rows point into it as it grows
  for (const SummaryPair& pair : pairs) {
    std::map<Config, std::vector<std::pair<std::string, const std::map<std::string, double>*>>> by_config;
    for (const EvalRecord& a : records) {
      if (a.stage != pair.a) continue;
      for (const EvalRecord& b : records) {
        if (b.stage != pair.b || config_of(a, seed_param) != config_of(b, seed_param) ||
            seed_of(a, seed_param) != seed_of(b, seed_param))
          continue;
        std::map<std::string, double> d;
        for (const auto& kv : a.figures)
          if (const auto at = b.figures.find(kv.first); at != b.figures.end())
            d[kv.first] = kv.second - at->second;
        differences.push_back(d);
        by_config[config_of(a, seed_param)].emplace_back(seed_of(a, seed_param), &differences.back());
        break;
      }
    }
    for (const auto& group : by_config) add_row(pair.a + " - " + pair.b, group.first, group.second);
  }
  return summary;
}

std::string summary_markdown(const Summary& s) {
  std::string out = "| arm | configuration | seeds |";
  std::string rule = "|---|---|---|";
  for (const std::string& f : s.figures) {
    out += " " + f + " |";
    rule += "---|";
  }
  out += "\n" + rule + "\n";
  for (const SummaryRow& row : s.rows) {
    out += "| " + row.arm + " | " + config_text(row.config) + " | " + std::to_string(row.seeds.size()) + " |";
    for (const std::string& f : s.figures) {
      const auto at = row.figures.find(f);
      out += " " + (at == row.figures.end() ? std::string() : cell(f, at->second)) + " |";
    }
    out += "\n";
  }
  return out +
         "\nEach cell: mean ± sample standard deviation over seeds; a row `A - B` is the paired difference "
         "A minus B at the same configuration and seed.\n";
}

std::string summary_csv(const Summary& s) {
  std::string out = "arm,configuration,seeds";
  for (const std::string& f : s.figures) out += "," + f + "_mean," + f + "_std," + f + "_n";
  out += "\n";
  for (const SummaryRow& row : s.rows) {
    out += row.arm + "," + config_text(row.config) + "," + std::to_string(row.seeds.size());
    for (const std::string& f : s.figures) {
      const auto at = row.figures.find(f);
      if (at == row.figures.end())
        out += ",,,0";
      else
        out +=
            "," + number(at->second.mean) + "," + number(at->second.std) + "," + std::to_string(at->second.n);
    }
    out += "\n";
  }
  return out;
}

std::string summary_json(const Summary& s) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const SummaryRow& row : s.rows) {
    nlohmann::ordered_json figures = nlohmann::ordered_json::object();
    for (const auto& kv : row.figures)
      figures[kv.first] = {{"mean", kv.second.mean}, {"std", kv.second.std}, {"n", kv.second.n}};
    rows.push_back({{"arm", row.arm}, {"config", row.config}, {"seeds", row.seeds}, {"figures", figures}});
  }
  return nlohmann::ordered_json{{"figures", s.figures}, {"rows", rows}}.dump(2) + "\n";
}

}  // namespace hg
