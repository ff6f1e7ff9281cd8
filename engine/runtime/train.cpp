// The training loop: one plan and one flow graph built before the first step, then per batch a data hand-off,
// a seeded step and a run. Progress and per-epoch reports go to callbacks; tools/ decides how to show them.
// Every random stream is a pure function of (seed, epoch) or (seed, step), so no generator state needs
// saving. Every held-out data set is scored on evaluation epochs, and `select`/`patience` pick the best.
#include <chrono>
#include <cmath>

#include "ir/lower_util.h"

#include "plan/plan.h"
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

void train(Model& model, const TrainOptions& options) {
  const Graph& g = model.graph;
  const TrainSettings& settings = g.train;
  const Dataset data = load_data(g, "train", options.data_dir, options.limit);
  keep_transform(model.graph, data);  // held-out data and checkpoints use the training data's statistics
  std::vector<std::pair<std::string, Dataset>> held_out;  // every binding but train, in graph order
  for (const DataBinding& b : g.data)
    if (b.name != "train")
      held_out.emplace_back(b.name, load_data(g, b.name, options.data_dir, options.limit));
  const std::vector<std::string> keys = term_keys(g);
  const std::vector<double>& weights = g.node(g.objective).attributes_as<ObjectiveAttributes>().weights;
  DataPipeline pipeline(g, data, settings.batch, true, settings.seed);
  Plan plan(g, model.parameters, model.plugins, settings.batch, PlanMode::Train);
  Executor executor(plan, bool(options.on_profile));
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
      model.parameters.learning_rate_scale =
          scheduled_learning_rate(settings, model.parameters.step, steps) / settings.optimizer.learning_rate;
      executor.run();
      loss_sum += plan.value(g.objective);
      for (size_t t = 0; t < terms.size(); ++t) sums[t] += plan.value(terms[t]);
      if (options.on_profile && (epoch > first_epoch || b > 0)) {
        loop_seconds += seconds_since(step_start);
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
        report.evals.push_back({name, evaluate(model, set, settings.batch)});
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
      profile.parts.push_back({n.name + " (" + n.op->name() + ")", t.seconds / double(loop_steps)});
      inside += t.seconds;
    }
    profile.between_steps = (loop_seconds - inside) / double(loop_steps);
    options.on_profile(profile);
  }
}

}  // namespace hg
