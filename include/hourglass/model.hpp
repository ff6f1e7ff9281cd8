// hourglass as a library: load a graph file and a checkpoint trained by `hourglass train`, then run its
// evaluation network (corruptions off, sampling ops at their mean, normalization on running statistics) on
// samples in memory. Link the `hourglass::hourglass` target of the installed CMake package:
//
//   find_package(hourglass CONFIG REQUIRED)
//   target_link_libraries(my_service PRIVATE hourglass::hourglass)
//
// Inputs are what the graph's input receives after its data source's transforms (`scale=1/255` and the
// like): rows of input_shape().elements() floats, one row per sample, in the layout the graph declares
// (channels, height, width for images). Outputs come back the same way.
//
// Costs: the first call for a node and a sample count plans its network for that batch size (memory laid
// out once, every oneDNN primitive created once) and keeps the plan; later calls with the same node and
// count reuse it and allocate nothing of their own. Sample counts above max_batch (LoadOptions) run in
// chunks of max_batch and a remainder, each with its plan.
//
// Threads: a Model is thread-compatible, not thread-safe. Separate Model objects may run on separate threads
// at the same time; one Model must not be called from two threads at once. Each call runs its math on
// LoadOptions::threads OpenMP threads of the calling thread.
//
// Errors are hourglass::Error exceptions whose what() is the message the runner prints for the same
// mistake, "file:line:col: error: ..." included.
#ifndef HOURGLASS_MODEL_HPP
#define HOURGLASS_MODEL_HPP

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

// What libhourglass.so exports: these classes, and nothing of the engine inside it.
#define HOURGLASS_API __attribute__((visibility("default")))

namespace hourglass {

class HOURGLASS_API Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct LoadOptions {
  int threads = 0;                       // OpenMP threads per call; 0: every core
  std::vector<std::string> plugin_dirs;  // searched after the built-in plugins, before $HOURGLASS_PLUGIN_PATH
  int64_t max_batch = 256;               // the largest sample count planned at once
};

// The shape of one sample of a value, without the batch dimension: {784}, or {1, 28, 28}.
struct Shape {
  std::vector<int64_t> dims;
  int64_t elements() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
  }
};

class HOURGLASS_API Model {
 public:
  // Reads the graph (and its includes and plugins) and the checkpoint's parameters. The checkpoint must
  // come from the same graph: a missing or misshapen parameter is an Error naming it.
  static Model load(const std::string& graph_path, const std::string& checkpoint_path,
                    const LoadOptions& options = {});
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  const std::string& input() const;        // the input the network reads ("x")
  Shape input_shape() const;               // one sample of it
  const std::string& output() const;       // the reconstruction: the first loss's prediction of the input
  std::vector<std::string> nodes() const;  // every value with one row per sample, in graph order
  Shape shape(const std::string& node) const;

  // `n` samples of the input in, the node's values out (n x shape(node).elements() floats).
  void encode(const std::string& node, const float* in, int64_t n, float* out);
  // The reconstruction of `n` input samples: encode(output(), ...).
  void reconstruct(const float* in, int64_t n, float* out);
  // The decoder: `n` rows of the node's values in (a code), the output's values out.
  void decode(const std::string& node, const float* code, int64_t n, float* out);

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hourglass

#endif
