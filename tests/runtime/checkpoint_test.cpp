// Checkpoints against the safetensors spec (https://github.com/huggingface/safetensors: an 8-byte
// little-endian header length N, N bytes of JSON padded with spaces, then the tensors tiling the data),
// read back by an independent numpy reader, and every kind of broken file reported with its path and tensor.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "graph_fixture.h"
#include "mnist_fixture.h"
#include "plan/plan.h"
#include "runtime/checkpoint.h"
#include "test_skip.h"

using namespace hg;
using json = nlohmann::ordered_json;

namespace {

const char* kTinyGraph =
    "input x : [8] <- image\nnoisy = corrupt.masking(x, rate=0.25)\nh = dense(noisy, 4) |> sigmoid\n"
    "r = dense(h, 8) |> sigmoid\nloss = loss.mse(r, x) + 0.001 * reg.l2(h.weights)\n"
    "train { optimizer = adam(lr=0.01) batch = 4 seed = 3 }\n";

// A tiny model after two training steps, so that weights, biases and both Adam moments are all non-zero.
// Each test writes its own graph file: CTest runs test cases as parallel processes.
struct TinyRun {
  std::string graph;
  Model model;
  explicit TinyRun(const std::string& name)
      : graph(test::write_graph(name + ".graph", kTinyGraph)), model(graph, ModelOptions{}) {
    Plan plan(model.graph, model.parameters, model.plugins, 4, PlanMode::Train);
    for (uint64_t step = 0; step < 2; ++step) {
      test::fill_uniform(plan.buffer(model.graph.find("x")), 32, 11 + step);
      plan.set_step_seed(step);
      plan.run_serial();
    }
    model.epoch = 1;
  }
};

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

uint64_t header_length(const std::string& bytes) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | uint8_t(bytes[size_t(i)]);  // little-endian, whatever the host
  return n;
}

std::string length_prefix(uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char(n >> (8 * i) & 0xff);
  return out;
}

struct Parts {
  json header;
  std::string data;
};

Parts split(const std::string& bytes) {
  const uint64_t n = header_length(bytes);
  return {json::parse(bytes.substr(8, n)), bytes.substr(8 + n)};
}

std::string join(const json& header, const std::string& data) {
  const std::string text = header.dump();
  return length_prefix(text.size()) + text + data;
}

std::string hex(const float* values, int64_t count) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  const auto* bytes = reinterpret_cast<const uint8_t*>(values);
  for (int64_t i = 0; i < count * 4; ++i) out += {digits[bytes[i] >> 4], digits[bytes[i] & 15]};
  return out;
}

}  // namespace

TEST_CASE("a checkpoint follows the safetensors layout byte for byte") {
  TinyRun run("tiny_layout");
  const std::string path = test::scratch_path("tiny.safetensors");
  save_checkpoint(path, run.model, {{"note", "hello"}});
  const std::string bytes = file_bytes(path);
  REQUIRE(bytes.size() >= 8);
  const uint64_t n = header_length(bytes);
  REQUIRE(8 + n <= bytes.size());
  CHECK((8 + n) % 8 == 0);  // the padding keeps every tensor 8-byte aligned
  const std::string text = bytes.substr(8, n);
  CHECK(text.front() == '{');
  const size_t close = text.rfind('}');
  CHECK(text.find_first_not_of(' ', close + 1) == std::string::npos);  // padded with spaces only
  const json header = json::parse(text);
  REQUIRE(header.is_object());
  REQUIRE(header.contains("__metadata__"));
  for (auto& item : header["__metadata__"].items()) {  // not a structured binding: CAPTURE's lambda names it
    const std::string key = item.key();
    CAPTURE(key);
    CHECK(item.value().is_string());  // the spec's metadata is a map of strings
  }

  // Every tensor is F32 with a shape, and their offsets tile the data section from 0 with no gap.
  const uint64_t data_size = bytes.size() - 8 - n;
  uint64_t expected_begin = 0;
  std::vector<std::string> names;
  for (auto& item : header.items()) {  // not a structured binding: CAPTURE's lambda names it
    const std::string name = item.key();
    const json& entry = item.value();
    if (name == "__metadata__") continue;
    CAPTURE(name);
    names.push_back(name);
    CHECK(entry.at("dtype") == "F32");
    uint64_t elements = 1;
    for (const auto& d : entry.at("shape")) elements *= d.get<uint64_t>();
    const auto offsets = entry.at("data_offsets").get<std::vector<uint64_t>>();
    REQUIRE(offsets.size() == 2);
    CHECK(offsets[0] == expected_begin);
    CHECK(offsets[1] - offsets[0] == elements * 4);
    expected_begin = offsets[1];
  }
  CHECK(expected_begin == data_size);

  // Parameters under their names in PyTorch layout, then Adam's two moments per parameter.
  ParameterStore& store = run.model.parameters;
  CHECK(names == std::vector<std::string>{"h.weights", "h.bias", "r.weights", "r.bias",
                                          "__optimizer__.state0.h.weights", "__optimizer__.state0.h.bias",
                                          "__optimizer__.state0.r.weights", "__optimizer__.state0.r.bias",
                                          "__optimizer__.state1.h.weights", "__optimizer__.state1.h.bias",
                                          "__optimizer__.state1.r.weights", "__optimizer__.state1.r.bias"});
  CHECK(header["h.weights"]["shape"] == json::array({4, 8}));
  for (const ParameterSlot& s : store.slots()) {
    CAPTURE(s.name);
    const uint64_t begin = header[s.name]["data_offsets"][0].get<uint64_t>();
    CHECK(std::memcmp(bytes.data() + 8 + n + begin, store.values() + s.offset, size_t(s.count) * 4) == 0);
    for (int which = 0; which < 2; ++which) {
      const uint64_t at = header[optimizer_tensor_name(which, s.name)]["data_offsets"][0].get<uint64_t>();
      CHECK(std::memcmp(bytes.data() + 8 + n + at, store.state(which) + s.offset, size_t(s.count) * 4) == 0);
    }
  }

  // What --resume needs: graph hash, epoch and step, optimizer, random streams, and the terms with values.
  const json& meta = header["__metadata__"];
  CHECK(meta["note"] == "hello");
  CHECK(meta["graph_hash"] == run.model.graph.source_hash);
  CHECK(meta["epoch"] == "1");
  CHECK(meta["step"] == "2");
  CHECK(meta["seed"] == "3");
  CHECK(meta["batch"] == "4");
  CHECK(meta["optimizer"] == "adam");
  CHECK(meta["optimizer.learning_rate"] == "0.01");
  CHECK(meta["optimizer.beta1"] == "0.9");
  CHECK(meta["random_streams"] == kRandomStreams);
  const json terms = json::parse(meta["terms"].get<std::string>());
  REQUIRE(terms.size() == 3);
  CHECK(terms[0]["term"] == "corrupt.masking");
  CHECK(terms[0]["params"]["rate"] == 0.25);
  CHECK(!terms[0]["version"].get<std::string>().empty());
  CHECK(terms[2]["term"] == "reg.l2");
  CHECK(terms[2]["weight"] == 0.001);
}

TEST_CASE("sgd checkpoints carry one state tensor per parameter, its momentum") {
  const std::string graph =
      test::write_graph("tiny_sgd.graph",
                        "input x : [8] <- image\nr = dense(x, 8) |> sigmoid\n"
                        "loss = loss.mse(r, x)\ntrain { optimizer = sgd(lr=0.1, momentum=0.9) }\n");
  Model model(graph, {});
  const std::string path = test::scratch_path("tiny_sgd.safetensors");
  save_checkpoint(path, model);
  const CheckpointFile file(path);
  CHECK(file.tensors().size() == 4);
  CHECK(file.find("__optimizer__.state0.r.weights") != nullptr);
  CHECK(file.find("__optimizer__.state1.r.weights") == nullptr);
  CHECK(file.metadata("optimizer.momentum") == "0.9");
}

TEST_CASE("numpy reads a checkpoint with a plain header parse and np.frombuffer") {
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
    return test::skip_test("python3 with numpy is not installed (apt-get install python3-numpy)");
  }
  TinyRun run("tiny_numpy");
  const std::string path = test::scratch_path("tiny_numpy.safetensors");
  save_checkpoint(path, run.model);
  const std::string script = test::scratch_path("read_safetensors.py"),
                    out = test::scratch_path("read_safetensors.txt");
  std::ofstream(script)
      << "import json, struct, sys\nimport numpy as np\n"
         "raw = open(sys.argv[1], 'rb').read()\n"
         "(n,) = struct.unpack('<Q', raw[:8])\n"
         "header = json.loads(raw[8:8 + n])\n"
         "data = raw[8 + n:]\n"
         "for name, entry in header.items():\n"
         "    if name == '__metadata__':\n"
         "        continue\n"
         "    begin, end = entry['data_offsets']\n"
         "    assert entry['dtype'] == 'F32'\n"
         "    a = np.frombuffer(data[begin:end], dtype='<f4').reshape(entry['shape'])\n"
         "    print(name, 'x'.join(map(str, a.shape)), a.tobytes().hex(), repr(float(a.flat[-1])))\n";
  REQUIRE(std::system(("/usr/bin/python3 " + script + " " + path + " > " + out).c_str()) == 0);
  std::ifstream lines(out);
  std::map<std::string, std::string> read;
  for (std::string name, shape, bytes, last; lines >> name >> shape >> bytes >> last;)
    read[name] = shape + " " + bytes;
  ParameterStore& store = run.model.parameters;
  CHECK(read.size() == 12);
  for (const ParameterSlot& s : store.slots()) {
    CAPTURE(s.name);
    const std::string shape = s.dims.size() == 2 ? std::to_string(s.dims[0]) + "x" + std::to_string(s.dims[1])
                                                 : std::to_string(s.dims[0]);
    CHECK(read[s.name] == shape + " " + hex(store.values() + s.offset, s.count));
    CHECK(read[optimizer_tensor_name(1, s.name)] == shape + " " + hex(store.state(1) + s.offset, s.count));
  }
}

TEST_CASE("every kind of broken checkpoint is an error naming the file and the tensor") {
  TinyRun run("tiny_broken");
  const std::string good = test::scratch_path("tiny_good.safetensors");
  save_checkpoint(good, run.model);
  const std::string bytes = file_bytes(good);
  const std::string bad = test::scratch_path("tiny_bad.safetensors");
  auto load_error = [&](const std::string& contents) {
    write_bytes(bad, contents);
    Model fresh(run.graph, {});
    try {
      load_checkpoint(bad, fresh);
    } catch (const Error& e) {
      const std::string message = e.what();
      CHECK(message.find(bad + ": error: ") == 0);
      return message;
    }
    return std::string("no error");
  };
  auto edited = [&](const std::function<void(Parts&)>& edit) {
    Parts parts = split(bytes);
    edit(parts);
    return join(parts.header, parts.data);
  };
  auto has = [](const std::string& message, const std::string& text) {
    CAPTURE(message);
    CHECK(message.find(text) != std::string::npos);
  };

  SUBCASE("shorter than the length prefix") {
    has(load_error(bytes.substr(0, 5)), "shorter than its 8-byte header length");
  }
  SUBCASE("a header length beyond the file") {
    has(load_error(length_prefix(1 << 20) + bytes.substr(8)),
        "truncated: header length 1048576 exceeds the file");
  }
  SUBCASE("truncated in the data") {
    has(load_error(bytes.substr(0, bytes.size() - 6)),
        "tensor '__optimizer__.state1.r.bias' has data_offsets [880, 912] past the end of the data (906 "
        "bytes)");
  }
  SUBCASE("trailing bytes") {
    has(load_error(bytes + "junk"), "the tensors cover 912 bytes, but the data section has 916");
  }
  SUBCASE("corrupt JSON, reported without the parser's internals") {
    const std::string text = "{\"h.weights\": [oops";
    const std::string message = load_error(length_prefix(text.size()) + text);
    CHECK(message == bad + ": error: corrupt safetensors header: its JSON is malformed at byte 16 of 19");
  }
  SUBCASE("a number too large for any reader (found by fuzzing: it escaped as a raw exception)") {
    const std::string text = "{\"h.bias\": {\"dtype\": \"F32\", \"shape\": [1e3056]}}";
    CHECK(load_error(length_prefix(text.size()) + text) ==
          bad + ": error: corrupt safetensors header: its JSON holds a number too large to read");
  }
  SUBCASE("a header length past the format's limit is refused before the header is read") {
    write_bytes(bad, length_prefix(200'000'000));
    std::filesystem::resize_file(bad, 200'000'008);  // sparse: no disk space, and nothing is allocated
    Model fresh(run.graph, {});
    CHECK_THROWS_WITH_AS(
        load_checkpoint(bad, fresh),
        (bad + ": error: header length 200000000 exceeds the format's limit of 100000000 bytes").c_str(),
        Error);
  }
  SUBCASE("a header that is not an object") {
    has(load_error(length_prefix(2) + "[]"), "not a JSON object");
  }
  SUBCASE("non-string metadata") {
    has(load_error(edited([](Parts& p) { p.header["__metadata__"]["step"] = 2; })),
        "__metadata__ value 'step' is not a string");
  }
  SUBCASE("a tensor of the wrong dtype") {
    has(load_error(edited([](Parts& p) { p.header["h.bias"]["dtype"] = "I32"; })),
        "tensor 'h.bias' is I32, expected F32");
  }
  SUBCASE("a dtype safetensors does not have") {
    has(load_error(edited([](Parts& p) { p.header["h.bias"]["dtype"] = "F24"; })),
        "tensor 'h.bias' has the unknown dtype 'F24'");
  }
  SUBCASE("a shape that differs from the graph's") {
    has(load_error(edited([](Parts& p) {
          p.header["h.weights"]["shape"] = {8, 4};
        })),
        "tensor 'h.weights' is [8, 4], the graph's is [4, 8]");
  }
  SUBCASE("a shape that does not match its bytes") {
    has(load_error(edited([](Parts& p) {
          p.header["h.weights"]["shape"] = {4, 9};
        })),
        "tensor 'h.weights' is F32 [4, 9] (144 bytes), but its data_offsets [0, 128] do not span that");
    has(load_error(edited([](Parts& p) {
          p.header["h.weights"]["shape"] = {1ll << 40, 1ll << 40};
        })),
        "(18446744073709551615 bytes), but its data_offsets [0, 128] do not span that");  // no overflow
  }
  SUBCASE("a negative dimension") {
    has(load_error(edited([](Parts& p) { p.header["h.bias"]["shape"] = {-4}; })),
        "tensor 'h.bias' has a negative dimension");
  }
  SUBCASE("dimensions that are not whole numbers in range are refused, not converted") {
    CHECK(load_error(edited([](Parts& p) {
            p.header["h.weights"]["shape"] = {1e30, 4};
          })) == bad +
                     ": error: tensor 'h.weights': 'shape' entry 0 is 1e+30, not a whole number from 0 to "
                     "9223372036854775807");
    CHECK(load_error(edited([](Parts& p) {
            p.header["h.weights"]["shape"] = {2.9, 4.7};
          })) == bad +
                     ": error: tensor 'h.weights': 'shape' entry 0 is 2.9, not a whole number from 0 to "
                     "9223372036854775807");
    CHECK(load_error(edited([](Parts& p) {
            p.header["h.weights"]["shape"] = {4, 18446744073709551615ull};
          })) == bad +
                     ": error: tensor 'h.weights': 'shape' entry 1 is 18446744073709551615, not a whole "
                     "number from 0 to 9223372036854775807");
    CHECK(load_error(edited([](Parts& p) {
            p.header["h.weights"]["shape"] = {"4", "8"};
          })) == bad +
                     ": error: tensor 'h.weights': 'shape' entry 0 is \"4\", not a whole number from 0 to "
                     "9223372036854775807");
  }
  SUBCASE("every malformed field is a sentence naming the tensor and the field") {
    CHECK(load_error(edited([](Parts& p) {
            p.header["h.bias"] = json::array({1, 2});
          })) ==
          bad +
              ": error: tensor 'h.bias': its header entry is [1,2], not an object with dtype, shape and "
              "data_offsets");
    CHECK(load_error(edited([](Parts& p) { p.header["h.bias"]["shape"] = json::object(); })) ==
          bad + ": error: tensor 'h.bias': 'shape' is {}, not a list");
    CHECK(load_error(edited([](Parts& p) { p.header["h.bias"]["dtype"] = 32; })) ==
          bad + ": error: tensor 'h.bias': 'dtype' is 32, not a string");
    CHECK(load_error(edited([](Parts& p) {
            p.header["h.bias"]["data_offsets"] = {128.5, 144};
          })) == bad + ": error: tensor 'h.bias': 'data_offsets' [128.5,144] are not two byte offsets");
  }
  SUBCASE("offsets out of range") {
    has(load_error(edited([](Parts& p) {
          p.header["r.bias"]["data_offsets"] = {100000, 100032};
        })),
        "tensor 'r.bias' has data_offsets [100000, 100032] past the end of the data");
  }
  SUBCASE("offsets that overlap another tensor") {
    has(load_error(edited([](Parts& p) {
          p.header["h.bias"]["data_offsets"] = {0, 16};
        })),
        "tensor 'h.bias' starts at byte 0 of the data, but the tensors before it end at 128 (safetensors "
        "allows no gaps or overlaps)");
  }
  SUBCASE("malformed offsets") {
    has(load_error(edited([](Parts& p) { p.header["h.bias"]["data_offsets"] = {128}; })),
        "tensor 'h.bias': 'data_offsets' is [128], not [begin, end]");
    CHECK(load_error(edited([](Parts& p) { p.header["h.bias"].erase("shape"); })) ==
          bad + ": error: tensor 'h.bias' has no 'shape' field");
  }
  SUBCASE("a tensor the graph needs is missing") {
    Parts parts = split(bytes);
    parts.header = json{{"h.weights", parts.header["h.weights"]}};
    has(load_error(join(parts.header, parts.data.substr(0, 128))),
        "checkpoint has no tensor 'h.bias' that the graph needs");
  }
}

TEST_CASE("resuming needs the optimizer state and hourglass metadata") {
  TinyRun run("tiny_resume");
  const std::string good = test::scratch_path("tiny_resume.safetensors");
  save_checkpoint(good, run.model);
  Parts parts = split(file_bytes(good));
  const std::string bad = test::scratch_path("tiny_resume_bad.safetensors");
  auto resume_error = [&](const json& header, const std::string& data) {
    write_bytes(bad, join(header, data));
    Model fresh(run.graph, {});
    try {
      resume_checkpoint(bad, fresh);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  json weights_only;
  for (auto& [name, entry] : parts.header.items())
    if (!is_optimizer_tensor(name)) weights_only[name] = entry;
  weights_only["__metadata__"].erase("data_crc32");  // it covered the optimizer state cut off here
  CHECK(resume_error(weights_only, parts.data.substr(0, 4 * (32 + 4 + 32 + 8))) ==
        bad +
            ": error: checkpoint has no tensor '__optimizer__.state0.h.weights' (optimizer state): it cannot "
            "be "
            "resumed; start from its weights with --init");
  json no_meta = parts.header;
  no_meta.erase("__metadata__");
  CHECK(resume_error(no_meta, parts.data).find("not written by `hourglass train`") != std::string::npos);
  json bad_step = parts.header;
  bad_step["__metadata__"]["step"] = "two";
  CHECK(resume_error(bad_step, parts.data) ==
        bad + ": error: metadata 'step' is 'two', not a count: the checkpoint cannot be resumed");
  // An epoch of 2^63-1 once made the next epoch overflow and the run train forever.
  json huge_epoch = parts.header;
  huge_epoch["__metadata__"]["epoch"] = "9223372036854775807";
  CHECK(resume_error(huge_epoch, parts.data) ==
        bad +
            ": error: metadata 'epoch' is 9223372036854775807, more than the largest count a checkpoint may "
            "hold (9007199254740992): the file is damaged and cannot be resumed");
  json huge_step = parts.header;
  huge_step["__metadata__"]["step"] = "99999999999999999999999";
  CHECK(resume_error(huge_step, parts.data) ==
        bad +
            ": error: metadata 'step' is 99999999999999999999999, more than the largest count a checkpoint "
            "may hold (9007199254740992): the file is damaged and cannot be resumed");
  json signed_epoch = parts.header;
  signed_epoch["__metadata__"]["epoch"] = "+3";
  CHECK(resume_error(signed_epoch, parts.data) ==
        bad + ": error: metadata 'epoch' is '+3', not a count: the checkpoint cannot be resumed");
  Model fresh(run.graph, {});
  CHECK(resume_checkpoint(good, fresh).empty());
  CHECK(fresh.parameters.step == 2);
  CHECK(fresh.epoch == 1);
}

TEST_CASE("a failed write leaves the previous checkpoint in place") {
  TinyRun run("tiny_atomic");
  const std::string path = test::scratch_path("tiny_atomic.safetensors");
  save_checkpoint(path, run.model);
  const std::string before = file_bytes(path);
  const std::string temporary = path + "." + std::to_string(::getpid()) + ".tmp";
  std::filesystem::create_directories(temporary);  // the temporary file cannot be created
  CHECK_THROWS_AS(save_checkpoint(path, run.model, {{"note", "second"}}), Error);
  std::filesystem::remove(temporary);
  CHECK(file_bytes(path) == before);
}

TEST_CASE("the next write removes temporary files that killed writers left, and only theirs") {
  TinyRun run("tiny_stale");
  const std::string path = test::scratch_path("tiny_stale.safetensors");
  const std::string legacy = path + ".tmp", dead = path + ".2147483646.tmp", live = path + ".1.tmp",
                    other = test::scratch_path("tiny_other.safetensors.2147483646.tmp");
  for (const std::string& file : {legacy, dead, live, other}) write_bytes(file, std::string(1000, 'x'));
  save_checkpoint(path, run.model);
  CHECK_FALSE(std::filesystem::exists(legacy));
  CHECK_FALSE(std::filesystem::exists(dead));  // no process has that id: its writer was killed
  CHECK(std::filesystem::exists(live));        // process 1 runs: it might be writing right now
  CHECK(std::filesystem::exists(other));       // another checkpoint's
  CHECK_FALSE(std::filesystem::exists(path + "." + std::to_string(::getpid()) + ".tmp"));
  std::filesystem::remove(live);
  std::filesystem::remove(other);
}

TEST_CASE("a checksum of the data catches flipped bytes, and a file without one loads with a note") {
  TinyRun run("tiny_crc");
  const std::string good = test::scratch_path("tiny_crc.safetensors");
  save_checkpoint(good, run.model);
  const std::string bytes = file_bytes(good);
  Parts parts = split(bytes);
  REQUIRE(parts.header["__metadata__"].contains("data_crc32"));
  CHECK(parts.header["__metadata__"]["data_crc32"].get<std::string>().size() == 8);

  const std::string flipped_path = test::scratch_path("tiny_crc_flipped.safetensors");
  std::string flipped = bytes;
  flipped[flipped.size() - 3] ^=
      0x01;  // one bit of Adam's second moment: the weights load fine without a check
  write_bytes(flipped_path, flipped);
  Model fresh(run.graph, {});
  try {
    load_checkpoint(flipped_path, fresh);
    FAIL("a flipped bit loaded");
  } catch (const Error& e) {
    const std::string message = e.what();
    CHECK(message.find(flipped_path + ": error: the data section's CRC-32 is ") == 0);
    CHECK(message.find(
              "but the metadata records " + parts.header["__metadata__"]["data_crc32"].get<std::string>() +
              ": the tensors were changed or damaged after the file was written") != std::string::npos);
  }
  CHECK_THROWS_AS(resume_checkpoint(flipped_path, fresh), Error);

  const std::string foreign = test::scratch_path("tiny_crc_foreign.safetensors");
  parts.header["__metadata__"].erase("data_crc32");
  write_bytes(foreign, join(parts.header, parts.data));
  std::vector<std::string> notes;
  load_checkpoint(foreign, fresh, &notes);
  CHECK(notes ==
        std::vector<std::string>{"the file records no checksum of its data (it was not written by this "
                                 "version of hourglass), so damaged tensors cannot be detected"});
  CHECK(resume_checkpoint(foreign, fresh) == notes);

  parts.header["__metadata__"]["data_crc32"] = "xyz";
  write_bytes(foreign, join(parts.header, parts.data));
  CHECK_THROWS_WITH_AS(
      load_checkpoint(foreign, fresh),
      (foreign + ": error: metadata 'data_crc32' is 'xyz', not 8 lowercase hex digits").c_str(), Error);
}

TEST_CASE("a fresh run refuses an --out that holds another run, and notes when it restarts its own") {
  TinyRun run("tiny_fresh");
  const std::string out = test::scratch_path("tiny_fresh.safetensors");
  std::filesystem::remove(out);
  CHECK(check_fresh_output(out, run.model).empty());  // nothing there yet
  save_checkpoint(out, run.model);
  CHECK(check_fresh_output(out, run.model) ==
        "--out holds epoch 1 of this same run, which starting over replaces (to continue it instead, use "
        "--resume " +
            out + ")");

  const std::string other_graph =
      test::write_graph("tiny_fresh_other.graph", std::string(kTinyGraph) + "# edited\n");
  Model other(other_graph, {});
  try {
    check_fresh_output(out, other);
    FAIL("another run's checkpoint would be overwritten");
  } catch (const Error& e) {
    const std::string message = e.what();
    CHECK(message.find(out + ": error: --out holds another run (of '" + run.graph +
                       "', epoch 1): its graph hash is '") == 0);
    CHECK(message.find("; write this run elsewhere with --out, or overwrite it with --force") !=
          std::string::npos);
  }

  ModelOptions reseeded;
  reseeded.settings = {"seed=4"};
  Model seed4(run.graph, reseeded);
  CHECK_THROWS_WITH_AS(check_fresh_output(out, seed4),
                       (out + ": error: --out holds another run (of '" + run.graph +
                        "', epoch 1): its seed is '3', "
                        "this run's '4'; write this run elsewhere with --out, or overwrite it with --force")
                           .c_str(),
                       Error);

  write_bytes(out, "notes");
  CHECK_THROWS_WITH_AS(
      check_fresh_output(out, run.model),
      (out + ": error: --out names a file that is not a readable checkpoint (not a safetensors "
             "file: shorter than its 8-byte header length): write this run elsewhere with --out, or "
             "overwrite it with --force")
          .c_str(),
      Error);
}
