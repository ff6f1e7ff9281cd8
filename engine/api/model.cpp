// The library API (include/hourglass/model.hpp) over the runtime: an hg::Model with its checkpoint loaded,
// and evaluation plans kept per (node, batch size), each fed straight from the caller's rows. Nothing here
// is new engine logic; it is the same plans `hourglass encode` runs, without a dataset around them.
#include <hourglass/model.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <thread>

#include "kernels/threading.h"
#include "plan/plan.h"
#include "runtime/checkpoint.h"
#include "runtime/model.h"

namespace hourglass {

namespace {

// hg::Error carries diagnostics; the API's exception carries the text the runner prints for them.
[[noreturn]] void rethrow_as_api_error() {
  try {
    throw;
  } catch (const hg::Error& e) {
    std::string text;
    for (const hg::Diagnostic& d : e.diagnostics()) text += d.str();
    while (!text.empty() && text.back() == '\n') text.pop_back();
    throw Error(text);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(std::string("internal error: ") + e.what());
  }
}

template <class F>
auto translating_errors(F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (...) {
    rethrow_as_api_error();
  }
}

// The inputs a node is computed from, stopping at `from` (a fed value).
std::vector<hg::NodeId> inputs_reached(const hg::Graph& g, hg::NodeId node, hg::NodeId from) {
  std::vector<bool> seen(g.nodes.size());
  std::vector<hg::NodeId> work{node}, inputs;
  while (!work.empty()) {
    const hg::NodeId id = work.back();
    work.pop_back();
    if (seen[size_t(id)] || id == from) continue;
    seen[size_t(id)] = true;
    if (g.node(id).is(hg::OpRole::Input)) inputs.push_back(id);
    for (hg::NodeId in : g.node(id).inputs) work.push_back(in);
  }
  return inputs;
}

hg::ModelOptions model_options(const LoadOptions& options) {
  hg::ModelOptions model;
  model.plugin_dirs = options.plugin_dirs;
  return model;
}

}  // namespace

struct Model::Impl {
  Impl(const std::string& graph_path, const LoadOptions& options)
      : model(graph_path, model_options(options)),
        threads(options.threads > 0 ? options.threads
                                    : int(std::max(1u, std::thread::hardware_concurrency()))),
        max_batch(options.max_batch),
        input(hg::image_input(model.graph)),
        output(hg::reconstruction(model.graph)) {}

  hg::Model model;
  int threads;
  int64_t max_batch;
  hg::NodeId input;
  hg::NodeId output;  // kNoNode for a graph that reconstructs nothing
  // The evaluation plans made so far, by (fed value, computed value, batch size).
  std::map<std::tuple<hg::NodeId, hg::NodeId, int64_t>, std::unique_ptr<hg::Plan>> plans;

  const std::string& name(hg::NodeId id) const { return model.graph.node(id).name; }

  hg::Plan& plan(hg::NodeId fed, hg::NodeId node, int64_t batch) {
    std::unique_ptr<hg::Plan>& plan = plans[{fed, node, batch}];
    if (!plan) {
      check_fed_alone(fed, node);
      plan = std::make_unique<hg::Plan>(model.graph, model.parameters, model.plugins, batch,
                                        hg::PlanMode::Eval, std::vector{node}, std::vector{fed});
    }
    return *plan;
  }

  // A plan computes `node` from `fed` alone: any other input it needs would be left unfilled.
  void check_fed_alone(hg::NodeId fed, hg::NodeId node) const {
    const hg::Graph& g = model.graph;
    for (hg::NodeId other : inputs_reached(g, node, fed))
      throw hg::Error(
          {g.file, 0, 0},
          "'" + name(node) + "' depends on the input '" + name(other) + "'" +
              (g.node(fed).is(hg::OpRole::Input) ? "" : " other than through '" + name(fed) + "'") +
              ", which this call does not feed");
  }

  // The value `node` computed from `n` rows of the value `fed`, max_batch rows at a time.
  void run(hg::NodeId fed, hg::NodeId node, const float* in, int64_t n, float* out) {
    const hg::Graph& g = model.graph;
    if (n < 0) throw hg::Error({"hourglass::Model", 0, 0}, "a negative sample count: " + std::to_string(n));
    hg::set_math_threads(threads);
    const int64_t width_in = g.node(fed).elements_per_sample(),
                  width_out = g.node(node).elements_per_sample();
    for (int64_t first = 0; first < n;) {
      const int64_t rows = std::min(max_batch, n - first);
      hg::Plan& p = plan(fed, node, rows);
      std::memcpy(p.buffer(fed), in + first * width_in, size_t(rows * width_in) * sizeof(float));
      p.run_serial();
      std::memcpy(out + first * width_out, p.buffer(node), size_t(rows * width_out) * sizeof(float));
      first += rows;
    }
  }

  // Found without allocating on the steady path; activation_node explains a name that does not fit.
  hg::NodeId node(const std::string& name) const {
    const hg::NodeId id = model.graph.find(name);
    if (id != hg::kNoNode && model.graph.node(id).batched && !model.graph.node(id).is(hg::OpRole::Parameter))
      return id;
    return hg::activation_node(model.graph, name, "hourglass::Model node '" + name + "'");
  }

  hg::NodeId reconstruction() const {
    if (output == hg::kNoNode)
      throw hg::Error({model.graph.file, 0, 0}, "no loss compares a prediction with the input '" +
                                                    name(input) + "': nothing to reconstruct");
    return output;
  }
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

Model Model::load(const std::string& graph_path, const std::string& checkpoint_path,
                  const LoadOptions& options) {
  return translating_errors([&] {
    if (options.threads < 0 || options.threads > 1024)
      throw hg::Error(
          {"hourglass::LoadOptions", 0, 0},
          "threads must be between 0 (every core) and 1024, not " + std::to_string(options.threads));
    if (options.max_batch < 1)
      throw hg::Error({"hourglass::LoadOptions", 0, 0},
                      "max_batch must be at least 1, not " + std::to_string(options.max_batch));
    auto impl = std::make_unique<Impl>(graph_path, options);
    hg::load_checkpoint(checkpoint_path, impl->model);
    return Model(std::move(impl));
  });
}

const std::string& Model::input() const {
  return impl_->name(impl_->input);
}

Shape Model::input_shape() const {
  return Shape{impl_->model.graph.node(impl_->input).dims};
}

const std::string& Model::output() const {
  return translating_errors([&]() -> const std::string& { return impl_->name(impl_->reconstruction()); });
}

std::vector<std::string> Model::nodes() const {
  std::vector<std::string> names;
  for (const hg::Node& n : impl_->model.graph.nodes)
    if (n.forward == hg::kNoNode && n.batched && !n.is(hg::OpRole::Parameter)) names.push_back(n.name);
  return names;
}

Shape Model::shape(const std::string& node) const {
  return translating_errors([&] { return Shape{impl_->model.graph.node(impl_->node(node)).dims}; });
}

void Model::encode(const std::string& node, const float* in, int64_t n, float* out) {
  translating_errors([&] { impl_->run(impl_->input, impl_->node(node), in, n, out); });
}

void Model::reconstruct(const float* in, int64_t n, float* out) {
  translating_errors([&] { impl_->run(impl_->input, impl_->reconstruction(), in, n, out); });
}

void Model::decode(const std::string& node, const float* code, int64_t n, float* out) {
  translating_errors([&] { impl_->run(impl_->node(node), impl_->reconstruction(), code, n, out); });
}

}  // namespace hourglass
