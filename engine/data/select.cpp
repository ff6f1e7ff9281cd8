// Seeded splits and subsets, and the statistics of per-feature transforms. The orders come from
// mt19937_64 and a Fisher-Yates shuffle written here (std::shuffle differs between standard libraries), so
// a seed picks the same samples on every machine.
#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "data/dataset.h"
#include "support/diagnostics.h"

namespace hg {

namespace {

void shuffle(std::vector<int64_t>& v, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng() % i]);
}

// Positions of each class, ascending; one group holding everything when there are no labels.
std::map<int32_t, std::vector<int64_t>> by_class(const Dataset& data, bool use_labels) {
  std::map<int32_t, std::vector<int64_t>> groups;
  for (int64_t i = 0; i < data.count; ++i)
    groups[use_labels && !data.labels.empty() ? data.labels[size_t(i)] : 0].push_back(i);
  return groups;
}

// Each class gets its own stream, derived from the seed and the class, so adding a class to a selection does
// not reorder the others.
uint64_t class_seed(uint64_t seed, int32_t cls) {
  return seed * 0x9E3779B97F4A7C15ull + uint64_t(cls) * 0xBF58476D1CE4E5B9ull + 1;
}

}  // namespace

std::vector<int64_t> split_positions(const Dataset& data, double valid, uint64_t seed, bool stratify,
                                     bool valid_part) {
  if (stratify && data.labels.empty())
    throw Error({data.images_path, 0, 0}, "split(stratify=1) needs labels, but the data has none");
  std::vector<int64_t> out;
  for (auto& [cls, positions] : by_class(data, stratify)) {
    shuffle(positions, class_seed(seed, cls));
    const size_t held = size_t(std::llround(valid * double(positions.size())));
    if (valid_part)
      out.insert(out.end(), positions.begin(), positions.begin() + held);
    else
      out.insert(out.end(), positions.begin() + held, positions.end());
  }
  std::sort(out.begin(), out.end());
  if (out.empty())
    throw Error({data.images_path, 0, 0}, std::string("split(valid=") + std::to_string(valid) +
                                              ") leaves the " + (valid_part ? "validation" : "training") +
                                              " part of " + std::to_string(data.count) + " samples empty");
  return out;
}

std::vector<int64_t> subset_positions(const Dataset& data, int64_t n, bool balanced, uint64_t seed,
                                      const std::vector<int32_t>& classes) {
  if ((balanced || !classes.empty()) && data.labels.empty())
    throw Error({data.images_path, 0, 0}, std::string("subset(") +
                                              (balanced ? "balanced=1" : "classes=[...]") +
                                              ") needs labels, but the data has none");
  std::map<int32_t, std::vector<int64_t>> groups = by_class(data, true);
  if (!classes.empty()) {
    for (int32_t c : classes)
      if (!groups.count(c))
        throw Error({data.images_path, 0, 0}, "subset(classes=[...]) lists class " + std::to_string(c) +
                                                  ", which no sample of the data has");
    for (auto it = groups.begin(); it != groups.end();)
      it = std::count(classes.begin(), classes.end(), it->first) ? std::next(it) : groups.erase(it);
  }
  std::vector<int64_t> order;
  if (balanced) {
    // round-robin over the classes, each in its own seeded order: every prefix is balanced
    std::vector<std::vector<int64_t>*> lists;
    for (auto& [cls, positions] : groups) {
      shuffle(positions, class_seed(seed, cls));
      lists.push_back(&positions);
    }
    for (size_t round = 0;; ++round) {
      bool any = false;
      for (std::vector<int64_t>* l : lists)
        if (round < l->size()) {
          order.push_back((*l)[round]);
          any = true;
        }
      if (!any) break;
    }
  } else {
    for (auto& [cls, positions] : groups) order.insert(order.end(), positions.begin(), positions.end());
    std::sort(order.begin(), order.end());
    shuffle(order, seed);
  }
  if (n > 0 && n > int64_t(order.size()))
    throw Error({data.images_path, 0, 0}, "subset(n=" + std::to_string(n) +
                                              ") asks for more samples than the " +
                                              std::to_string(order.size()) + " there are");
  if (n > 0) order.resize(size_t(n));
  return order;
}

Dataset select(Dataset data, const std::vector<int64_t>& positions) {
  std::vector<int64_t> rows(positions.size());
  std::vector<int32_t> labels;
  for (size_t i = 0; i < positions.size(); ++i) {
    HG_ASSERT(positions[i] >= 0 && positions[i] < data.count, "position outside the data");
    rows[i] = data.row(positions[i]);
    if (!data.labels.empty()) labels.push_back(data.labels[size_t(positions[i])]);
  }
  data.rows = std::move(rows);
  data.labels = std::move(labels);
  data.count = int64_t(positions.size());
  // the classes left: subset(classes=[0, 1, 2, 3, 4]) fits a 5-way label input without relabelling
  if (!data.labels.empty()) data.num_classes = 1 + *std::max_element(data.labels.begin(), data.labels.end());
  return data;
}

void relabel(Dataset& data, const std::vector<int32_t>& classes) {
  for (int32_t& label : data.labels)
    label = int32_t(std::find(classes.begin(), classes.end(), label) - classes.begin());
  std::vector<std::string> names;
  for (int32_t c : classes)
    names.push_back(size_t(c) < data.class_names.size() ? data.class_names[size_t(c)] : std::to_string(c));
  data.class_names = names;
  data.num_classes = int32_t(classes.size());
}

void compute_standardize(const Dataset& data, std::vector<float>& offset, std::vector<float>& multiplier) {
  const int64_t n = data.features();
  std::vector<double> sum(static_cast<size_t>(n), 0.0), sum_sq(static_cast<size_t>(n), 0.0);
  std::vector<float> row(static_cast<size_t>(n));
  // two passes (mean, then squared deviations) for accuracy on features with a large mean
  for (int64_t i = 0; i < data.count; ++i) {
    data.copy_untransformed(i, row.data());
    for (int64_t j = 0; j < n; ++j) sum[size_t(j)] += row[size_t(j)];
  }
  offset.assign(size_t(n), 0.0f);
  for (int64_t j = 0; j < n; ++j)
    offset[size_t(j)] = float(sum[size_t(j)] / double(std::max<int64_t>(data.count, 1)));
  for (int64_t i = 0; i < data.count; ++i) {
    data.copy_untransformed(i, row.data());
    for (int64_t j = 0; j < n; ++j) {
      const double d = double(row[size_t(j)]) - double(offset[size_t(j)]);
      sum_sq[size_t(j)] += d * d;
    }
  }
  multiplier.assign(size_t(n), 1.0f);
  for (int64_t j = 0; j < n; ++j) {
    const double sd = std::sqrt(sum_sq[size_t(j)] / double(std::max<int64_t>(data.count, 1)));
    if (sd > 1e-12) multiplier[size_t(j)] = float(1.0 / sd);  // a constant feature stays as it is, centred
  }
}

void compute_minmax(const Dataset& data, std::vector<float>& offset, std::vector<float>& multiplier) {
  const int64_t n = data.features();
  std::vector<float> lo(static_cast<size_t>(n), INFINITY), hi(static_cast<size_t>(n), -INFINITY),
      row(static_cast<size_t>(n));
  for (int64_t i = 0; i < data.count; ++i) {
    data.copy_untransformed(i, row.data());
    for (int64_t j = 0; j < n; ++j) {
      lo[size_t(j)] = std::min(lo[size_t(j)], row[size_t(j)]);
      hi[size_t(j)] = std::max(hi[size_t(j)], row[size_t(j)]);
    }
  }
  offset = lo;
  multiplier.assign(size_t(n), 1.0f);
  for (int64_t j = 0; j < n; ++j)
    if (hi[size_t(j)] > lo[size_t(j)])
      multiplier[size_t(j)] = float(1.0 / (double(hi[size_t(j)]) - lo[size_t(j)]));
}

}  // namespace hg
