// The training loop: one plan and one flow graph built before the first step, then per batch a data hand-off,
// a seeded step and a run. Progress and per-epoch reports go to callbacks; tools/ decides how to show them.
// Every random stream is a pure function of (seed, epoch) or (seed, step), so no generator state needs
// saving. Every held-out data set is scored on evaluation epochs, and `select`/`patience` pick the best.
// Data-parallel (runtime/distributed.h): each process trains on its shard of every global batch; see
// GradientSums for the sums, and the end of an epoch for the reported figures and the weight check.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "ir/lower_util.h"

#include "kernels/bf16.h"
#include "plan/plan.h"
#include "runtime/distributed.h"
#include "runtime/executor.h"
#include "runtime/model.h"
#include "runtime/pipeline.h"

namespace hg {

using Clock = std::chrono::steady_clock;

// Bump the version whenever the shuffle (pipeline.cpp) or the step seed below changes.
const char* const kRandomStreams =
    "v1: shuffle mt19937_64(seed*1000003+epoch), step seed seed*0x9E3779B97F4A7C15+step";

static double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// `select = best(DATA, METRIC)`: an evaluated epoch that beats the best so far (strictly, so that ties keep
// the earlier epoch; a NaN never wins) becomes the best. `patience` counts epochs since the best.
static void select(Model& model, EpochReport& report) {
  const TrainSettings& settings = model.graph.train;
  if (settings.select_data.empty()) return;
  const EvalResult* scored = report.eval(settings.select_data);
  if (!scored) return;  // not an evaluation epoch
  Selection& s = model.selection;
  const std::optional<double> value = metric_value(*scored, settings.select_metric);
  if (value && !std::isnan(*value) &&
      (s.best_epoch == 0 ||
       (metric_maximized(settings.select_metric) ? *value > s.best_value : *value < s.best_value))) {
    s.best_epoch = report.epoch;
    s.best_value = *value;
    s.best_evals = report.evals;
    report.best = true;
  }
  if (settings.patience > 0 && report.epoch - s.best_epoch >= settings.patience) {
    s.stopped = true;
    report.stops = true;
  }
}

namespace {

// Sums every trainable parameter's gradient across the group, one bucket per parameter, started as soon as
// the step that writes the parameter's final gradient has run and finished just before the optimizer step.
// In between, the sums travel while the rest of backward computes, as far as MPI moves them (at the
// progress() call after each step). The executor may order independent steps differently from run to run,
// so the sums start in the plan's order of their steps, the same on every rank: MPI needs every rank to
// start its collectives in one order. HOURGLASS_MPI_OVERLAP=0 starts every sum just before the optimizer
// step instead, to measure what the overlap hides (bench/mpi.sh).
class GradientSums : public StepObserver {
 public:
  GradientSums(const Plan& plan, ParameterStore& store, ProcessGroup& group)
      : group_(group),
        overlap_(!std::getenv("HOURGLASS_MPI_OVERLAP") ||
                 std::string(std::getenv("HOURGLASS_MPI_OVERLAP")) != "0") {
    const std::vector<PlanStep>& steps = plan.steps();
    for (auto [parameter, gradient] : plan.graph().parameter_gradient) {
      const ParameterSlot* slot = store.slot(parameter);
      if (!slot->trainable) continue;
      for (size_t s = 0; s < steps.size(); ++s)
        if (steps[s].node == gradient) buckets_.push_back({s, store.gradient(parameter), slot->count});
    }
    std::sort(buckets_.begin(), buckets_.end(),
              [](const Bucket& a, const Bucket& b) { return a.step < b.step; });
    for (size_t s = 0; s < steps.size(); ++s)
      if (plan.graph().node(steps[s].node).is(OpRole::OptimizerStep)) optimizer_ = s;
    done_.assign(steps.size(), false);
  }
  void begin(int64_t step) {
    std::fill(done_.begin(), done_.end(), false);
    next_ = 0;
    step_ = step + 1;
  }
  void before(size_t step) override {
    if (step != optimizer_) return;
    for (; next_ < buckets_.size(); ++next_)
      group_.start_sum(buckets_[next_].gradient, buckets_[next_].count);
    group_.finish_sums(step_);
  }
  void after(size_t step) override {
    if (!overlap_) return;
    done_[step] = true;
    while (next_ < buckets_.size() && done_[buckets_[next_].step]) {
      group_.start_sum(buckets_[next_].gradient, buckets_[next_].count);
      ++next_;
    }
    group_.progress();
  }

 private:
  struct Bucket {
    size_t step;  // writes the gradient's final value
    float* gradient;
    int64_t count;
  };
  ProcessGroup& group_;
  bool overlap_;  // start each sum as soon as its gradient is final
  std::vector<Bucket> buckets_;
  size_t optimizer_ = SIZE_MAX;
  std::vector<bool> done_;
  size_t next_ = 0;
  int64_t step_ = 0;  // counted from 1, for a timeout's error
};

// Running statistics (batchnorm) are updated from each shard's own rows; averaging them across the group
// after every step keeps the ranks' weights equal, and a running mean then follows the global batch's.
void average_buffers(ParameterStore& store, ProcessGroup& group, int64_t step) {
  for (const ParameterSlot& slot : store.slots()) {
    if (!slot.buffer) continue;
    float* values = store.values() + slot.offset;
    group.sum(values, slot.count,
              "averaging '" + slot.name + "' after training step " + std::to_string(step));
    const float share = float(1.0 / double(group.size()));
    for (int64_t i = 0; i < slot.count; ++i) values[i] *= share;
  }
}

// Every rank must hold the same weights and optimizer state after an epoch; a difference means the ranks
// diverged (another build, thread count or library on one node), and training on would be meaningless.
void check_same_weights(ParameterStore& store, ProcessGroup& group, int64_t epoch) {
  uint64_t hash = hash_floats(store.values(), store.total());
  for (int k = 0; k < store.states(); ++k) hash = hash * 31 + hash_floats(store.state(k), store.total());
  const std::vector<uint64_t> hashes =
      group.gather(hash, "comparing the weights after epoch " + std::to_string(epoch));
  for (size_t r = 1; r < hashes.size(); ++r)
    if (hashes[r] != hashes[0]) {
      char text[320];
      std::snprintf(text, sizeof text,
                    "after epoch %lld the weights of rank %zu (hash %016llx) differ from rank 0's (%016llx): "
                    "the ranks diverged; every rank must run the same hourglass build with the same "
                    "--threads",
                    (long long)epoch, r, (unsigned long long)hashes[r], (unsigned long long)hashes[0]);
      throw Error({"mpi", 0, 0}, text);
    }
}

}  // namespace

void train(Model& model, const TrainOptions& options) {
  const Graph& g = model.graph;
  const TrainSettings& settings = g.train;
  if (!g.has_backward())
    throw Error(settings.location,
                "nothing to train: every parameter is frozen (by `freeze` or --freeze), so no gradient is "
                "computed; evaluate the checkpoint with `hourglass eval` instead");
  const Dataset data = load_data(g, "train", options.data_dir, options.limit);
  keep_transform(model.graph, data);  // held-out data and checkpoints use the training data's statistics
  std::vector<std::pair<std::string, Dataset>> held_out;  // every binding but train, in graph order
  for (const DataBinding& b : g.data)
    if (b.name != "train")
      held_out.emplace_back(b.name, load_data(g, b.name, options.data_dir, options.limit));
  const std::vector<std::string> keys = term_keys(g);
  const std::vector<double>& weights = g.node(g.objective).attributes_as<ObjectiveAttributes>().weights;
  if (settings.precision == "bf16")
    if (const std::string missing = bf16_unavailable(); !missing.empty())
      throw Error(settings.precision_location, missing);
  SoloGroup alone;
  ProcessGroup& group = options.group ? *options.group : alone;
  const int ranks = group.size();
  // Uneven shards would need per-shard weights in every loss gradient and would make the run depend on
  // the process count; an even split keeps N processes' sum the one-process gradient.
  if (settings.batch % ranks != 0)
    throw Error(settings.location, "batch " + std::to_string(settings.batch) +
                                       " does not split evenly over " + std::to_string(ranks) +
                                       " processes (each takes batch / processes rows of every batch): " +
                                       "use a batch that is a multiple of " + std::to_string(ranks) +
                                       " (--set batch=N), or a process count that divides " +
                                       std::to_string(settings.batch));
  DataPipeline pipeline(g, data, settings.batch, true, settings.seed);
  Plan plan(g, model.parameters, model.plugins, settings.batch / ranks, PlanMode::Train, {}, {},
            Shard{group.rank(), ranks});
  GradientSums sums_across(plan, model.parameters, group);
  const bool one_at_a_time = options.on_profile || ranks > 1;
  Executor executor(plan, bool(options.on_profile), ranks > 1 ? &sums_across : nullptr,
                    one_at_a_time ? 1 : std::max(1, options.step_concurrency));
  bool has_buffers = false;
  for (const ParameterSlot& slot : model.parameters.slots()) has_buffers |= slot.buffer;
  double loop_mpi = 0;      // seconds inside MPI, over the steps loop_seconds covers
  double loop_seconds = 0;  // all training steps after the first, from hand-off to the end of bookkeeping
  int64_t loop_steps = 0;
  const std::vector<NodeId> terms = model.terms();
  const int64_t steps = pipeline.full_batches();
  const Clock::time_point start = Clock::now();
  const int64_t first_epoch = model.epoch + 1;
  for (int64_t epoch = first_epoch; epoch <= settings.epochs && !model.selection.stopped; ++epoch) {
    const Clock::time_point epoch_start = Clock::now();
    Clock::time_point last_report = epoch_start;
    std::vector<double> sums(terms.size(), 0.0);
    double loss_sum = 0;
    pipeline.begin_epoch(epoch);
    for (int64_t b = 0; b < steps; ++b) {
      const Clock::time_point step_start = options.on_profile ? Clock::now() : Clock::time_point();
      pipeline.take(b, plan);
      plan.set_step_seed(settings.seed * 0x9E3779B97F4A7C15ull + uint64_t(model.parameters.step));
      plan.set_progress({model.parameters.step, settings.epochs * steps});
      model.parameters.learning_rate_scale =
          scheduled_learning_rate(settings, model.parameters.step, steps) / settings.optimizer.learning_rate;
      if (ranks > 1) sums_across.begin(model.parameters.step);
      executor.run();
      if (has_buffers && ranks > 1) average_buffers(model.parameters, group, model.parameters.step);
      loss_sum += plan.value(g.objective);
      for (size_t t = 0; t < terms.size(); ++t) sums[t] += plan.value(terms[t]);
      const double in_mpi = group.take_mpi_seconds();
      if (options.on_profile && (epoch > first_epoch || b > 0)) {
        loop_seconds += seconds_since(step_start);
        loop_mpi += in_mpi;
        ++loop_steps;
      }
      if (options.on_progress && (seconds_since(last_report) > 0.2 || b + 1 == steps)) {
        last_report = Clock::now();
        const double done = double((epoch - first_epoch) * steps + b + 1);
        const double total = double((settings.epochs - first_epoch + 1) * steps);
        const double elapsed = seconds_since(start);
        options.on_progress(Progress{epoch, settings.epochs, b + 1, steps, loss_sum / double(b + 1),
                                     double(b + 1) * double(settings.batch) / seconds_since(epoch_start),
                                     elapsed / done * (total - done)});
      }
    }
    // The figures of the whole global batch: the mean of the ranks' shard means (equal shards).
    if (ranks > 1) {
      sums.push_back(loss_sum);
      group.sum(sums.data(), int64_t(sums.size()), "the loss sums of epoch " + std::to_string(epoch));
      for (double& sum : sums) sum /= double(ranks);
      loss_sum = sums.back();
      sums.pop_back();
      check_same_weights(model.parameters, group, epoch);
    }
    EpochReport report;
    report.epoch = epoch;
    report.seconds = seconds_since(epoch_start);
    report.samples_per_second = double(steps * settings.batch) / report.seconds;
    report.learning_rate = settings.optimizer.learning_rate * model.parameters.learning_rate_scale;
    report.train.samples = steps * settings.batch;
    report.train.loss = loss_sum / double(std::max<int64_t>(steps, 1));
    for (size_t t = 0; t < terms.size(); ++t) {
      report.train.terms.emplace_back(keys[t], sums[t] / double(std::max<int64_t>(steps, 1)));
      report.train.weights.push_back(weights[t]);
    }
    if (epoch % settings.test_every == 0 || epoch == settings.epochs)
      for (const auto& [name, set] : held_out)
        report.evals.push_back({name, evaluate(model, set, settings.batch, false, &group)});
    model.epoch = epoch;
    select(model, report);
    if (options.on_epoch) options.on_epoch(report);
  }
  if (options.on_profile && loop_steps > 0) {
    StepProfile profile;
    profile.steps = loop_steps;
    double inside = 0;
    for (const StepTime& t : executor.timings()) {
      const Node& n = g.node(t.node);
      profile.parts.push_back(
          {(t.label.empty() ? n.name : t.label) + " (" + n.op->name() + ")", t.seconds / double(loop_steps)});
      inside += t.seconds;
    }
    profile.between_steps = (loop_seconds - inside - loop_mpi) / double(loop_steps);
    profile.mpi = loop_mpi / double(loop_steps);
    profile.processes = ranks;
    options.on_profile(profile);
  }
}

}  // namespace hg
