// `hourglass encode GRAPH --ckpt CKPT --node NAME --out FILE`: one node's activations for every sample of a
// dataset, in data order, as features for another model: CSV with the label first, .npy (numpy format 1.0,
// labels beside it in FILE-stem.labels.npy) or LibSVM ("label index:value", 1-based, zeros left out).
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common.h"
#include "runtime/checkpoint.h"

namespace hg::tools {
namespace {

enum class Format { Csv, Npy, Libsvm };

Format format_of(const std::string& given, const std::string& out) {
  std::string name = given;
  if (name.empty()) {
    const std::string extension = std::filesystem::path(out).extension().string();
    if (extension == ".csv") return Format::Csv;
    if (extension == ".npy") return Format::Npy;
    if (extension == ".svm" || extension == ".libsvm") return Format::Libsvm;
    throw po::error("cannot tell the format of '" + out +
                    "' from its extension (.csv, .npy, .svm, .libsvm); "
                    "give --format csv|npy|libsvm");
  }
  if (name == "csv") return Format::Csv;
  if (name == "npy") return Format::Npy;
  if (name == "libsvm" || name == "svm") return Format::Libsvm;
  throw po::error("unknown --format '" + name + "'" + did_you_mean(name, {"csv", "npy", "libsvm"}) +
                  "; use csv, npy or libsvm");
}

// numpy's .npy format 1.0: magic, version, header length (u16 LE), then a dict padded with spaces so that
// the data starts at a multiple of 64 bytes, ending in a newline.
std::string npy_header(const std::string& descr, const std::vector<int64_t>& shape) {
  std::string dims;
  for (int64_t d : shape) dims += std::to_string(d) + ", ";
  if (shape.size() > 1)
    dims.resize(dims.size() - 2);
  else
    dims.pop_back();  // "(3,)"
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  dict.append((64 - (10 + dict.size() + 1) % 64) % 64, ' ');
  dict += '\n';
  const size_t length = dict.size();
  return std::string("\x93NUMPY\x01\x00", 8) + char(length & 0xff) + char(length >> 8) + dict;
}

void write(FILE* f, const std::string& bytes) {
  std::fwrite(bytes.data(), 1, bytes.size(), f);
}

class Output {
 public:
  explicit Output(const std::string& path) : path_(path) {
    const std::filesystem::path p(path);
    if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
    file_ = std::fopen(path.c_str(), "wb");
    if (!file_) throw Error({path, 0, 0}, "cannot write features: " + std::string(std::strerror(errno)));
  }
  ~Output() {
    if (file_) std::fclose(file_);
  }
  FILE* get() { return file_; }
  void close() {
    const bool failed = std::ferror(file_) != 0;
    if (std::fclose(file_) != 0 || failed) {
      file_ = nullptr;
      throw Error({path_, 0, 0}, "cannot write features: " + std::string(std::strerror(errno)));
    }
    file_ = nullptr;
  }

 private:
  std::string path_;
  FILE* file_ = nullptr;
};

std::string labels_path(const std::string& out) {
  std::filesystem::path p(out);
  return (p.parent_path() / (p.stem().string() + ".labels.npy")).string();
}

}  // namespace

int verb_encode(const std::vector<std::string>& args) {
  CommonOptions common;
  std::string checkpoint, node_name, out, format, data = "test";
  po::options_description options("encode options");
  // clang-format off
  options.add_options()
      ("ckpt", po::value(&checkpoint)->value_name("CKPT")->required(), "checkpoint with the parameters (from train --out)")
      ("node", po::value(&node_name)->value_name("NAME")->required(), "the node whose activations to export, e.g. 'code'")
      ("out", po::value(&out)->value_name("FILE")->required(),
       "the features file: .csv, .npy (labels go to <stem>.labels.npy) or .svm/.libsvm")
      ("format", po::value(&format)->value_name("csv|npy|libsvm"), "the file format (default from the --out extension)")
      ("data", po::value(&data)->value_name("NAME"), "which data binding of the graph to encode, in order (default test)");
  // clang-format on
  add_common_options(options, common);
  std::string path;
  if (!parse_verb("encode", "GRAPH --ckpt CKPT --node NAME --out FILE [options]", options, args, path))
    return 0;
  const Format kind = format_of(format, out);
  auto threads = configure_threads(common.threads);
  Model model(path, model_options(common));
  const NodeId node = activation_node(model.graph, node_name, "--node '" + node_name + "'");
  load_checkpoint(checkpoint, model);
  const Dataset dataset = load_data(model.graph, data, data_dir(common), common.limit);
  const int64_t width = model.graph.node(node).elements_per_sample();
  const bool labelled = !dataset.labels.empty();
  Output file(out);
  FILE* f = file.get();
  if (kind == Format::Csv) {
    std::fputs(labelled ? "label" : "", f);
    for (int64_t i = 0; i < width; ++i) std::fprintf(f, "%sf%lld", i || labelled ? "," : "", (long long)i);
    std::fputc('\n', f);
  }
  if (kind == Format::Npy) write(f, npy_header("<f4", {dataset.count, width}));
  for_each_activation(model, dataset, node, model.graph.train.batch,
                      [&](const float* values, int64_t first, int64_t rows) {
                        if (kind == Format::Npy) {
                          std::fwrite(values, sizeof(float), size_t(rows * width), f);
                          return;
                        }
                        for (int64_t r = 0; r < rows; ++r) {
                          const float* row = values + r * width;
                          const long long label = labelled ? dataset.labels[size_t(first + r)] : 0;
                          if (kind == Format::Csv) {
                            if (labelled) std::fprintf(f, "%lld", label);
                            for (int64_t i = 0; i < width; ++i)
                              std::fprintf(f, i || labelled ? ",%.9g" : "%.9g", double(row[i]));
                          } else {
                            std::fprintf(f, "%lld", label);
                            for (int64_t i = 0; i < width; ++i)
                              if (row[i] != 0)
                                std::fprintf(f, " %lld:%.9g", (long long)(i + 1), double(row[i]));
                          }
                          std::fputc('\n', f);
                        }
                      });
  file.close();
  std::printf("wrote %lld x %lld activations of '%s' on %s to %s", (long long)dataset.count, (long long)width,
              node_name.c_str(), data.c_str(), out.c_str());
  if (kind == Format::Npy && labelled) {
    Output labels(labels_path(out));
    write(labels.get(), npy_header("<i8", {dataset.count}));
    for (int32_t label : dataset.labels) {
      const int64_t wide = label;
      std::fwrite(&wide, sizeof wide, 1, labels.get());
    }
    labels.close();
    std::printf(" and labels to %s", labels_path(out).c_str());
  }
  std::printf("\n");
  return 0;
}

}  // namespace hg::tools
