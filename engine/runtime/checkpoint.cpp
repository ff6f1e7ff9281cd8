// safetensors reading and writing.
#include "runtime/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace hg {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "checkpoints are written as raw little-endian floats");

static void write_all(int fd, const void* data, size_t size, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error({path, 0, 0}, "cannot write checkpoint: " + std::string(std::strerror(errno)));
    p += n;
    size -= size_t(n);
  }
}

void save_checkpoint(const std::string& path, Model& model,
                     const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header;
  nlohmann::ordered_json meta = {
      {"format", "hourglass"}, {"graph_hash", model.graph.source_hash}, {"graph_file", model.graph.file}};
  std::string terms;
  for (NodeId t : model.terms()) {
    const TermRef& ref = *model.graph.node(t).term;
    terms += (terms.empty() ? "" : ",") + ref.full_name + "@" + ref.plugin_version;
  }
  meta["terms"] = terms;
  for (const auto& [k, v] : metadata) meta[k] = v;
  header["__metadata__"] = meta;
  int64_t offset = 0;
  for (const ParameterSlot& s : model.parameters.slots()) {
    header[s.name] = {{"dtype", "F32"}, {"shape", s.dims}, {"data_offsets", {offset, offset + s.count * 4}}};
    offset += s.count * 4;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the spec allows trailing spaces; keeps tensors aligned
  const uint64_t length = text.size();
  std::filesystem::path target(path);
  if (target.has_parent_path()) std::filesystem::create_directories(target.parent_path());
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw Error({path, 0, 0}, "cannot write checkpoint: " + std::string(std::strerror(errno)));
  try {
    write_all(fd, &length, 8, path);
    write_all(fd, text.data(), text.size(), path);
    for (const ParameterSlot& s : model.parameters.slots())
      write_all(fd, model.parameters.values() + s.offset, size_t(s.count) * 4, path);
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
}

std::map<std::string, std::string> load_checkpoint(const std::string& path, Model& model) {
  const SourceLocation where{path, 0, 0};
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(where, "cannot read checkpoint: " + std::string(std::strerror(errno)));
  in.seekg(0, std::ios::end);
  const uint64_t file_size = uint64_t(in.tellg());
  in.seekg(0);
  uint64_t length = 0;
  if (file_size < 8 || !in.read(reinterpret_cast<char*>(&length), 8))
    throw Error(where, "not a safetensors file: shorter than its 8-byte header length");
  if (length > file_size - 8)
    throw Error(where, "truncated: header length " + std::to_string(length) + " exceeds the file");
  std::string text(length, '\0');
  in.read(text.data(), std::streamsize(length));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(where, std::string("corrupt safetensors header: ") + e.what());
  }
  if (!header.is_object()) throw Error(where, "corrupt safetensors header: not a JSON object");
  const uint64_t data_size = file_size - 8 - length;
  for (const ParameterSlot& s : model.parameters.slots()) {
    auto it = header.find(s.name);
    if (it == header.end())
      throw Error(where, "checkpoint has no tensor '" + s.name + "' that the graph needs");
    try {
      const std::vector<int64_t> shape = (*it).at("shape").get<std::vector<int64_t>>();
      const std::string dtype = (*it).at("dtype").get<std::string>();
      const std::vector<uint64_t> range = (*it).at("data_offsets").get<std::vector<uint64_t>>();
      if (dtype != "F32") throw Error(where, "tensor '" + s.name + "' is " + dtype + ", expected F32");
      if (shape != s.dims)
        throw Error(where, "tensor '" + s.name + "' is " + shape_string(shape) + ", the graph's is " +
                               shape_string(s.dims));
      if (range.size() != 2 || range[1] < range[0] || range[1] - range[0] != uint64_t(s.count) * 4 ||
          range[1] > data_size)
        throw Error(where, "tensor '" + s.name + "' has data offsets outside the file or of the wrong size");
      in.seekg(std::streamoff(8 + length + range[0]));
      if (!in.read(reinterpret_cast<char*>(model.parameters.values() + s.offset),
                   std::streamsize(s.count * 4)))
        throw Error(where, "truncated while reading tensor '" + s.name + "'");
    } catch (const nlohmann::json::exception& e) {
      throw Error(where, "corrupt entry for tensor '" + s.name + "': " + e.what());
    }
  }
  std::map<std::string, std::string> metadata;
  if (auto it = header.find("__metadata__"); it != header.end() && it->is_object())
    for (auto& [k, v] : it->items())
      if (v.is_string()) metadata[k] = v.get<std::string>();
  return metadata;
}

}  // namespace hg
