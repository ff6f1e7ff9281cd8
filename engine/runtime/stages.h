// Pipeline files (`graphs/*.pipeline`): stages that train, evaluate and encode graphs in file order, each
// able to start from earlier stages' checkpoints. This file holds what can be decided without running
// anything: parsing (errors as file:line:col), what a stage's result depends on (its fingerprint), the
// stamp that records it next to the output, and why a stage must run. tools/verb_run.cpp runs the stages.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "support/diagnostics.h"

namespace hg {

enum class StageKind { Train, Eval, Encode, Summary };

// `param NAME = VALUE`: a value that stages use as `{NAME}` inside strings (paths) and as a bare NAME for a
// setting's value (`set { seed=seed }`). `hourglass run --param NAME=VALUE` overrides it; a stage's text,
// and so its fingerprint, holds the substituted values.
struct PipelineParam {
  std::string name, value;
  SourceLocation where;
};
// `sweep { NAME = v1, v2, ... }` (or `run --sweep NAME=v1,v2`): the values a parameter takes in a grid.
struct SweepAxis {
  std::string name;
  std::vector<std::string> values;
  SourceLocation where;
};

struct StageInit {
  std::string stage;       // a train stage whose checkpoint initializes this one, or
  std::string checkpoint;  // a checkpoint file (resolved against the pipeline's folder) when stage is ""
  SourceLocation where;    // of that name or path
  std::vector<std::string> maps;  // "source->target" rules as `train --map` takes them; none: same names
  std::vector<SourceLocation> map_locations;
};

struct Stage {
  std::string name;
  SourceLocation where;  // of the name
  StageKind kind = StageKind::Train;
  std::string graph;                          // train: the graph file, resolved against the pipeline's folder
  std::vector<StageInit> inits;               // train
  std::vector<std::string> freeze, settings;  // train: globs, "key=value"
  std::string of;                             // eval, encode: the train stage they use
  SourceLocation of_where;
  std::string node, data = "test";  // encode
  // summary: paired differences (first - second, same configuration and seed) between eval stages
  std::vector<std::pair<std::string, std::string>> pairs;
  std::vector<SourceLocation> pair_locations;
  std::string
      out;  // resolved; eval's default is <name>.eval.json beside the checkpoint; summary: OUT.md/.csv/.json
  std::string text;  // the stage's tokens one space apart: its definition for fingerprints
};

struct Pipeline {
  std::string file;
  std::vector<PipelineParam> params;  // in file order, with their values after overrides
  std::vector<SweepAxis> sweep;       // the file's sweep block, if any
  std::vector<Stage> stages;          // in file order; a stage refers only to stages above it
  const Stage* find(const std::string& name) const;
  // The stages whose outputs `stage` reads, in the order it names them, each once.
  std::vector<const Stage*> upstream(const Stage& stage) const;
};

// Parses `text` (the contents of `file`); relative paths resolve against the file's folder. Every error
// goes to `sink`, and the returned pipeline holds the stages that parsed.
// `overrides` ("NAME=VALUE", as --param takes them) replace parameters' values; one that names no parameter
// is an error at "--param NAME=VALUE".
Pipeline parse_pipeline(const std::string& file, const std::string& text, DiagnosticSink& sink,
                        const std::vector<std::string>& overrides = {});
// Reads and parses a file; throws hg::Error with every error found.
Pipeline load_pipeline(const std::string& path, const std::vector<std::string>& overrides = {});
// The grid of a sweep: every combination of the axes' values as "NAME=VALUE" overrides, the first axis
// varying slowest. No axes: one empty combination.
std::vector<std::vector<std::string>> sweep_grid(const std::vector<SweepAxis>& axes);
// "NAME=v1,v2,..." as --sweep takes it; a malformed one is an hg::Error at "--sweep TEXT".
SweepAxis parse_sweep_flag(const std::string& text);
const char* stage_kind_name(StageKind kind);

// What a stage's result depends on. Two runs with equal fingerprints compute the same result (bit for bit
// given the same --threads), so a stage whose output carries a stamp with its current fingerprint is
// skipped.
struct StageInputs {
  std::string graph_hash;  // FNV-1a of the graph's text with its includes
  std::string text;        // Stage::text
  std::string flags;       // run flags that change results: --limit, --set, --data-dir, --plugin-dir
  // (stage name, its fingerprint), and ("file PATH", a hash of its bytes) for each init from a file
  std::vector<std::pair<std::string, std::string>> upstream;
  std::string fingerprint() const;
};

// A hash of a file's bytes ("missing" when it cannot be read): what an init from a file depends on.
std::string file_hash(const std::string& path);
// The graph's text with its includes, hashed as Graph::source_hash is; a graph that does not parse hashes
// its diagnostics, so that the stage runs and reports them.
std::string graph_text_hash(const std::string& path);

struct Stamp {
  StageInputs inputs;
  bool complete = false;  // false: the stage started and did not finish (a train stage resumes it)
  double seconds = 0;     // the stage's wall time, when complete
};
std::string stamp_path(const Stage& stage);                // Stage::out + ".stamp"
std::optional<Stamp> read_stamp(const std::string& path);  // nullopt when missing or unreadable
void write_stamp(const std::string& path, const std::string& stage, const StageInputs& inputs, bool complete,
                 double seconds = 0);
// Writes `text` to a temporary file beside `path`, fsyncs it, renames it over `path` and fsyncs the folder,
// so that a crash leaves the old file or the new one, never a torn one. Stamps, evaluations and summaries
// are written this way.
void write_file_atomically(const std::string& path, const std::string& text);

// Why `stage` must run ("no output yet", "graph changed", "'dae1' reran", ...), or "" when it is up to
// date. `rerun` names the stages this run has (re)computed so far.
std::string run_reason(const Stage& stage, const StageInputs& now, const std::optional<Stamp>& stamp,
                       bool output_exists, const std::vector<std::string>& rerun, bool force);

}  // namespace hg
