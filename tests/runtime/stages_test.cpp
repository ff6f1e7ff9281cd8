// Pipeline files without running anything: what the parser accepts, the exact errors it gives, and the
// up-to-date decision (fingerprints, stamps, the reason a stage must run).
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "mnist_fixture.h"
#include "runtime/stages.h"

using namespace hg;

namespace {

Pipeline parse(const std::string& text, DiagnosticSink& sink) {
  return parse_pipeline("p/x.pipeline", text, sink);
}

// Every diagnostic for `text`, in file order as load_pipeline reports them, with the scratch folder and the
// file name left out: "3:7: error: ...". Each process writes its own folder: CTest runs cases side by side.
std::string errors_of(const std::string& text) {
  const std::string folder = test::scratch_path("pipeline_errors_" + std::to_string(getpid()));
  std::filesystem::create_directories(folder);
  std::ofstream(folder + "/x.pipeline") << text;
  std::string out;
  try {
    load_pipeline(folder + "/x.pipeline");
  } catch (const Error& e) {
    for (const Diagnostic& d : e.diagnostics()) out += d.str();
  }
  for (const std::string& prefix : {folder + "/x.pipeline: ", folder + "/x.pipeline:", folder + "/"})
    for (size_t at; (at = out.find(prefix)) != std::string::npos;) out.replace(at, prefix.size(), "");
  return out;
}

const char* kTwoLayers =
    "stage dae1 = train \"a/l1.graph\" -> \"out/dae1.safetensors\"\n"
    "stage dae2 = train \"a/l2.graph\" init dae1 { \"enc1.*\" } -> \"out/dae2.safetensors\"\n";

}  // namespace

TEST_CASE("a pipeline parses into stages with paths resolved against its folder") {
  DiagnosticSink sink;
  const Pipeline p =
      parse(std::string(kTwoLayers) +
                "# the classifier, from both layers\n"
                "stage clf = train \"a/clf.graph\"\n"
                "    init dae1 { \"enc1.*\" -> \"fc1.*\" }  init dae2 { \"enc2.*\" -> \"fc2.*\", "
                "\"dec2.bias\" }\n"
                "    freeze { \"fc1.*\", \"fc2.*\" } freeze \"x.*\" set { epochs=3, lr=0.5 seed=2 "
                "data.train.count=100 }\n"
                "    -> \"/abs/clf.safetensors\"   # absolute paths stay\n"
                "stage report = eval clf\n"
                "stage codes = encode clf node fc2 data train -> \"codes.npy\"\n",
            sink);
  REQUIRE_FALSE(sink.has_errors());
  REQUIRE(p.stages.size() == 5);
  const Stage& clf = p.stages[2];
  CHECK(clf.kind == StageKind::Train);
  CHECK(clf.graph == "p/a/clf.graph");
  CHECK(clf.out == "/abs/clf.safetensors");
  REQUIRE(clf.inits.size() == 2);
  CHECK(clf.inits[0].stage == "dae1");
  CHECK(clf.inits[0].maps == std::vector<std::string>{"enc1.*->fc1.*"});
  CHECK(clf.inits[1].maps == std::vector<std::string>{"enc2.*->fc2.*", "dec2.bias->dec2.bias"});
  CHECK(clf.inits[1].where.str() == "p/x.pipeline:5:45");
  CHECK(clf.freeze == std::vector<std::string>{"fc1.*", "fc2.*", "x.*"});
  CHECK(clf.settings == std::vector<std::string>{"epochs=3", "lr=0.5", "seed=2", "data.train.count=100"});
  CHECK(p.stages[1].inits[0].maps == std::vector<std::string>{"enc1.*->enc1.*"});  // a bare glob: same names
  CHECK(p.stages[3].kind == StageKind::Eval);
  CHECK(p.stages[3].of == "clf");
  CHECK(p.stages[3].out == "/abs/report.eval.json");  // beside the checkpoint it evaluates
  CHECK(p.stages[4].node == "fc2");
  CHECK(p.stages[4].data == "train");
  CHECK(p.stages[4].out == "p/codes.npy");
  std::vector<std::string> upstream;
  for (const Stage* s : p.upstream(clf)) upstream.push_back(s->name);
  CHECK(upstream == std::vector<std::string>{"dae1", "dae2"});
  CHECK(p.stages[0].text == "stage dae1 = train \"a/l1.graph\" -> \"out/dae1.safetensors\"");
}

TEST_CASE("a stage's text ignores spacing, line breaks and comments") {
  DiagnosticSink sink;
  const Pipeline a = parse("stage a = train \"g\" set { epochs=2 } -> \"o\"\n", sink);
  const Pipeline b = parse("stage   a=train \"g\"  # the graph\n\tset {epochs = 2}\n  -> \"o\"\n", sink);
  REQUIRE_FALSE(sink.has_errors());
  CHECK(a.stages[0].text == b.stages[0].text);
}

TEST_CASE("the example pipelines parse") {
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(HG_SOURCE_DIR) + "/graphs/pipelines")) {
    if (entry.path().extension() != ".pipeline") continue;
    CAPTURE(entry.path().string());
    const Pipeline p = load_pipeline(entry.path().string());
    CHECK(!p.stages.empty());
    for (const Stage& s : p.stages)
      if (s.kind == StageKind::Train) CHECK(std::filesystem::exists(s.graph));
  }
}

TEST_CASE("syntax errors name the place and what was expected") {
  CHECK(errors_of("stage a = trian \"g\" -> \"o\"\n") ==
        "1:11: error: unknown stage kind 'trian' (did you mean 'train'?); a stage is train, eval, encode or "
        "summary\n");
  CHECK(errors_of("stgae a = eval b\n") ==
        "1:1: error: expected a line starting with 'stage', 'param' or 'sweep', found 'stgae' (did you mean "
        "'stage'?)\n");
  CHECK(errors_of("stage a train \"g\" -> \"o\"\n") == "1:9: error: expected '=' after 'a', found 'train'\n");
  CHECK(errors_of("stage a = train g -> \"o\"\n") ==
        "1:17: error: expected the graph file as a string after 'train', found 'g'\n");
  CHECK(errors_of("stage a = train \"g\" int b -> \"o\"\n") ==
        "1:21: error: unknown clause 'int' (did you mean 'init' or 'set'?); a train stage takes init, freeze "
        "and set, then -> \"OUT\"\n");
  CHECK(errors_of("stage a = train \"g\" set { epochs=2 }\n") ==
        "1:37: error: train stage 'a' has no output: end it with -> \"out/a.safetensors\"\n");
  CHECK(errors_of("stage a = train \"g\" -> \"o\" \"p\"\n") ==
        "1:28: error: expected the end of stage 'a' after its output, found string \"p\"\n");
  CHECK(errors_of("stage a = train \"g\" set { epoch=2 } -> \"o\"\n") ==
        "1:27: error: unknown setting 'epoch' (did you mean 'epochs'?)\n");
  CHECK(errors_of("stage a = train \"g\" set { lr=-1 } -> \"o\"\n") == "1:27: error: lr must be positive\n");
  CHECK(errors_of("stage a = train \"g\" set { data.train.size=100 } -> \"o\"\n") ==
        "1:27: error: expected data.NAME.FIELD=VALUE with FIELD one of skip, count, subset.n, subset.seed, "
        "subset.balanced, split.valid, split.seed, split.stratify (like data.train.count=100)\n");
  CHECK(errors_of("stage a = train \"g\" set { data.train.count=2.5 } -> \"o\"\n") ==
        "1:27: error: count must be a whole number >= 0, found '2.5'\n");
  CHECK(errors_of("stage a = train \"g\" -> 'o'\n") ==
        "1:24: error: unexpected character ''' (strings use double quotes)\n");
  CHECK(errors_of("stage e = encode a -> \"x.npy\"\n") ==
        "1:20: error: encode stage 'e' needs the node to export: node NAME\n");
  CHECK(
      errors_of(std::string(kTwoLayers) + "stage e = encode dae1 node enc1 -> \"x.txt\"\n") ==
      "3:33: error: cannot tell the format of 'x.txt' from its extension; use .csv, .npy, .svm or .libsvm\n");
  CHECK(errors_of("# nothing here\n") ==
        "error: no stages: a pipeline has lines like stage NAME = train \"GRAPH\" -> \"OUT\"\n");
}

TEST_CASE("init rules are checked where they are written") {
  CHECK(errors_of(std::string(kTwoLayers) +
                  "stage c = train \"g\" init dae1 { \"enc1.*\" -> \"fc1\" } -> \"o\"\n") ==
        "3:33: error: 'enc1.*' and 'fc1' need a '*' on both sides or on neither: the source's '*' text fills "
        "the "
        "target's\n");
  CHECK(errors_of(std::string(kTwoLayers) + "stage c = train \"g\" init dae1 { \"a*b*\" } -> \"o\"\n") ==
        "3:33: error: each side of a map rule may have one '*'\n");
  CHECK(errors_of(std::string(kTwoLayers) + "stage c = train \"g\" init dae1 { } -> \"o\"\n") ==
        "3:31: error: empty { }: leave it out to load every tensor into the parameter of its name\n");
}

TEST_CASE("unknown, duplicate, late and cyclic stage references are errors") {
  CHECK(errors_of(std::string(kTwoLayers) + "stage c = train \"g\" init dae3 -> \"o\"\n") ==
        "3:26: error: unknown stage 'dae3' (did you mean 'dae1' or 'dae2'?)\n");
  CHECK(errors_of(std::string(kTwoLayers) + "stage report = eval dea2\n") ==
        "3:21: error: unknown stage 'dea2' (did you mean 'dae2'?)\n");
  CHECK(errors_of(std::string(kTwoLayers) + "stage dae1 = train \"g\" -> \"o\"\n") ==
        "3:7: error: stage 'dae1' is already defined\n1:7: note: first defined here\n");
  CHECK(errors_of(std::string(kTwoLayers) + "stage c = train \"g\" -> \"out/dae2.safetensors\"\n") ==
        "3:7: error: 'out/dae2.safetensors' is already the output of stage 'dae2'\n");
  CHECK(errors_of("stage report = eval clf\nstage clf = train \"g\" -> \"o\"\n") ==
        "1:21: error: stage 'clf' is used before it is defined; stages run in file order\n"
        "2:7: note: 'clf' is defined here\n");
  CHECK(errors_of("stage a = train \"g\" init b -> \"a\"\nstage b = train \"g\" init a -> \"b\"\n") ==
        "1:26: error: cycle: stage 'a' depends on itself (a -> b -> a)\n");
  CHECK(errors_of("stage a = train \"g\" init a -> \"a\"\n") ==
        "1:26: error: cycle: stage 'a' depends on itself (a -> a)\n");
  CHECK(errors_of(std::string(kTwoLayers) + "stage r = eval dae1\nstage c = train \"g\" init r -> \"o\"\n") ==
        "4:26: error: stage 'r' is an eval stage; train init needs a train stage's checkpoint\n"
        "3:7: note: 'r' is defined here\n");
}

TEST_CASE("every error in a pipeline is reported, in file order, without echoes of broken stages") {
  CHECK(errors_of("stage first = train \"g\" init zeroth -> \"a\"\n"
                  "stage second = trian \"g\" -> \"b\"\n"
                  "stage third = eval second\n"
                  "stage fourth = train \"g\" set { bogus=1 } -> \"d\"\n") ==
        "1:30: error: unknown stage 'zeroth'\n"
        "2:16: error: unknown stage kind 'trian' (did you mean 'train'?); a stage is train, eval, encode or "
        "summary\n"
        "4:32: error: unknown setting 'bogus'; the settings are batch, epochs, seed, lr, momentum, "
        "test_every, precision, initializer, data.NAME.count and data.NAME.skip\n");
}

TEST_CASE("a fingerprint changes with the graph, the stage's text, the flags and each upstream stage") {
  const StageInputs base{"g1", "stage a = train \"g\" -> \"o\"", "--limit 10", {{"up", "f1"}}};
  std::vector<StageInputs> variants(4, base);
  variants[0].graph_hash = "g2";
  variants[1].text += " ";
  variants[2].flags = "--limit 20";
  variants[3].upstream[0].second = "f2";
  for (const StageInputs& v : variants) CHECK(v.fingerprint() != base.fingerprint());
  CHECK(StageInputs(base).fingerprint() == base.fingerprint());
}

TEST_CASE("run_reason says why a stage runs, and nothing when it is up to date") {
  DiagnosticSink sink;
  const Pipeline p = parse(kTwoLayers, sink);
  const Stage& dae2 = p.stages[1];
  const StageInputs now{"g1", dae2.text, "--limit 10", {{"dae1", "f1"}}};
  const Stamp done{now, true};
  CHECK(run_reason(dae2, now, done, true, {}, false) == "");
  CHECK(run_reason(dae2, now, done, true, {}, true) == "--force");
  CHECK(run_reason(dae2, now, done, false, {}, false) == "no output yet");
  CHECK(run_reason(dae2, now, std::nullopt, true, {}, false) == "no stamp from a finished run");
  CHECK(run_reason(dae2, now, done, true, {"dae1"}, false) == "'dae1' reran");
  CHECK(run_reason(dae2, now, Stamp{now, false}, true, {}, false) == "did not finish");
  Stamp old = done;
  old.inputs.graph_hash = "g0";
  CHECK(run_reason(dae2, now, old, true, {}, false) == "graph changed");
  old = done;
  old.inputs.text = "stage dae2 = train \"other\" -> \"o\"";
  CHECK(run_reason(dae2, now, old, true, {}, false) == "stage 'dae2' changed");
  old = done;
  old.inputs.flags = "";
  CHECK(run_reason(dae2, now, old, true, {}, false) == "run flags changed");
  old = done;
  old.inputs.upstream[0].second = "f0";
  CHECK(run_reason(dae2, now, old, true, {}, false) == "'dae1' changed");
}

TEST_CASE("stamps round-trip, and a damaged or edited one does not count") {
  const std::string path = test::scratch_path("stage.stamp");
  const StageInputs inputs{"g1", "stage a = train \"g\" -> \"o\"", "--limit 10", {{"up", "f1"}}};
  write_stamp(path, "a", inputs, true);
  std::optional<Stamp> stamp = read_stamp(path);
  REQUIRE(stamp);
  CHECK(stamp->complete);
  CHECK(stamp->inputs.fingerprint() == inputs.fingerprint());
  CHECK(stamp->inputs.upstream == inputs.upstream);
  write_stamp(path, "a", inputs, false);
  CHECK_FALSE(read_stamp(path)->complete);
  std::ofstream(path) << "{\"fingerprint\": ";
  CHECK_FALSE(read_stamp(path));
  std::ofstream(path)
      << "{\"fingerprint\": \"0\", \"complete\": true, \"graph_hash\": \"g1\", \"stage_text\": "
         "\"t\", \"flags\": \"\", \"upstream\": []}";
  CHECK_FALSE(read_stamp(path));  // the parts do not give that fingerprint
  CHECK_FALSE(read_stamp(test::scratch_path("no-such.stamp")));
}

TEST_CASE("a graph's hash covers the files it includes") {
  const std::string dir = test::scratch_path("hash_graphs");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/common.graph") << "input x : [4] <- image\n";
  std::ofstream(dir + "/main.graph") << "include \"common.graph\"\nh = dense(x, 2)\n";
  const std::string before = graph_text_hash(dir + "/main.graph");
  CHECK(before == graph_text_hash(dir + "/main.graph"));
  std::ofstream(dir + "/common.graph") << "input x : [8] <- image\n";
  CHECK(graph_text_hash(dir + "/main.graph") != before);
  CHECK(graph_text_hash(dir + "/missing.graph").rfind("error-", 0) == 0);
}

TEST_CASE("parameters fill {NAME} in paths and bare names in settings, and --param overrides them") {
  const std::string text =
      "param seed = 1\nparam labels = 100\n"
      "stage dae1 = train \"a/l1.graph\" set { seed=seed } -> \"out/{seed}/dae1.safetensors\"\n"
      "stage clf = train \"a/c.graph\" init dae1 set { seed=seed data.train.count=labels }\n"
      "              -> \"out/{seed}/clf_{labels}.safetensors\"\n";
  DiagnosticSink sink;
  const Pipeline one = parse_pipeline("p/x.pipeline", text, sink);
  REQUIRE_FALSE(sink.has_errors());
  REQUIRE(one.params.size() == 2);
  CHECK(one.stages[0].out == "p/out/1/dae1.safetensors");
  CHECK(one.stages[0].settings == std::vector<std::string>{"seed=1"});
  CHECK(one.stages[1].out == "p/out/1/clf_100.safetensors");
  CHECK(one.stages[1].settings == std::vector<std::string>{"seed=1", "data.train.count=100"});
  const Pipeline two = parse_pipeline("p/x.pipeline", text, sink, {"seed=2"});
  REQUIRE_FALSE(sink.has_errors());
  CHECK(two.stages[0].out == "p/out/2/dae1.safetensors");
  CHECK(two.stages[1].settings == std::vector<std::string>{"seed=2", "data.train.count=100"});
  // The substituted values are the stage's text, so they enter its fingerprint and stamp.
  CHECK(one.stages[0].text != two.stages[0].text);
  CHECK(two.stages[0].text.find("\"out/2/dae1.safetensors\"") != std::string::npos);
  const Pipeline labels = parse_pipeline("p/x.pipeline", text, sink, {"labels=1000"});
  CHECK(labels.stages[0].text == one.stages[0].text);  // dae1 does not use labels: it stays up to date
  CHECK(labels.stages[1].text != one.stages[1].text);
}

TEST_CASE("parameter mistakes are errors at their place or flag") {
  CHECK(errors_of("param seed = 1\nstage a = train \"g\" -> \"out/{sed}/a\"\n") ==
        "2:24: error: unknown parameter '{sed}' (did you mean 'seed'?)\n");
  CHECK(errors_of("stage a = train \"g\" -> \"out/{seed}/a\"\n") ==
        "1:24: error: unknown parameter '{seed}'; declare it with param seed = VALUE\n");
  CHECK(errors_of("param seed = 1\nparam seed = 2\nstage a = train \"g\" -> \"a\"\n") ==
        "2:7: error: parameter 'seed' is already defined\n1:7: note: first defined here\n");
  CHECK(errors_of("param seed =\nstage a = train \"g\" -> \"a\"\n") ==
        "1:13: error: expected a value for parameter 'seed' (a number, a name or a string), found end of "
        "line\n");
  CHECK(errors_of("param seed = 1\nsweep { sed = 1, 2 }\nstage a = train \"g\" -> \"a\"\n") ==
        "2:9: error: sweep over 'sed', which is no parameter; declare it with param sed = VALUE\n");
  DiagnosticSink sink;
  parse_pipeline("p/x.pipeline", "param seed = 1\nstage a = train \"g\" -> \"a\"\n", sink, {"sed=2"});
  REQUIRE(sink.count() == 1);
  CHECK(sink.diagnostics()[0].str() ==
        "--param sed=2: error: the pipeline has no parameter 'sed' (did you mean 'seed'?); declare it with "
        "param sed = VALUE\n");
}

TEST_CASE("a sweep block and --sweep flags make a grid, the first axis slowest") {
  DiagnosticSink sink;
  const Pipeline p =
      parse_pipeline("p/x.pipeline",
                     "param seed = 1\nparam rate = 0.1\nsweep {\n  seed = 1, 2, 3\n  rate = 0.1, 0.25\n}\n"
                     "stage a = train \"g\" set { seed=seed } -> \"out/{seed}_{rate}/a\"\n",
                     sink);
  REQUIRE_FALSE(sink.has_errors());
  REQUIRE(p.sweep.size() == 2);
  CHECK(p.sweep[0].values == std::vector<std::string>{"1", "2", "3"});
  CHECK(p.sweep[1].values == std::vector<std::string>{"0.1", "0.25"});
  const auto grid = sweep_grid(p.sweep);
  REQUIRE(grid.size() == 6);
  CHECK(grid[0] == std::vector<std::string>{"seed=1", "rate=0.1"});
  CHECK(grid[1] == std::vector<std::string>{"seed=1", "rate=0.25"});
  CHECK(grid[5] == std::vector<std::string>{"seed=3", "rate=0.25"});
  CHECK(sweep_grid({}).size() == 1);
  CHECK(parse_sweep_flag("seed=4,5").values == std::vector<std::string>{"4", "5"});
  CHECK_THROWS_AS(parse_sweep_flag("seed"), Error);
  CHECK_THROWS_AS(parse_sweep_flag("seed=1,,2"), Error);
}

TEST_CASE("a summary stage pairs eval stages") {
  DiagnosticSink sink;
  const Pipeline p = parse_pipeline("p/x.pipeline",
                                    std::string(kTwoLayers) +
                                        "stage ea = eval dae1\nstage eb = eval dae2\n"
                                        "stage table = summary { ea - eb } -> \"out/summary\"\n",
                                    sink);
  REQUIRE_FALSE(sink.has_errors());
  REQUIRE(p.stages.size() == 5);
  CHECK(p.stages[4].kind == StageKind::Summary);
  CHECK(p.stages[4].out == "p/out/summary");
  CHECK(p.stages[4].pairs == std::vector<std::pair<std::string, std::string>>{{"ea", "eb"}});
  CHECK(errors_of(std::string(kTwoLayers) + "stage table = summary { dae1 - dae2 } -> \"s\"\n") ==
        "3:25: error: stage 'dae1' is a train stage; a summary pairs eval stages\n1:7: note: 'dae1' is "
        "defined here\n"
        "3:25: error: stage 'dae2' is a train stage; a summary pairs eval stages\n2:7: note: 'dae2' is "
        "defined here\n");
}

TEST_CASE("reference checks stay fast on 2,000 chained stages, forward references included") {
  // Each stage initializes from the next one down, so that every reference is a forward one and the cycle
  // search walks the whole chain from each: quadratic at worst with the name index, cubic without it.
  std::string text;
  const int n = 2000;
  for (int i = 0; i < n; ++i)
    text += "stage s" + std::to_string(i) + " = train \"g\"" +
            (i + 1 < n ? " init s" + std::to_string(i + 1) : std::string()) + " -> \"o" + std::to_string(i) +
            "\"\n";
  DiagnosticSink sink;
  const auto start = std::chrono::steady_clock::now();
  const Pipeline p = parse_pipeline("p/x.pipeline", text, sink);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(p.stages.size() == size_t(n));
  CHECK(sink.count() == size_t(n - 1));  // every init names a stage defined later
  CHECK(seconds < 2.0);
  MESSAGE("2,000 chained stages checked in " << seconds << " s");
  // Chained backwards, as pipelines are written, there is nothing to report.
  std::string good;
  for (int i = 0; i < n; ++i)
    good += "stage s" + std::to_string(i) + " = train \"g\"" +
            (i ? " init s" + std::to_string(i - 1) : std::string()) + " -> \"o" + std::to_string(i) + "\"\n";
  DiagnosticSink clean;
  parse_pipeline("p/x.pipeline", good, clean);
  CHECK_FALSE(clean.has_errors());
}

TEST_CASE("init takes a checkpoint file as well as a stage") {
  DiagnosticSink sink;
  const Pipeline p = parse_pipeline(
      "p/x.pipeline",
      "stage a = train \"g\" init \"pre/dae.safetensors\" { \"enc.*\" -> \"fc1.*\" } -> \"out/a\"\n", sink);
  REQUIRE_FALSE(sink.has_errors());
  REQUIRE(p.stages[0].inits.size() == 1);
  CHECK(p.stages[0].inits[0].stage == "");
  CHECK(p.stages[0].inits[0].checkpoint == "p/pre/dae.safetensors");
  CHECK(p.stages[0].inits[0].maps == std::vector<std::string>{"enc.*->fc1.*"});
  CHECK(p.upstream(p.stages[0]).empty());
  CHECK(errors_of("stage a = train \"g\" init 3 -> \"o\"\n") ==
        "1:26: error: expected the stage to initialize from after 'init', or a checkpoint file as a string, "
        "found number 3\n");
}
