// Dataset construction from data bindings: the readers in data/, the binding's slice and steps, and the
// bookkeeping that carries transform statistics from the training data into checkpoints and back.
#include "runtime/data_load.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

namespace hg {

std::string default_data_dir() {
  const char* env = std::getenv("HOURGLASS_DATA");
  return env && *env ? env : "data";
}

static const DataBinding& find_binding(const Graph& graph, const std::string& name) {
  const DataBinding* b = graph.binding(name);
  if (!b) {
    std::vector<std::string> names;
    for (const DataBinding& d : graph.data) names.push_back(d.name);
    throw Error({graph.file, 0, 0}, "the graph has no data '" + name + "': add `data " + name +
                                        " = idx(\"...\")`" + did_you_mean(name, names));
  }
  return *b;
}

static const char* transform_name(DataStep::Kind kind) {
  return kind == DataStep::Kind::Standardize ? "standardize" : "minmax";
}

// The usual cause of a missing file is the data folder, not the graph, so the error says where the path was
// looked for and how to point elsewhere; it sits at the graph line that names the file.
static void check_files_exist(const DataBinding& b, const std::string& data_dir) {
  auto resolve = [&](const std::string& p) { return p.empty() || p[0] == '/' ? p : data_dir + "/" + p; };
  for (const std::string* path : {&b.images, &b.labels}) {
    std::error_code ec;
    if (path->empty() || std::filesystem::exists(resolve(*path), ec)) continue;
    Diagnostic missing;
    missing.where = b.location;
    missing.message = "data '" + b.name + "': no file '" + resolve(*path) + "'";
    Diagnostic how;
    how.severity = Severity::Note;
    how.where = b.location;
    how.message = "'" + *path + "' is looked for in the data folder '" + data_dir +
                  "': choose it with --data-dir DIR or $HOURGLASS_DATA (default ./data); "
                  "scripts/fetch-data.sh fetches MNIST and Fashion-MNIST into ./data";
    missing.notes.push_back(how);
    throw Error({missing});
  }
}

// The binding's reader on its files, `count` samples after its skip.
static Dataset read_source(const DataBinding& b, const std::string& data_dir, int64_t count) {
  auto resolve = [&](const std::string& p) { return p.empty() || p[0] == '/' ? p : data_dir + "/" + p; };
  Dataset data;
  if (b.format == "npy") {
    data = read_npy(NpyOptions{resolve(b.images), resolve(b.labels), float(b.scale), count, b.skip});
  } else if (b.format == "csv") {
    CsvOptions o;
    o.path = resolve(b.images);
    o.label_column = b.label_column;
    o.columns = b.columns;
    o.header = b.header;
    o.scale = float(b.scale);
    o.limit = count;
    o.skip = b.skip;
    data = read_csv(o);
  } else if (b.format == "images") {
    ImagesOptions o;
    o.folder = resolve(b.images);
    o.channels = b.size.empty() ? 1 : b.size[0];
    if (b.size.size() == 3) {
      o.height = b.size[1];
      o.width = b.size[2];
    }
    o.resize = b.resize;
    o.scale = float(b.scale);
    o.limit = count;
    o.skip = b.skip;
    if (!b.steps.empty() && b.steps[0].kind == DataStep::Kind::Patches) {
      const DataStep& s = b.steps[0];
      PatchOptions p;
      p.size = s.patch_size;
      p.count = s.patch_count;
      p.seed = s.seed;
      p.remove_mean = s.remove_mean;
      p.zca_epsilon = s.zca;
      data = read_patches(o, p);
    } else {
      data = read_images(o);
    }
  } else {
    data = read_idx(IdxOptions{resolve(b.images), resolve(b.labels), float(b.scale), count, b.skip});
  }
  return data;
}

// The source with its slice and every step but the transform. A reader that the memory budget refuses
// names its file; the note adds the graph line that asked for it, and how to ask for less.
static Dataset load_untransformed(const DataBinding& b, const std::string& data_dir, int64_t limit) {
  check_files_exist(b, data_dir);
  // --limit trims whatever slice the binding (or --set data.NAME.count) asked for.
  const int64_t count = b.count > 0 && limit > 0 ? std::min(b.count, limit) : std::max(b.count, limit);
  Dataset data;
  try {
    data = read_source(b, data_dir, count);
  } catch (const MemoryError& e) {
    std::vector<Diagnostic> diagnostics = e.diagnostics();
    Diagnostic note;
    note.severity = Severity::Note;
    note.where = b.location;
    note.message = "data '" + b.name + "' reads it here; --limit N or --set data." + b.name +
                   ".count=N reads fewer samples";
    diagnostics.front().notes.push_back(note);
    throw MemoryError(diagnostics);
  }
  for (const DataStep& step : b.steps) {
    try {
      if (step.kind == DataStep::Kind::Split) {
        data = select(std::move(data),
                      split_positions(data, step.valid, step.seed, step.stratify, step.valid_part));
      } else if (step.kind == DataStep::Kind::Subset) {
        data =
            select(std::move(data), subset_positions(data, step.n, step.balanced, step.seed, step.classes));
        if (step.relabel && !step.classes.empty()) relabel(data, step.classes);
      }
    } catch (const Error& e) {  // a step's problem is the graph's: point at the step, name the file
      throw Error(step.location,
                  e.diagnostics().front().where.str() + ": " + e.diagnostics().front().message);
    }
  }
  return data;
}

Dataset load_data(const Graph& graph, const std::string& name, const std::string& data_dir, int64_t limit) {
  const DataBinding& b = find_binding(graph, name);
  Dataset data = load_untransformed(b, data_dir, limit);
  const DataStep* transform = b.transform();
  if (!transform) return data;
  if (!b.offset.empty()) {
    if (int64_t(b.offset.size()) != data.features())
      throw Error(transform->location, "the " + std::string(transform_name(transform->kind)) +
                                           " statistics have " + std::to_string(b.offset.size()) +
                                           " features, but the data has " + std::to_string(data.features()));
    data.offset = b.offset;
    data.multiplier = b.multiplier;
    return data;
  }
  // Statistics come from the training data alone, whichever binding is being read.
  const DataBinding* train = graph.binding("train");
  if (!train || !train->transform() || train->transform()->kind != transform->kind)
    throw Error(transform->location,
                std::string(transform_name(transform->kind)) +
                    " takes its statistics from the training data, so `data train = ...` must use " +
                    transform_name(transform->kind) + "(...) too");
  const Dataset source = name == "train" ? Dataset() : load_untransformed(*train, data_dir, limit);
  const Dataset& stats_of = name == "train" ? data : source;
  if (stats_of.features() != data.features())
    throw Error(transform->location, "the training data has " + std::to_string(stats_of.features()) +
                                         " features, this data " + std::to_string(data.features()));
  if (transform->kind == DataStep::Kind::Standardize)
    compute_standardize(stats_of, data.offset, data.multiplier);
  else
    compute_minmax(stats_of, data.offset, data.multiplier);
  return data;
}

void apply_limit(Graph& graph, int64_t limit) {
  if (limit <= 0) return;
  for (DataBinding& b : graph.data) b.count = b.count > 0 ? std::min(b.count, limit) : limit;
}

void keep_transform(Graph& graph, const Dataset& train) {
  const DataBinding* t = graph.binding("train");
  if (!t || !t->transform() || train.offset.empty()) return;
  const DataStep::Kind kind = t->transform()->kind;
  for (DataBinding& b : graph.data)
    if (b.transform() && b.transform()->kind == kind) {
      b.offset = train.offset;
      b.multiplier = train.multiplier;
    }
}

std::string describe_training_data(const Graph& graph) {
  const DataBinding* b = graph.binding("train");
  if (!b) return "";
  if (b->format == "idx" && b->steps.empty())
    return "skip=" + std::to_string(b->skip) + " count=" + std::to_string(b->count);
  return b->describe();
}

std::string transform_metadata(const Graph& graph) {
  const DataBinding* b = graph.binding("train");
  if (!b || !b->transform() || b->offset.empty()) return "";
  nlohmann::json j = {
      {"kind", transform_name(b->transform()->kind)}, {"offset", b->offset}, {"multiplier", b->multiplier}};
  return j.dump();
}

void restore_transform(Graph& graph, const std::string& metadata, const std::string& checkpoint) {
  bool wanted = false;
  for (const DataBinding& b : graph.data) wanted = wanted || b.transform();
  if (!wanted) return;
  const SourceLocation where{checkpoint, 0, 0};
  if (metadata.empty())
    throw Error(where,
                "the graph's data uses a per-feature transform, but the checkpoint holds no statistics "
                "(data_transform) for it: train it with a graph that uses the same transform");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(metadata);
    const std::string kind = j.at("kind").get<std::string>();
    std::vector<float> offset = j.at("offset").get<std::vector<float>>();
    std::vector<float> multiplier = j.at("multiplier").get<std::vector<float>>();
    if (offset.size() != multiplier.size())
      throw Error(where, "data_transform's offset and multiplier differ in size");
    for (DataBinding& b : graph.data) {
      if (!b.transform()) continue;
      if (kind != transform_name(b.transform()->kind))
        throw Error(b.transform()->location, "the checkpoint '" + checkpoint + "' was trained with " + kind +
                                                 ", but this data uses " +
                                                 transform_name(b.transform()->kind));
      b.offset = offset;
      b.multiplier = multiplier;
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(where, std::string("data_transform in the metadata is malformed: ") + e.what());
  }
}

}  // namespace hg
