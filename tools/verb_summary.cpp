// `hourglass summary DIR`: the table of every evaluation a pipeline run left under DIR (its `.eval.json`
// files), one row per eval stage and configuration with mean ± sample std over seeds, and the paired
// differences --pair asks for; written as DIR/summary.md, .csv and .json. A pipeline's summary stage
// writes the same table through write_summary.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common.h"
#include "runtime/stages.h"

namespace hg::tools {

namespace fs = std::filesystem;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error({path, 0, 0}, "cannot read the file");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

EvalRecord read_eval_record(const std::string& path) {
  try {
    const nlohmann::json j = nlohmann::json::parse(read_text(path));
    EvalRecord r;
    r.stage = j.at("stage").get<std::string>();
    if (j.contains("params"))
      for (const auto& [name, value] : j.at("params").items())
        r.params[name] = value.is_string() ? value.get<std::string>() : value.dump();
    auto number = [](const nlohmann::json& v) { return v.is_null() ? std::nan("") : v.get<double>(); };
    if (j.contains("figures")) {
      for (const auto& [name, value] : j.at("figures").items()) r.figures[name] = number(value);
    } else {  // written before evaluations carried figures
      r.figures["test_loss"] = number(j.at("loss"));
      if (j.contains("accuracy")) r.figures["test_accuracy"] = number(j.at("accuracy"));
    }
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw Error({path, 0, 0}, std::string("not an evaluation written by an eval stage: ") + e.what());
  }
}

void write_summary(const Summary& summary, const std::string& prefix) {
  if (fs::path(prefix).has_parent_path()) fs::create_directories(fs::path(prefix).parent_path());
  write_file_atomically(prefix + ".md", summary_markdown(summary));
  write_file_atomically(prefix + ".csv", summary_csv(summary));
  write_file_atomically(prefix + ".json", summary_json(summary));
}

int verb_summary(const std::vector<std::string>& args) {
  std::vector<std::string> pair_texts;
  std::string out, seed = "seed";
  po::options_description options("summary options");
  options.add_options()(
      "pair", po::value(&pair_texts)->value_name("A-B")->composing(),
      "add the paired difference of eval stages A and B (A minus B at the same configuration "
      "and seed); repeatable")("out", po::value(&out)->value_name("PREFIX"),
                               "write PREFIX.md, .csv and .json (default DIR/summary)")(
      "seed-param", po::value(&seed)->value_name("NAME"),
      "the parameter that tells repeats apart (default seed)");
  std::string dir;
  if (!parse_verb("summary", "DIR [options]", options, args, dir)) return 0;
  std::vector<SummaryPair> pairs;
  for (const std::string& text : pair_texts) {
    const size_t dash = text.find('-');
    if (dash == std::string::npos || dash == 0 || dash + 1 == text.size())
      throw po::error("--pair " + text + ": expected A-B, two eval stage names");
    pairs.push_back({text.substr(0, dash), text.substr(dash + 1)});
  }
  if (!fs::is_directory(dir)) throw Error({dir, 0, 0}, "not a folder");
  std::vector<std::string> paths;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.size() > 10 && name.compare(name.size() - 10, 10, ".eval.json") == 0)
      paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());  // the directory's order is the file system's; the table's is not
  if (paths.empty())
    throw Error({dir, 0, 0}, "no .eval.json files under this folder: run a pipeline with eval stages first");
  std::vector<EvalRecord> records;
  for (const std::string& path : paths) records.push_back(read_eval_record(path));
  if (out.empty()) out = (fs::path(dir) / "summary").string();
  const Summary summary = summarize(records, pairs, seed);
  write_summary(summary, out);
  std::printf("%s\nfrom %zu evaluations; wrote %s.md, .csv and .json\n", summary_markdown(summary).c_str(),
              records.size(), out.c_str());
  return 0;
}

}  // namespace hg::tools
