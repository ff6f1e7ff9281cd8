// Lowering of `data NAME = ...` statements: a source call (idx, npy, csv) wrapped in any number of steps
// (split, subset, standardize, minmax), written nested or piped, becomes a DataBinding; `--set data.*`
// changes a binding's slice or its steps' settings. Every mistake is a file:line:col error at its argument.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "ir/lower_util.h"

namespace hg {

namespace {

std::string number_text(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.10g", v);
  return buffer;
}

const std::vector<std::string> kSources = {"idx", "npy", "csv", "images"};
const std::vector<std::string> kSteps = {"patches", "split", "subset", "standardize", "minmax"};

std::string usage() {
  return "data is read with idx(\"images\", labels=\"...\"), npy(\"x.npy\", labels=\"y.npy\"), "
         "csv(\"table.csv\", label=\"column\") or images(\"folder\", size=[C, H, W]), optionally inside "
         "patches(...), split(...), subset(...), standardize(...) or minmax(...)";
}

std::optional<std::string> string_argument(const ast::Arg& arg, DiagnosticSink& sink) {
  if (arg.value->kind != ast::Expr::Kind::String) {
    sink.error(arg.value->location,
               "expected a file name in double quotes, found '" + ast::to_string(*arg.value) + "'");
    return std::nullopt;
  }
  return arg.value->text;
}

// A whole number in [lo, hi], reported at the argument otherwise.
std::optional<int64_t> whole(const ast::Arg& arg, const std::string& what, double lo, double hi,
                             DiagnosticSink& sink) {
  auto v = constant_value(*arg.value, sink);
  if (!v) return std::nullopt;
  if (!(*v >= lo && *v <= hi) || *v != std::floor(*v)) {
    const std::string range =
        hi >= 1e12 ? ">= " + number_text(lo) : "in [" + number_text(lo) + ", " + number_text(hi) + "]";
    sink.error(arg.value->location,
               what + " must be a whole number " + range + ", found '" + ast::to_string(*arg.value) + "'");
    return std::nullopt;
  }
  return int64_t(*v);
}

bool lower_source(const ast::Expr& call, DiagnosticSink& sink, DataBinding& b) {
  b.format = call.text;
  std::vector<std::string> keys = {"labels", "scale", "skip", "count"};
  if (b.format == "idx") keys.push_back("images");
  if (b.format == "csv") keys = {"label", "columns", "header", "scale", "skip", "count"};
  if (b.format == "images") keys = {"size", "resize", "scale", "skip", "count"};
  if (!check_arguments(call, 1, keys, sink)) return false;
  const ast::Arg* file = positional(call, 0) ? positional(call, 0) : keyword(call, "images");
  if (!file) {
    sink.error(call.location, call.text + " needs a file: " + call.text + "(\"" +
                                  (b.format == "idx"   ? "train-images-idx3-ubyte"
                                   : b.format == "npy" ? "x.npy"
                                                       : "table.csv") +
                                  "\")");
    return false;
  }
  auto path = string_argument(*file, sink);
  if (!path) return false;
  b.images = *path;
  bool ok = true;
  if (const ast::Arg* labels = keyword(call, "labels")) {
    auto label_path = string_argument(*labels, sink);
    ok = ok && label_path;
    if (label_path) b.labels = *label_path;
  }
  if (const ast::Arg* label = keyword(call, "label")) {
    if (label->value->kind != ast::Expr::Kind::String) {
      sink.error(label->value->location,
                 "label is a column name in double quotes, found '" + ast::to_string(*label->value) + "'");
      ok = false;
    } else {
      b.label_column = label->value->text;
    }
  }
  if (const ast::Arg* columns = keyword(call, "columns")) {
    if (columns->value->kind != ast::Expr::Kind::List || columns->value->args.empty()) {
      sink.error(columns->value->location, "columns is a list of column names, like [\"a\", \"b\"], found '" +
                                               ast::to_string(*columns->value) + "'");
      ok = false;
    } else {
      for (const ast::Arg& e : columns->value->args) {
        if (e.value->kind != ast::Expr::Kind::String) {
          sink.error(e.value->location,
                     "a column name is a string in double quotes, found '" + ast::to_string(*e.value) + "'");
          ok = false;
        } else {
          b.columns.push_back(e.value->text);
        }
      }
    }
  }
  if (const ast::Arg* size = keyword(call, "size")) {
    const ast::Expr& list = *size->value;
    if (list.kind != ast::Expr::Kind::List || (list.args.size() != 3 && list.args.size() != 1)) {
      sink.error(list.location,
                 "size is [C, H, W] (or [C] inside patches), found '" + ast::to_string(list) + "'");
      ok = false;
    } else {
      for (size_t i = 0; i < list.args.size(); ++i) {
        auto v = whole(list.args[i], i == 0 ? "the channels" : "an image side", 1, i == 0 ? 3 : 8192, sink);
        ok = ok && v;
        if (v) b.size.push_back(*v);
      }
      if (ok && b.size[0] == 2) {
        sink.error(list.args[0].value->location, "images have 1 (gray) or 3 (RGB) channels, found 2");
        ok = false;
      }
    }
  }
  if (const ast::Arg* resize = keyword(call, "resize")) {
    auto v = flag_value(*resize->value, "'resize'", sink);
    ok = ok && v;
    if (v) b.resize = *v != 0;
  }
  if (const ast::Arg* header = keyword(call, "header")) {
    auto v = flag_value(*header->value, "'header'", sink);
    ok = ok && v;
    if (v) b.header = *v != 0;
  }
  if (const ast::Arg* scale = keyword(call, "scale")) {
    auto v = constant_value(*scale->value, sink);
    ok = ok && v;
    if (v) b.scale = *v;
  }
  for (const char* field : {"skip", "count"}) {
    const ast::Arg* arg = keyword(call, field);
    if (!arg) continue;
    auto v = whole(*arg, field, 0, 1e12, sink);
    ok = ok && v;
    if (v) (std::string(field) == "skip" ? b.skip : b.count) = *v;
  }
  return ok;
}

bool lower_step(const ast::Expr& call, DiagnosticSink& sink, DataStep& step) {
  step.location = call.location;
  const std::string& kind = call.text;
  std::vector<std::string> keys;
  if (kind == "patches") {
    step.kind = DataStep::Kind::Patches;
    keys = {"size", "count", "seed", "mean", "zca"};
  } else if (kind == "split") {
    step.kind = DataStep::Kind::Split;
    keys = {"valid", "seed", "stratify", "part"};
  } else if (kind == "subset") {
    step.kind = DataStep::Kind::Subset;
    keys = {"n", "balanced", "seed", "classes", "relabel"};
  } else {
    step.kind = kind == "standardize" ? DataStep::Kind::Standardize : DataStep::Kind::MinMax;
  }
  if (!check_arguments(call, 1, keys, sink)) return false;
  bool ok = true;
  for (const ast::Arg& arg : call.args) {
    if (arg.keyword.empty()) continue;
    const std::string what = "'" + arg.keyword + "' of " + kind;
    if (arg.keyword == "valid") {
      auto v = constant_value(*arg.value, sink);
      if (v && !(*v > 0 && *v < 1))
        sink.error(arg.value->location, what + " is a fraction in (0, 1), found " + number_text(*v));
      ok = ok && v && *v > 0 && *v < 1;
      if (v) step.valid = *v;
    } else if (arg.keyword == "seed") {
      auto v = whole(arg, what, 0, 1e15, sink);
      ok = ok && v;
      if (v) step.seed = uint64_t(*v);
    } else if (kind == "patches" && (arg.keyword == "size" || arg.keyword == "count")) {
      auto v = whole(arg, what, arg.keyword == "size" ? 2 : 1, arg.keyword == "size" ? 256 : 67108864, sink);
      ok = ok && v;
      if (v) (arg.keyword == "size" ? step.patch_size : step.patch_count) = *v;
    } else if (arg.keyword == "zca") {
      auto v = constant_value(*arg.value, sink);
      if (v && !(*v >= 0))
        sink.error(arg.value->location,
                   what + " is the whitening's epsilon, >= 0 (0: off), found " + number_text(*v));
      ok = ok && v && *v >= 0;
      if (v) step.zca = *v;
    } else if (arg.keyword == "n") {
      auto v = whole(arg, what, 0, 1e12, sink);
      ok = ok && v;
      if (v) step.n = *v;
    } else if (arg.keyword == "part") {
      const bool good = arg.value->kind == ast::Expr::Kind::String &&
                        (arg.value->text == "train" || arg.value->text == "valid");
      if (!good)
        sink.error(arg.value->location,
                   what + " is \"train\" or \"valid\", found '" + ast::to_string(*arg.value) + "'");
      ok = ok && good;
      step.valid_part = good && arg.value->text == "valid";
    } else if (arg.keyword == "classes") {
      if (arg.value->kind != ast::Expr::Kind::List || arg.value->args.empty()) {
        sink.error(arg.value->location, what + " is a list of class indices, like [5, 6, 7], found '" +
                                            ast::to_string(*arg.value) + "'");
        ok = false;
        continue;
      }
      for (const ast::Arg& e : arg.value->args) {
        auto c = whole(e, "a class", 0, 1e6, sink);
        ok = ok && c;
        if (!c) continue;
        if (std::count(step.classes.begin(), step.classes.end(), int32_t(*c))) {
          sink.error(e.value->location, "class " + std::to_string(*c) + " is listed twice");
          ok = false;
        }
        step.classes.push_back(int32_t(*c));
      }
    } else if (arg.keyword == "mean") {
      auto v = flag_value(*arg.value, what, sink);
      ok = ok && v;
      if (v) step.remove_mean = *v != 0;
    } else {  // flags: stratify, balanced, relabel
      auto v = flag_value(*arg.value, what, sink);
      ok = ok && v;
      if (!v) continue;
      (arg.keyword == "stratify"   ? step.stratify
       : arg.keyword == "balanced" ? step.balanced
                                   : step.relabel) = *v != 0;
    }
  }
  return ok;
}

// Steps wrap their data: split(subset(csv(...))) applies subset first. Collected innermost first.
bool lower_data_expr(const ast::Expr& e, DiagnosticSink& sink, DataBinding& b, int depth) {
  if (e.kind != ast::Expr::Kind::Call) {
    sink.error(e.location, usage() + ", found '" + ast::to_string(e) + "'");
    return false;
  }
  if (std::count(kSources.begin(), kSources.end(), e.text)) return lower_source(e, sink, b);
  if (!std::count(kSteps.begin(), kSteps.end(), e.text)) {
    std::vector<std::string> all = kSources;
    all.insert(all.end(), kSteps.begin(), kSteps.end());
    sink.error(e.location,
               "unknown data reader '" + e.text + "'" + did_you_mean(e.text, all) + "; " + usage());
    return false;
  }
  const ast::Arg* inner = positional(e, 0);
  if (!inner) {
    sink.error(e.location,
               e.text + " needs the data it works on first: " + e.text + "(csv(\"table.csv\"), ...)");
    return false;
  }
  if (depth > 16) {
    sink.error(e.location, "data steps are nested more than 16 deep");
    return false;
  }
  if (!lower_data_expr(*inner->value, sink, b, depth + 1)) return false;
  if ((e.text == "patches") != (b.format == "images" && b.steps.empty() && e.text == "patches")) {
    sink.error(
        e.location,
        "patches(...) cuts patches from images(\"folder\") directly: patches(images(...), size=12, count=N)");
    return false;
  }
  DataStep step;
  if (!lower_step(e, sink, step)) return false;
  if (b.transform() && (step.kind == DataStep::Kind::Standardize || step.kind == DataStep::Kind::MinMax)) {
    sink.error(e.location, "the data already has a per-feature transform (" +
                               std::string(b.transform()->kind == DataStep::Kind::Standardize ? "standardize"
                                                                                              : "minmax") +
                               "); use one");
    return false;
  }
  if (b.transform()) {
    sink.error(e.location, e.text + " must come before (inside) standardize/minmax, which is the last step");
    return false;
  }
  b.steps.push_back(step);
  return true;
}

// The data keys `--set` accepts after `data.NAME.`.
const std::vector<std::string> kSettingFields = {"skip",        "count",           "subset.n",
                                                 "subset.seed", "subset.balanced", "split.valid",
                                                 "split.seed",  "split.stratify"};

}  // namespace

std::optional<DataBinding> lower_data_binding(const ast::Statement& s, DiagnosticSink& sink) {
  DataBinding b;
  b.name = s.name;
  b.location = s.name_location;
  if (!lower_data_expr(*s.value, sink, b, 0)) return std::nullopt;
  const bool patches = !b.steps.empty() && b.steps[0].kind == DataStep::Kind::Patches;
  if (b.format == "images" && !patches && b.size.size() != 3) {
    sink.error(s.value->location, "images(\"folder\") needs size=[C, H, W], the shape every image is given");
    return std::nullopt;
  }
  if (patches && b.size.size() > 1) {
    sink.error(s.value->location,
               "inside patches(...), images() takes size=[C] (the channels): the patch size "
               "is patches' own size=");
    return std::nullopt;
  }
  return b;
}

std::optional<DataSetting> data_setting(const std::string& assignment) {
  if (assignment.rfind("data.", 0) != 0) return std::nullopt;
  const SourceLocation where{"--set " + assignment, 0, 0};
  const std::string expected =
      "expected data.NAME.FIELD=VALUE with FIELD one of skip, count, subset.n, subset.seed, subset.balanced, "
      "split.valid, split.seed, split.stratify (like data.train.count=100)";
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos) throw Error(where, expected);
  const std::string key = assignment.substr(5, eq - 5);
  DataSetting d;
  for (const std::string& field : kSettingFields)
    if (key.size() > field.size() + 1 && key.compare(key.size() - field.size(), field.size(), field) == 0 &&
        key[key.size() - field.size() - 1] == '.') {
      d.field = field;
      d.binding = key.substr(0, key.size() - field.size() - 1);
    }
  if (d.field.empty()) throw Error(where, expected);
  const std::string text = assignment.substr(eq + 1);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v)) throw Error(where, "'" + text + "' is not a number");
  if (d.field == "split.valid") {
    if (!(v > 0 && v < 1)) throw Error(where, "split.valid is a fraction in (0, 1), found '" + text + "'");
  } else if (d.field == "subset.balanced" || d.field == "split.stratify") {
    if (v != 0 && v != 1) throw Error(where, d.field + " must be 0 or 1, found '" + text + "'");
  } else if (!(v >= 0 && v <= 1e12) || v != std::floor(v)) {
    throw Error(where, d.field + " must be a whole number >= 0, found '" + text + "'");
  }
  d.value = v;
  return d;
}

void apply_setting(Graph& graph, const std::string& assignment) {
  const std::optional<DataSetting> d = data_setting(assignment);
  if (!d) return apply_setting(graph.train, assignment);
  const SourceLocation where{"--set " + assignment, 0, 0};
  std::vector<std::string> names;
  for (DataBinding& b : graph.data) {
    names.push_back(b.name);
    if (b.name != d->binding) continue;
    if (d->field == "skip" || d->field == "count") {
      (d->field == "skip" ? b.skip : b.count) = int64_t(d->value);
      return;
    }
    const bool subset = d->field.rfind("subset.", 0) == 0;
    const std::string leaf = d->field.substr(d->field.find('.') + 1);
    bool found = false;
    for (DataStep& step : b.steps) {
      if (step.kind != (subset ? DataStep::Kind::Subset : DataStep::Kind::Split)) continue;
      found = true;
      if (leaf == "n") step.n = int64_t(d->value);
      if (leaf == "seed") step.seed = uint64_t(d->value);
      if (leaf == "balanced") step.balanced = d->value != 0;
      if (leaf == "valid") step.valid = d->value;
      if (leaf == "stratify") step.stratify = d->value != 0;
    }
    if (!found)
      throw Error(where, "data '" + b.name + "' has no " + (subset ? "subset" : "split") +
                             "(...) step: " + b.describe());
    return;
  }
  throw Error(where, "the graph has no data '" + d->binding + "'" + did_you_mean(d->binding, names));
}

const DataStep* DataBinding::transform() const {
  for (const DataStep& s : steps)
    if (s.kind == DataStep::Kind::Standardize || s.kind == DataStep::Kind::MinMax) return &s;
  return nullptr;
}

std::string DataBinding::describe() const {
  auto quote = [](const std::string& s) { return "\"" + s + "\""; };
  std::string out = format + "(" + quote(images);
  if (!labels.empty()) out += ", labels=" + quote(labels);
  if (!label_column.empty()) out += ", label=" + quote(label_column);
  if (!size.empty()) {
    out += ", size=[";
    for (size_t i = 0; i < size.size(); ++i) out += (i ? ", " : "") + std::to_string(size[i]);
    out += "]";
  }
  if (resize) out += ", resize=1";
  if (!columns.empty()) {
    out += ", columns=[";
    for (size_t i = 0; i < columns.size(); ++i) out += (i ? ", " : "") + quote(columns[i]);
    out += "]";
  }
  if (!header) out += ", header=0";
  if (scale != 1) out += ", scale=" + number_text(scale);
  out += ", skip=" + std::to_string(skip) + ", count=" + std::to_string(count) + ")";
  for (const DataStep& s : steps) {
    switch (s.kind) {
      case DataStep::Kind::Patches:
        out += " |> patches(size=" + std::to_string(s.patch_size) +
               ", count=" + std::to_string(s.patch_count) + ", seed=" + std::to_string(s.seed) +
               ", mean=" + (s.remove_mean ? "1" : "0") + ", zca=" + number_text(s.zca) + ")";
        break;
      case DataStep::Kind::Split:
        out += " |> split(valid=" + number_text(s.valid) + ", seed=" + std::to_string(s.seed) +
               ", stratify=" + (s.stratify ? "1" : "0") +
               ", part=" + (s.valid_part ? "\"valid\"" : "\"train\"") + ")";
        break;
      case DataStep::Kind::Subset: {
        out += " |> subset(n=" + std::to_string(s.n) + ", balanced=" + (s.balanced ? "1" : "0") +
               ", seed=" + std::to_string(s.seed);
        if (!s.classes.empty()) {
          out += ", classes=[";
          for (size_t i = 0; i < s.classes.size(); ++i) out += (i ? ", " : "") + std::to_string(s.classes[i]);
          out += std::string("], relabel=") + (s.relabel ? "1" : "0");
        }
        out += ")";
        break;
      }
      case DataStep::Kind::Standardize:
        out += " |> standardize()";
        break;
      case DataStep::Kind::MinMax:
        out += " |> minmax()";
        break;
    }
  }
  return out;
}

}  // namespace hg
