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

enum class StageKind { Train, Eval, Encode };

struct StageInit {
  std::string stage;              // a train stage whose checkpoint initializes this one
  SourceLocation where;           // of that name
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
  std::string out;                  // resolved; eval's default is <name>.eval.json beside the checkpoint
  std::string text;                 // the stage's tokens one space apart: its definition for fingerprints
};

struct Pipeline {
  std::string file;
  std::vector<Stage> stages;  // in file order; a stage refers only to stages above it
  const Stage* find(const std::string& name) const;
  // The stages whose outputs `stage` reads, in the order it names them, each once.
  std::vector<const Stage*> upstream(const Stage& stage) const;
};

// Parses `text` (the contents of `file`); relative paths resolve against the file's folder. Every error
// goes to `sink`, and the returned pipeline holds the stages that parsed.
Pipeline parse_pipeline(const std::string& file, const std::string& text, DiagnosticSink& sink);
// Reads and parses a file; throws hg::Error with every error found.
Pipeline load_pipeline(const std::string& path);
const char* stage_kind_name(StageKind kind);

// What a stage's result depends on. Two runs with equal fingerprints compute the same result (bit for bit
// given the same --threads), so a stage whose output carries a stamp with its current fingerprint is
// skipped.
struct StageInputs {
  std::string graph_hash;  // FNV-1a of the graph's text with its includes
  std::string text;        // Stage::text
  std::string flags;       // run flags that change results: --limit, --set, --data-dir, --plugin-dir
  std::vector<std::pair<std::string, std::string>> upstream;  // (stage name, its fingerprint)
  std::string fingerprint() const;
};

// The graph's text with its includes, hashed as Graph::source_hash is; a graph that does not parse hashes
// its diagnostics, so that the stage runs and reports them.
std::string graph_text_hash(const std::string& path);

struct Stamp {
  StageInputs inputs;
  bool complete = false;  // false: the stage started and did not finish (a train stage resumes it)
};
std::string stamp_path(const Stage& stage);                // Stage::out + ".stamp"
std::optional<Stamp> read_stamp(const std::string& path);  // nullopt when missing or unreadable
void write_stamp(const std::string& path, const std::string& stage, const StageInputs& inputs, bool complete);

// Why `stage` must run ("no output yet", "graph changed", "'dae1' reran", ...), or "" when it is up to
// date. `rerun` names the stages this run has (re)computed so far.
std::string run_reason(const Stage& stage, const StageInputs& now, const std::optional<Stamp>& stamp,
                       bool output_exists, const std::vector<std::string>& rerun, bool force);

}  // namespace hg
