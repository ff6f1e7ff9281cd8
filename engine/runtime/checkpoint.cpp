// safetensors reading (checked against the spec) and writing, and the training state that rides along.
#include "runtime/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace hg {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "checkpoints are written as raw little-endian floats");

namespace {

const char* const kOptimizerPrefix = "__optimizer__.";

std::string quoted(const std::string& s) {
  return "'" + s + "'";
}

// Bytes per element of every safetensors dtype; a dtype outside this table is an error.
int64_t dtype_size(const std::string& dtype) {
  static const std::map<std::string, int64_t> sizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"U16", 2}, {"I16", 2}, {"F16", 2},
      {"BF16", 2}, {"U32", 4}, {"I32", 4}, {"F32", 4},     {"U64", 8},     {"I64", 8}, {"F64", 8}};
  auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
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
    if (!s.trainable) names.push_back(s.name);
  return names;
}

// Every plugin term and corruption: name, plugin version, parameter values by name, and objective weight.
std::string describe_terms(const Model& model) {
  const Graph& g = model.graph;
  const Node& objective = g.node(g.objective);
  nlohmann::ordered_json terms = nlohmann::ordered_json::array();
  for (NodeId id = 0; id < NodeId(g.nodes.size()); ++id) {
    const Node& n = g.node(id);
    if ((n.op != OpKind::Term && n.op != OpKind::Corrupt) || !n.term) continue;
    nlohmann::ordered_json params = nlohmann::ordered_json::object();
    for (int32_t p = 0; p < n.term->term->num_params && size_t(p) < n.term_params.size(); ++p)
      params[n.term->term->params[p].name] = n.term_params[size_t(p)];
    nlohmann::ordered_json term = {{"node", n.name},
                                   {"term", n.term->full_name},
                                   {"version", n.term->plugin_version},
                                   {"params", params}};
    for (size_t i = 0; i < objective.inputs.size(); ++i)
      if (objective.inputs[i] == id) term["weight"] = objective.weights[i];
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

struct TensorToWrite {
  std::string name;
  const std::vector<int64_t>* dims;
  const float* data;
  int64_t count;
};

void write_all(int fd, const void* data, size_t size, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error({path, 0, 0}, "cannot write checkpoint: " + std::string(std::strerror(errno)));
    p += n;
    size -= size_t(n);
  }
}

// Temporary file, fsync, rename over the old one, fsync of the folder: a crash leaves the old or the new.
void write_atomically(const std::string& path, const std::string& header,
                      const std::vector<TensorToWrite>& tensors) {
  std::filesystem::path target(path);
  if (target.has_parent_path()) std::filesystem::create_directories(target.parent_path());
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw Error({path, 0, 0}, "cannot write checkpoint: " + std::string(std::strerror(errno)));
  try {
    const uint64_t length = header.size();
    write_all(fd, &length, 8, path);
    write_all(fd, header.data(), header.size(), path);
    for (const TensorToWrite& t : tensors) write_all(fd, t.data, size_t(t.count) * 4, path);
    if (::fsync(fd) != 0)
      throw Error({path, 0, 0}, "cannot sync checkpoint: " + std::string(std::strerror(errno)));
  } catch (...) {
    ::close(fd);
    ::unlink(temporary.c_str());
    throw;
  }
  ::close(fd);
  if (std::rename(temporary.c_str(), path.c_str()) != 0)
    throw Error({path, 0, 0}, "cannot replace checkpoint: " + std::string(std::strerror(errno)));
  const std::string folder = target.has_parent_path() ? target.parent_path().string() : ".";
  if (const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY); dir >= 0) {
    ::fsync(dir);  // makes the rename itself durable
    ::close(dir);
  }
}

int64_t parse_count(const CheckpointFile& file, const std::string& key) {
  const std::string text = file.metadata(key);
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || value < 0)
    throw Error({file.path(), 0, 0},
                "metadata '" + key + "' is '" + text + "', not a count: the checkpoint cannot be resumed");
  return value;
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
    tensors.push_back({s.name, &s.dims, store.values() + s.offset, s.count});
  for (int which = 0; which < optimizer_states(model.graph.train.optimizer); ++which)
    for (const ParameterSlot& s : store.slots())
      tensors.push_back(
          {optimizer_tensor_name(which, s.name), &s.dims, store.state(which) + s.offset, s.count});
  nlohmann::ordered_json header;
  nlohmann::ordered_json meta = nlohmann::ordered_json::object();
  for (const auto& [k, v] : training_metadata(model)) meta[k] = v;
  for (const auto& [k, v] : metadata) meta[k] = v;
  header["__metadata__"] = meta;
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    header[t.name] = {
        {"dtype", "F32"}, {"shape", *t.dims}, {"data_offsets", {offset, offset + uint64_t(t.count) * 4}}};
    offset += uint64_t(t.count) * 4;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the spec allows trailing spaces; keeps tensors aligned
  write_atomically(path, text, tensors);
}

// One header entry, checked on its own: known dtype, non-negative shape, offsets spanning exactly its bytes
// inside the data section.
static StoredTensor parse_entry(const std::string& name, const nlohmann::ordered_json& entry,
                                const SourceLocation& where, uint64_t data_size) {
  StoredTensor t;
  t.name = name;
  try {
    t.dtype = entry.at("dtype").get<std::string>();
    t.shape = entry.at("shape").get<std::vector<int64_t>>();
    const std::vector<uint64_t> range = entry.at("data_offsets").get<std::vector<uint64_t>>();
    if (range.size() != 2) throw Error(where, "tensor '" + name + "': data_offsets must be [begin, end]");
    t.begin = range[0];
    t.end = range[1];
  } catch (const nlohmann::json::exception& e) {
    throw Error(where, "corrupt entry for tensor '" + name + "': " + e.what());
  }
  const int64_t element = dtype_size(t.dtype);
  if (element == 0) throw Error(where, "tensor '" + name + "' has the unknown dtype '" + t.dtype + "'");
  uint64_t bytes = uint64_t(element);
  for (int64_t d : t.shape) {
    if (d < 0)
      throw Error(where, "tensor '" + name + "' has a negative dimension in " + shape_string(t.shape));
    if (__builtin_mul_overflow(bytes, uint64_t(d), &bytes)) bytes = UINT64_MAX;  // saturate; a 0 still zeroes
  }
  const std::string range = "[" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "]";
  if (t.end < t.begin || t.end - t.begin != bytes)
    throw Error(where, "tensor '" + name + "' is " + t.dtype + " " + shape_string(t.shape) + " (" +
                           std::to_string(bytes) + " bytes), but its data_offsets " + range +
                           " do not span that");
  if (t.end > data_size)
    throw Error(where, "tensor '" + name + "' has data_offsets " + range + " past the end of the data (" +
                           std::to_string(data_size) + " bytes): the file is truncated or corrupt");
  return t;
}

// The spec demands the data section be entirely indexed, without holes or overlaps.
static void check_tiling(const std::vector<StoredTensor>& tensors, const SourceLocation& where,
                         uint64_t data_size) {
  std::vector<const StoredTensor*> by_offset;
  for (const StoredTensor& t : tensors) by_offset.push_back(&t);
  std::stable_sort(by_offset.begin(), by_offset.end(),
                   [](const StoredTensor* a, const StoredTensor* b) { return a->begin < b->begin; });
  uint64_t covered = 0;
  for (const StoredTensor* t : by_offset) {
    if (t->begin != covered)
      throw Error(where, "tensor '" + t->name + "' starts at byte " + std::to_string(t->begin) +
                             " of the data, but the tensors before it end at " + std::to_string(covered) +
                             " (safetensors allows no gaps or overlaps)");
    covered = t->end;
  }
  if (covered != data_size)
    throw Error(where, "the tensors cover " + std::to_string(covered) + " bytes, but the data section has " +
                           std::to_string(data_size) + " (safetensors allows no trailing bytes)");
}

CheckpointFile::CheckpointFile(const std::string& path) : path_(path), in_(path, std::ios::binary) {
  const SourceLocation where{path, 0, 0};
  if (!in_) throw Error(where, "cannot read checkpoint: " + std::string(std::strerror(errno)));
  in_.seekg(0, std::ios::end);
  const uint64_t file_size = uint64_t(in_.tellg());
  in_.seekg(0);
  uint64_t length = 0;
  if (file_size < 8 || !in_.read(reinterpret_cast<char*>(&length), 8))
    throw Error(where, "not a safetensors file: shorter than its 8-byte header length");
  if (length > file_size - 8)
    throw Error(where, "truncated: header length " + std::to_string(length) + " exceeds the file (" +
                           std::to_string(file_size) + " bytes)");
  std::string text(length, '\0');
  in_.read(text.data(), std::streamsize(length));
  data_start_ = 8 + length;
  nlohmann::ordered_json header;
  try {
    header = nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(where, std::string("corrupt safetensors header: ") + e.what());
  }
  if (!header.is_object()) throw Error(where, "corrupt safetensors header: not a JSON object");
  for (auto& [name, entry] : header.items()) {
    if (name != "__metadata__") {
      tensors_.push_back(parse_entry(name, entry, where, file_size - data_start_));
      continue;
    }
    if (!entry.is_object()) throw Error(where, "corrupt safetensors header: __metadata__ is not an object");
    for (auto& [k, v] : entry.items()) {
      if (!v.is_string())
        throw Error(where, "corrupt safetensors header: __metadata__ value '" + k + "' is not a string");
      metadata_[k] = v.get<std::string>();
    }
  }
  check_tiling(tensors_, where, file_size - data_start_);
}

std::string CheckpointFile::metadata(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? std::string() : it->second;
}

const StoredTensor* CheckpointFile::find(const std::string& name) const {
  for (const StoredTensor& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

void CheckpointFile::read(const std::string& name, const std::vector<int64_t>& dims, float* dst,
                          const std::string& need) const {
  const SourceLocation where{path_, 0, 0};
  const StoredTensor* t = find(name);
  if (!t) throw Error(where, "checkpoint has no tensor '" + name + "' " + need);
  if (t->dtype != "F32") throw Error(where, "tensor '" + name + "' is " + t->dtype + ", expected F32");
  if (t->shape != dims)
    throw Error(where, "tensor '" + name + "' is " + shape_string(t->shape) + ", the graph's is " +
                           shape_string(dims));
  in_.clear();
  in_.seekg(std::streamoff(data_start_ + t->begin));
  if (!in_.read(reinterpret_cast<char*>(dst), std::streamsize(t->end - t->begin)))
    throw Error(where, "truncated while reading tensor '" + name + "'");
}

std::map<std::string, std::string> load_checkpoint(const std::string& path, Model& model) {
  const CheckpointFile file(path);
  for (const ParameterSlot& s : model.parameters.slots())
    file.read(s.name, s.dims, model.parameters.values() + s.offset, "that the graph needs");
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
  ParameterStore& store = model.parameters;
  for (const ParameterSlot& s : store.slots()) {
    file.read(s.name, s.dims, store.values() + s.offset, "that the graph needs");
    for (int which = 0; which < optimizer_states(model.graph.train.optimizer); ++which)
      file.read(optimizer_tensor_name(which, s.name), s.dims, store.state(which) + s.offset,
                "(optimizer state): it cannot be resumed; start from its weights with --init");
  }
  restore_transform(model.graph, file.metadata("data_transform"), path);
  store.step = parse_count(file, "step");
  model.epoch = parse_count(file, "epoch");
  return notes;
}

}  // namespace hg
