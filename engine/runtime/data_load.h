// Builds a Dataset from a graph's data binding: the source file, the slice, then its steps (split, subset,
// standardize/minmax). Per-feature transforms are computed on the `train` binding only and kept in the
// graph, so checkpoints record them and eval/encode/--init apply them unchanged.
#pragma once

#include <map>
#include <string>

#include "data/dataset.h"
#include "ir/graph.h"

namespace hg {

// data/ under the working directory unless --data-dir or $HOURGLASS_DATA says otherwise.
std::string default_data_dir();
// Reads the graph's data binding `name`; `limit` > 0 keeps only the first samples of the source. A
// transform whose statistics the graph does not hold yet takes them from the `train` binding's data.
Dataset load_data(const Graph& graph, const std::string& name, const std::string& data_dir, int64_t limit);
// Trims every binding's source slice to its first `limit` samples (--limit), so checkpoints record it.
void apply_limit(Graph& graph, int64_t limit);
// Keeps the transform statistics of `data` (loaded from the `train` binding) in every binding with that
// transform, so later loads and checkpoints use them.
void keep_transform(Graph& graph, const Dataset& train);
// The training data as checkpoints record it ("skip=0 count=0" for a plain IDX binding, as older files did).
std::string describe_training_data(const Graph& graph);
// The statistics as JSON for a checkpoint's metadata ("" when no binding has a transform), and back.
std::string transform_metadata(const Graph& graph);
void restore_transform(Graph& graph, const std::string& metadata, const std::string& checkpoint);

}  // namespace hg
