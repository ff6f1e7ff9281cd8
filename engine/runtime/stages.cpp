// Pipeline stages: kind names, fingerprints of a stage's inputs, and the stamps that record what a stage
// last ran with (the parser is stage_parser.cpp, the reference checks stage_references.cpp).
#include "runtime/stages.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "frontend/parser.h"
#include "ir/lower_util.h"

namespace hg {

const char* stage_kind_name(StageKind kind) {
  switch (kind) {
    case StageKind::Train:
      return "train";
    case StageKind::Eval:
      return "eval";
    case StageKind::Encode:
      return "encode";
    case StageKind::Summary:
      return "summary";
  }
  return "?";
}

std::string StageInputs::fingerprint() const {
  std::string all = graph_hash + '\n' + text + '\n' + flags + '\n';
  for (const auto& [name, print] : upstream) all += name + '=' + print + '\n';
  return fnv1a_hex(all);
}

std::string file_hash(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "missing";
  std::stringstream bytes;
  bytes << in.rdbuf();
  return fnv1a_hex(bytes.str());
}

std::string graph_text_hash(const std::string& path) {
  DiagnosticSink sink;
  const ast::Program program = parse_graph_file(path, sink);
  if (!sink.has_errors()) return fnv1a_hex(program.source_text);
  std::string errors;
  for (const Diagnostic& d : sink.diagnostics()) errors += d.str();
  return "error-" + fnv1a_hex(errors);
}

std::string stamp_path(const Stage& stage) {
  return stage.out + ".stamp";
}

std::optional<Stamp> read_stamp(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    Stamp stamp;
    stamp.complete = j.at("complete").get<bool>();
    stamp.inputs.graph_hash = j.at("graph_hash").get<std::string>();
    stamp.inputs.text = j.at("stage_text").get<std::string>();
    stamp.inputs.flags = j.at("flags").get<std::string>();
    stamp.seconds = j.value("seconds", 0.0);
    for (const auto& item : j.at("upstream"))
      stamp.inputs.upstream.emplace_back(item.at(0).get<std::string>(), item.at(1).get<std::string>());
    if (stamp.inputs.fingerprint() != j.at("fingerprint").get<std::string>()) return std::nullopt;
    return stamp;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;  // a damaged stamp only means the stage runs again
  }
}

void write_stamp(const std::string& path, const std::string& stage, const StageInputs& inputs, bool complete,
                 double seconds) {
  nlohmann::json upstream = nlohmann::json::array();
  for (const auto& [name, print] : inputs.upstream) upstream.push_back({name, print});
  const nlohmann::json j = {{"stage", stage},
                            {"fingerprint", inputs.fingerprint()},
                            {"complete", complete},
                            {"seconds", seconds},
                            {"graph_hash", inputs.graph_hash},
                            {"stage_text", inputs.text},
                            {"flags", inputs.flags},
                            {"upstream", upstream}};
  write_file_atomically(path, j.dump(2) + "\n");
}

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error({path, 0, 0}, std::string("cannot write: ") + std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      throw Error({path, 0, 0}, "cannot write: " + why);
    }
    done += size_t(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0)
    throw Error({path, 0, 0}, std::string("cannot write: ") + std::strerror(errno));
  if (std::rename(temporary.c_str(), path.c_str()) != 0)
    throw Error({path, 0, 0}, std::string("cannot replace: ") + std::strerror(errno));
  const std::string folder = std::filesystem::path(path).has_parent_path()
                                 ? std::filesystem::path(path).parent_path().string()
                                 : std::string(".");
  if (const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);  // the rename itself reaches the disk
    ::close(dir);
  }
}

std::string run_reason(const Stage& stage, const StageInputs& now, const std::optional<Stamp>& stamp,
                       bool output_exists, const std::vector<std::string>& rerun, bool force) {
  if (force) return "--force";
  if (!output_exists) return "no output yet";
  if (!stamp) return "no stamp from a finished run";
  for (const auto& [name, print] : now.upstream)
    if (std::find(rerun.begin(), rerun.end(), name) != rerun.end()) return "'" + name + "' reran";
  const StageInputs& then = stamp->inputs;
  if (then.text != now.text) return "stage '" + stage.name + "' changed";
  if (then.graph_hash != now.graph_hash) return "graph changed";
  if (then.flags != now.flags) return "run flags changed";
  if (then.upstream != now.upstream) {
    for (const auto& upstream : now.upstream) {  // a plain variable: clang 14 cannot capture a binding
      const auto was = std::find_if(then.upstream.begin(), then.upstream.end(),
                                    [&](const auto& u) { return u.first == upstream.first; });
      if (was == then.upstream.end() || was->second != upstream.second)
        return "'" + upstream.first + "' changed";
    }
    return "its inputs changed";
  }
  if (!stamp->complete) return "did not finish";
  return "";
}

}  // namespace hg
