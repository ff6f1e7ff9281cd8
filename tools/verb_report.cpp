// `hourglass report CKPT|DIR`: one self-contained HTML page a person can read. For a run's checkpoint: its
// loss and accuracy curves (from the metrics log), the figures of its last and selected epochs, the
// pictures its graph supports (filters, reconstructions, samples, the latent grid), its settings, terms
// with their plugin versions, timing and the graph's text. For a pipeline's output folder: the summary
// table of its evaluations, each stage's wall time, then one such section per trained checkpoint.
// Charts are PLplot's SVG inside the page and pictures are PNG data URIs, so the page stands alone.
// `--png DIR` writes the charts alone as PNG files instead.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "common.h"
#include "curves.h"
#include "runtime/checkpoint.h"
#include "runtime/stages.h"

namespace hg::tools {
namespace {

namespace fs = std::filesystem;

struct ReportOptions {
  CommonOptions common;
  std::string path, out, png, metrics;
};

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

std::string base64(const std::string& bytes) {
  static const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const uint32_t n = uint32_t(uint8_t(bytes[i])) << 16 |
                       (i + 1 < bytes.size() ? uint32_t(uint8_t(bytes[i + 1])) << 8 : 0) |
                       (i + 2 < bytes.size() ? uint32_t(uint8_t(bytes[i + 2])) : 0);
    out += digits[n >> 18 & 63];
    out += digits[n >> 12 & 63];
    out += i + 1 < bytes.size() ? digits[n >> 6 & 63] : '=';
    out += i + 2 < bytes.size() ? digits[n & 63] : '=';
  }
  return out;
}

std::string figure(double value, bool accuracy = false) {
  if (std::isnan(value)) return "–";
  char text[32];
  if (accuracy)
    std::snprintf(text, sizeof text, "%.2f%%", 100 * value);
  else
    std::snprintf(text, sizeof text, "%.5g", value);
  return text;
}

std::string seconds(double s) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f s", s);
  return text;
}

std::string table(const std::vector<std::string>& head, const std::vector<std::vector<std::string>>& rows) {
  std::string html = "<div class=\"wide\"><table><tr>";
  for (const std::string& h : head) html += "<th>" + escape(h) + "</th>";
  html += "</tr>\n";
  for (const auto& row : rows) {
    html += "<tr>";
    for (const std::string& cell : row) html += "<td>" + escape(cell) + "</td>";
    html += "</tr>\n";
  }
  return html + "</table></div>\n";
}

// The metrics log of a checkpoint: --metrics, else beside it (a pipeline stage's OUT.metrics.jsonl, and
// `train`'s default out/GRAPH.metrics.jsonl beside out/GRAPH.safetensors), else train's default for its
// graph.
std::string metrics_of(const std::string& checkpoint, const std::string& graph, const std::string& given) {
  if (!given.empty()) return given;
  const std::string beside = fs::path(checkpoint).replace_extension(".metrics.jsonl").string();
  if (fs::exists(beside)) return beside;
  const std::string by_graph = "out/" + stem(graph) + ".metrics.jsonl";
  return fs::exists(by_graph) ? by_graph : beside;
}

struct Run {
  std::string checkpoint, graph, metrics;
  std::map<std::string, std::string> metadata;
  std::optional<Curves> curves;
  std::string curves_error;
};

Run read_run(const std::string& checkpoint, const std::string& metrics) {
  Run run;
  run.checkpoint = checkpoint;
  const CheckpointFile file(checkpoint);
  run.metadata = file.metadata();
  run.graph = file.metadata("graph_file");
  if (run.metadata["format"] != "hourglass")
    throw Error({checkpoint, 0, 0}, "not a checkpoint written by `hourglass train` (no hourglass metadata)");
  run.metrics = metrics_of(checkpoint, run.graph, metrics);
  try {
    run.curves = read_curves(run.metrics);
  } catch (const Error& e) {
    run.curves_error = e.diagnostics().front().str();
  }
  return run;
}

// Each eval set's figures at the last epoch and at the selected one.
std::string figures_table(const Curves& c) {
  std::vector<std::vector<std::string>> rows;
  const auto row_at = [&](const std::string& label, size_t i) {
    std::vector<std::string> row{label, figure(c.epochs[i], false)};
    for (const auto& [key, values] : c.figures)
      row.push_back(figure(values[i], key.find("_accuracy") != std::string::npos));
    rows.push_back(row);
  };
  row_at("last", c.epochs.size() - 1);
  if (!c.best.empty())
    for (size_t i = 0; i < c.epochs.size(); ++i)
      if (c.epochs[i] == c.best.back()) row_at("selected", i);
  std::vector<std::string> head{"", "epoch"};
  for (const auto& kv : c.figures) head.push_back(kv.first);
  return table(head, rows);
}

std::string timing(const Curves& c) {
  double total = 0;
  for (double s : c.seconds)
    if (std::isfinite(s)) total += s;
  char text[128];
  std::snprintf(text, sizeof text, "%zu epochs in %.1f s of training (%.2f s an epoch)", c.epochs.size(),
                total, total / double(c.epochs.size()));
  return text;
}

std::string settings_table(const Run& run) {
  std::vector<std::vector<std::string>> rows;
  for (const char* key :
       {"graph_file", "epoch", "epochs", "seed", "batch", "optimizer", "optimizer.learning_rate",
        "optimizer.momentum", "schedule", "train_slice", "frozen", "graph_hash"})
    if (run.metadata.count(key) && !run.metadata.at(key).empty()) rows.push_back({key, run.metadata.at(key)});
  return table({"setting", "value"}, rows);
}

std::string terms_table(const Run& run) {
  std::vector<std::vector<std::string>> rows;
  try {
    for (const auto& t : nlohmann::json::parse(run.metadata.count("terms") ? run.metadata.at("terms") : "[]"))
      rows.push_back({t.value("node", ""), t.value("term", ""), t.value("version", ""),
                      t.contains("weight") ? figure(t.at("weight").get<double>()) : "",
                      t.contains("params") ? t.at("params").dump() : ""});
  } catch (const nlohmann::json::exception&) {
    return "<p>The checkpoint's term list is not readable.</p>\n";
  }
  return table({"node", "term", "plugin version", "weight", "parameters"}, rows);
}

// The pictures the graph supports, drawn from the checkpoint; one that does not apply says why.
std::string pictures(const Run& run, const ReportOptions& o) {
  Model model(run.graph, model_options(o.common));
  load_checkpoint(run.checkpoint, model);
  std::string html;
  const fs::path scratch =
      fs::temp_directory_path() / ("hourglass-report-" + std::to_string(getpid()) + ".png");
  for (const char* what : {"filters", "recon", "samples", "latent"}) {
    ShowOptions show;
    show.common = o.common;
    show.what = what;
    show.out = scratch.string();
    show.count = std::string(what) == "recon" ? 10 : 100;
    try {
      const std::string caption = draw_picture(model, show);
      html += "<figure><img alt=\"" + std::string(what) + "\" src=\"data:image/png;base64," +
              base64(read_text(scratch.string())) + "\"><figcaption>" + what + ": " + escape(caption) +
              "</figcaption></figure>\n";
    } catch (const Error& e) {
      html += "<p class=\"note\">" + std::string(what) +
              ": not drawn: " + escape(e.diagnostics().front().message) + "</p>\n";
    } catch (const po::error& e) {
      html += "<p class=\"note\">" + std::string(what) + ": not drawn: " + escape(e.what()) + "</p>\n";
    }
  }
  std::error_code ignored;
  fs::remove(scratch, ignored);
  return html;
}

std::string run_section(const Run& run, const ReportOptions& o) {
  std::string html = "<section>\n<h2>" + escape(run.checkpoint) + "</h2>\n";
  html += "<p>Graph <code>" + escape(run.graph) + "</code>, metrics <code>" + escape(run.metrics) +
          "</code>.</p>\n";
  if (run.curves) {
    html += "<h3>Curves</h3>\n";
    for (const Chart& chart : curve_charts(*run.curves, stem(run.graph)))
      html += "<div class=\"chart\">" + chart_svg(chart) + "</div>\n";
    html += "<h3>Figures</h3>\n" + figures_table(*run.curves) + "<p>" + timing(*run.curves) + "</p>\n";
  } else {
    html += "<p class=\"note\">No curves: " + escape(run.curves_error) + "</p>\n";
  }
  html += "<h3>Pictures</h3>\n";
  try {
    html += pictures(run, o);
  } catch (const Error& e) {
    html += "<p class=\"note\">No pictures: " + escape(e.diagnostics().front().str()) + "</p>\n";
  }
  html += "<h3>Settings</h3>\n" + settings_table(run) + "<h3>Terms</h3>\n" + terms_table(run);
  std::ifstream graph(run.graph);
  if (graph) {
    std::stringstream text;
    text << graph.rdbuf();
    html += "<h3>Graph</h3>\n<pre>" + escape(text.str()) + "</pre>\n";
  }
  return html + "</section>\n";
}

// A pipeline folder's evaluations as the summary table, and the wall time of each stage from its stamp.
std::string pipeline_section(const std::string& dir) {
  std::vector<EvalRecord> records;
  std::vector<std::vector<std::string>> stages;
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& p : files) {
    const std::string name = p.string();
    if (name.size() > 10 && name.compare(name.size() - 10, 10, ".eval.json") == 0)
      records.push_back(read_eval_record(name));
    if (p.extension() == ".stamp")
      if (const std::optional<Stamp> stamp = read_stamp(name))
        stages.push_back({fs::relative(p, dir).replace_extension("").string(),
                          stamp->complete ? "done" : "unfinished",
                          stamp->complete ? seconds(stamp->seconds) : ""});
  }
  std::string html = "<section>\n<h2>Pipeline output " + escape(dir) + "</h2>\n";
  if (!records.empty()) {
    const Summary summary = summarize(records, {});
    std::vector<std::string> head{"arm", "configuration", "seeds"};
    for (const std::string& f : summary.figures) head.push_back(f);
    std::vector<std::vector<std::string>> rows;
    for (const SummaryRow& r : summary.rows) {
      std::string config, seeds;
      for (const auto& [k, v] : r.config) config += (config.empty() ? "" : " ") + k + "=" + v;
      for (const std::string& s : r.seeds) seeds += (seeds.empty() ? "" : ",") + s;
      std::vector<std::string> row{r.arm, config, seeds};
      for (const std::string& f : summary.figures) {
        const auto it = r.figures.find(f);
        const bool accuracy = f.find("accuracy") != std::string::npos;
        row.push_back(it == r.figures.end() ? "–"
                      : it->second.n > 1
                          ? figure(it->second.mean, accuracy) + " ± " + figure(it->second.std, accuracy)
                          : figure(it->second.mean, accuracy));
      }
      rows.push_back(row);
    }
    html += "<h3>Summary</h3>\n" + table(head, rows);
  }
  if (!stages.empty()) html += "<h3>Stages</h3>\n" + table({"stage output", "state", "wall time"}, stages);
  return html + "</section>\n";
}

const char* kStyle =
    "body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:2px "
    "8px;text-align:right}"
    "th{background:#eee}pre{background:#f6f6f6;padding:1em;overflow-x:auto}.note{color:#666}"
    ".chart svg{max-width:100%;height:auto}figure{display:inline-block;margin:0.5em}"
    ".wide{overflow-x:auto}img{image-rendering:pixelated;max-width:100%}section{border-top:2px solid "
    "#ddd;margin-top:2em}";

}  // namespace

int verb_report(const std::vector<std::string>& args) {
  ReportOptions o;
  po::options_description options("report options");
  // clang-format off
  options.add_options()
      ("out", po::value(&o.out)->value_name("FILE"),
       "the page to write (default: CKPT's name with .report.html, or DIR/report.html)")
      ("png", po::value(&o.png)->value_name("DIR"), "write the charts alone, as PNG files in DIR, and no page")
      ("metrics", po::value(&o.metrics)->value_name("FILE"), "a run's metrics log (default: beside CKPT)");
  // clang-format on
  add_common_options(options, o.common);
  if (!parse_verb("report", "CKPT|DIR [options]", options, args, o.path)) return 0;
  std::error_code ec;
  const bool folder = fs::is_directory(o.path, ec);
  if (!folder && !fs::exists(o.path, ec)) throw Error({o.path, 0, 0}, "no such checkpoint or folder");
  if (folder && !o.metrics.empty())
    throw po::error("--metrics names one run's log; a folder's runs have theirs beside their checkpoints");
  std::vector<std::string> checkpoints;
  if (folder) {
    for (const auto& entry : fs::recursive_directory_iterator(o.path))
      if (entry.path().extension() == ".safetensors") checkpoints.push_back(entry.path().string());
    std::sort(checkpoints.begin(), checkpoints.end());
  } else {
    checkpoints.push_back(o.path);
  }
  std::vector<Run> runs;
  for (const std::string& c : checkpoints) runs.push_back(read_run(c, o.metrics));

  if (!o.png.empty()) {
    int written = 0;
    for (const Run& run : runs) {
      if (!run.curves) throw Error({run.metrics, 0, 0}, run.curves_error);
      const std::string name = fs::path(run.checkpoint).stem().string();
      for (const Chart& chart : curve_charts(*run.curves, stem(run.graph))) {
        const std::string path = (fs::path(o.png) / (name + "." + chart.y_label + ".png")).string();
        write_chart_png(chart, path);
        std::printf("wrote %s\n", path.c_str());
        ++written;
      }
    }
    if (written == 0) throw Error({o.path, 0, 0}, "no run with curves to draw");
    return 0;
  }

  auto threads = configure_threads(o.common.threads);
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>hourglass report: " +
      escape(o.path) + "</title>\n<style>" + kStyle +
      "</style>\n</head>\n<body>\n<h1>hourglass report: " + escape(o.path) + "</h1>\n";
  if (folder) html += pipeline_section(o.path);
  for (const Run& run : runs) html += run_section(run, o);
  if (runs.empty()) html += "<p class=\"note\">No checkpoints under this folder.</p>\n";
  html += "</body>\n</html>\n";
  if (o.out.empty())
    o.out = folder ? (fs::path(o.path) / "report.html").string()
                   : fs::path(o.path).replace_extension(".report.html").string();
  if (fs::path(o.out).has_parent_path()) fs::create_directories(fs::path(o.out).parent_path());
  write_file_atomically(o.out, html);
  std::printf("wrote %s: %zu run%s\n", o.out.c_str(), runs.size(), runs.size() == 1 ? "" : "s");
  return 0;
}

}  // namespace hg::tools
