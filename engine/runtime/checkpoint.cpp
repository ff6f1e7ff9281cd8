// What hourglass keeps in a safetensors checkpoint (the training state that rides along with the tensors),
// and the policy for continuing a run from one (--resume) or writing over one (a fresh run's --out).
#include "runtime/checkpoint.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

namespace hg {

namespace {

const char* const kOptimizerPrefix = "__optimizer__.";

std::string quoted(const std::string& s) {
  return "'" + s + "'";
}

// The shortest of %.15g and %.17g that reads back as the same double ("0.9", not "0.90000000000000002").
std::string number(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.15g", v);
  if (std::strtod(buffer, nullptr) != v) std::snprintf(buffer, sizeof buffer, "%.17g", v);
  return buffer;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

std::vector<std::string> frozen_names(const Model& model) {
  std::vector<std::string> names;
  for (const ParameterSlot& s : model.parameters.slots())
    if (!s.trainable && !s.buffer) names.push_back(s.name);  // buffers are never trained, not frozen
  return names;
}

// Every plugin term and corruption: name, plugin version, parameter values by name, and objective weight.
std::string describe_terms(const Model& model) {
  const Graph& g = model.graph;
  const Node& objective = g.node(g.objective);
  nlohmann::ordered_json terms = nlohmann::ordered_json::array();
  for (NodeId id = 0; id < NodeId(g.nodes.size()); ++id) {
    const Node& n = g.node(id);
    if (!n.is(OpRole::Term) && !n.is(OpRole::Corrupt)) continue;
    const auto& attributes = n.attributes_as<TermAttributes>();
    const TermRef* ref = model.plugins.find(attributes.term);
    if (!ref) continue;
    nlohmann::ordered_json params = nlohmann::ordered_json::object();
    for (int32_t p = 0; p < ref->term->num_params && size_t(p) < attributes.parameters.size(); ++p)
      params[ref->term->params[p].name] = attributes.parameters[size_t(p)];
    nlohmann::ordered_json term = {
        {"node", n.name}, {"term", ref->full_name}, {"version", ref->plugin_version}, {"params", params}};
    for (size_t i = 0; i < objective.inputs.size(); ++i)
      if (objective.inputs[i] == id)
        term["weight"] = objective.attributes_as<ObjectiveAttributes>().weights[i];
    terms.push_back(term);
  }
  return terms.dump();
}

std::map<std::string, std::string> training_metadata(const Model& model) {
  const TrainSettings& t = model.graph.train;
  const OptimizerSettings& o = t.optimizer;
  return {{"format", "hourglass"},
          {"format_version", "1"},
          {"graph_hash", model.graph.source_hash},
          {"graph_file", model.graph.file},
          {"terms", describe_terms(model)},
          {"epoch", std::to_string(model.epoch)},
          {"epochs", std::to_string(t.epochs)},
          {"step", std::to_string(model.parameters.step)},
          {"seed", std::to_string(t.seed)},
          {"batch", std::to_string(t.batch)},
          {"train_slice", describe_training_data(model.graph)},  // runtime/data_load.h
          {"data_transform", transform_metadata(model.graph)},
          {"random_streams", kRandomStreams},
          {"optimizer", o.kind},
          {"optimizer.learning_rate", number(o.learning_rate)},
          {"optimizer.momentum", number(o.momentum)},
          {"optimizer.beta1", number(o.beta1)},
          {"optimizer.beta2", number(o.beta2)},
          {"optimizer.epsilon", number(o.epsilon)},
          {"schedule", describe(t.schedule)},
          {"frozen", join(frozen_names(model))}};
}

// A count of the checkpoint's metadata: only digits, and at most kMaxCheckpointCount, so that a damaged or
// hostile file cannot make the next epoch overflow (an epoch of 2^63-1 once trained forever).
int64_t parse_count(const CheckpointFile& file, const std::string& key) {
  const std::string text = file.metadata(key);
  const std::string shown = text.size() > 40 ? text.substr(0, 37) + "..." : text;
  const SourceLocation where{file.path(), 0, 0};
  const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  if (!digits)
    throw Error(where,
                "metadata '" + key + "' is '" + shown + "', not a count: the checkpoint cannot be resumed");
  if (text.size() > 19 || std::stoull(text) > uint64_t(kMaxCheckpointCount))  // 19 digits always fit
    throw Error(where, "metadata '" + key + "' is " + shown + ", more than the largest count a checkpoint " +
                           "may hold (" + std::to_string(kMaxCheckpointCount) +
                           "): the file is damaged and cannot be resumed");
  return int64_t(std::stoull(text));
}

}  // namespace

std::string optimizer_tensor_name(int which, const std::string& parameter) {
  return kOptimizerPrefix + std::string(which == 0 ? "state0." : "state1.") + parameter;
}

bool is_optimizer_tensor(const std::string& name) {
  return name.rfind(kOptimizerPrefix, 0) == 0;
}

void save_checkpoint(const std::string& path, Model& model,
                     const std::map<std::string, std::string>& metadata) {
  ParameterStore& store = model.parameters;
  std::vector<TensorToWrite> tensors;
  for (const ParameterSlot& s : store.slots())
    tensors.push_back({s.name, s.dims, store.values() + s.offset, s.count});
  for (int which = 0; which < optimizer_states(model.graph.train.optimizer); ++which)
    for (const ParameterSlot& s : store.slots())
      tensors.push_back(
          {optimizer_tensor_name(which, s.name), s.dims, store.state(which) + s.offset, s.count});
  std::map<std::string, std::string> merged = training_metadata(model);
  for (const auto& [k, v] : metadata) merged[k] = v;
  write_safetensors(path, {merged.begin(), merged.end()}, tensors);
}

std::map<std::string, std::string> load_checkpoint(const std::string& path, Model& model,
                                                   std::vector<std::string>* notes) {
  const CheckpointFile file(path);
  if (std::optional<std::string> note = file.verify_checksum(); note && notes) notes->push_back(*note);
  for (const ParameterSlot& s : model.parameters.slots())
    file.read(s.name, s.dims, model.parameters.values() + s.offset, "that the graph needs");
  model.parameters.values_changed();
  restore_transform(model.graph, file.metadata("data_transform"), path);  // eval/encode see the same features
  return file.metadata();
}

// Differences that would make the resumed run something else are errors; the rest become notes.
static std::vector<std::string> check_resumable(const CheckpointFile& file, const Model& model) {
  const SourceLocation where{file.path(), 0, 0};
  if (file.metadata("format") != "hourglass")
    throw Error(
        where,
        "not written by `hourglass train` (no training state in __metadata__), so it cannot be resumed; "
        "start from its weights with --init");
  const std::map<std::string, std::string> now = training_metadata(model);
  auto differs = [&](const std::string& key) { return file.metadata(key) != now.at(key); };
  if (differs("graph_hash"))
    throw Error(
        where,
        "was written by graph '" + file.metadata("graph_file") + "' with hash " +
            file.metadata("graph_hash") + ", but '" + model.graph.file + "' has hash " +
            now.at("graph_hash") +
            ": --resume continues the same graph file (start another graph from its weights with --init)");
  const char* fixed[][2] = {
      {"random_streams", "random streams"},   {"seed", "seed"},           {"batch", "batch"},
      {"train_slice", "training data slice"}, {"optimizer", "optimizer"}, {"frozen", "frozen parameters"}};
  for (const auto& [key, what] : fixed)
    if (differs(key) && !(key == std::string("train_slice") && file.metadata(key).empty()))  // older files
      throw Error(where,
                  std::string("the checkpoint's run used ") + what + " " + quoted(file.metadata(key)) +
                      ", this one " + quoted(now.at(key)) +
                      ": a resumed run must keep it (repeat the interrupted run's --set and --freeze flags)");
  std::vector<std::string> notes;
  for (const std::string key : {"optimizer.learning_rate", "optimizer.momentum", "optimizer.beta1",
                                "optimizer.beta2", "optimizer.epsilon", "terms"})
    if (differs(key))
      notes.push_back(key + " was " + file.metadata(key) + " and is now " + now.at(key) +
                      ": the run will not match an uninterrupted one");
  return notes;
}

std::vector<std::string> resume_checkpoint(const std::string& path, Model& model) {
  const CheckpointFile file(path);
  std::vector<std::string> notes = check_resumable(file, model);
  // Before anything is loaded, so that a damaged file changes nothing.
  if (std::optional<std::string> note = file.verify_checksum()) notes.push_back(*note);
  const int64_t step = parse_count(file, "step"), epoch = parse_count(file, "epoch");
  ParameterStore& store = model.parameters;
  for (const ParameterSlot& s : store.slots()) {
    file.read(s.name, s.dims, store.values() + s.offset, "that the graph needs");
    for (int which = 0; which < optimizer_states(model.graph.train.optimizer); ++which)
      file.read(optimizer_tensor_name(which, s.name), s.dims, store.state(which) + s.offset,
                "(optimizer state): it cannot be resumed; start from its weights with --init");
  }
  restore_transform(model.graph, file.metadata("data_transform"), path);
  store.step = step;
  store.values_changed();
  model.epoch = epoch;
  return notes;
}

std::string schedule_stretch_warning(const std::map<std::string, std::string>& metadata, const Model& model) {
  const TrainSettings& now = model.graph.train;
  const auto recorded = metadata.find("epochs");
  if (now.schedule.kind != "cosine" || recorded == metadata.end()) return "";
  const std::string& text = recorded->second;
  if (text.empty() || text.size() > 15 || text.find_first_not_of("0123456789") != std::string::npos)
    return "";
  const int64_t planned = std::stoll(text), step = model.parameters.step, epoch = model.epoch;
  if (planned == now.epochs || epoch <= 0 || step <= 0 || now.epochs <= epoch)
    return "";  // or nothing to train
  // Checkpoints are written at epoch boundaries, and the batch and training slice must match, so the run's
  // steps per epoch are the checkpoint's.
  const int64_t steps_per_epoch = step / epoch;
  TrainSettings then = now;
  then.epochs = planned;
  const double before = scheduled_learning_rate(then, step, steps_per_epoch);
  const double after = scheduled_learning_rate(now, step, steps_per_epoch);
  auto rate = [](double lr) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.4g", lr);
    return std::string(buffer);
  };
  auto epochs = [](int64_t n) { return std::to_string(n) + (n == 1 ? " epoch" : " epochs"); };
  return "the checkpoint's run planned " + epochs(planned) + " and this one " + epochs(now.epochs) +
         ", and the cosine schedule spans a run's epochs: at the resume point (after epoch " +
         std::to_string(epoch) + ", step " + std::to_string(step) + ") the learning rate " +
         (after > before ? "jumps back up" : "drops") + " from " + rate(before) + " to " + rate(after) +
         ", and then falls to " + rate(now.schedule.min) + " by epoch " + std::to_string(now.epochs) +
         " instead of following the checkpoint's curve" +
         (epoch < planned ? " (--set epochs=" + std::to_string(planned) + " keeps to it)" : "");
}

std::string check_fresh_output(const std::string& out, const Model& model) {
  std::error_code ec;
  if (!std::filesystem::exists(out, ec)) return "";
  const SourceLocation where{out, 0, 0};
  const std::string keep = "write this run elsewhere with --out, or overwrite it with --force";
  std::optional<CheckpointFile> file;
  try {
    file.emplace(out);
  } catch (const Error& e) {
    throw Error(where, "--out names a file that is not a readable checkpoint (" + e.diagnostics()[0].message +
                           "): " + keep);
  }
  if (file->metadata("format") != "hourglass")
    throw Error(where, "--out names a safetensors file that `hourglass train` did not write: " + keep);
  const std::map<std::string, std::string> now = training_metadata(model);
  const std::string epoch = file->metadata("epoch");
  const char* identity[][2] = {
      {"graph_hash", "graph hash"},           {"seed", "seed"},           {"batch", "batch"},
      {"train_slice", "training data slice"}, {"optimizer", "optimizer"}, {"frozen", "frozen parameters"},
      {"random_streams", "random streams"}};
  for (const auto& [key, what] : identity)
    if (file->metadata(key) != now.at(key)) {
      const std::string graph = file->metadata("graph_file");
      throw Error(where, "--out holds another run (" + (graph.empty() ? "" : "of '" + graph + "', ") +
                             "epoch " + epoch + "): its " + what + " is " + quoted(file->metadata(key)) +
                             ", this run's " + quoted(now.at(key)) + "; " + keep);
    }
  if (epoch.empty() || epoch == "0") return "";
  return "--out holds epoch " + epoch +
         " of this same run, which starting over replaces (to continue it "
         "instead, use --resume " +
         out + ")";
}

}  // namespace hg
