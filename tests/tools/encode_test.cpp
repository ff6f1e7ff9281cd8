// `hourglass encode`: a node's activations for every sample, in data order, as CSV, .npy and LibSVM that
// agree value for value; the .npy header matches numpy's own byte for byte; bad names and formats are clear.
#include <cstring>
#include <vector>

#include "test_skip.h"
#include "tool_runner.h"

using namespace hg::test;

namespace {

const int kRows = 5, kWidth = 32;
const int kLabels[kRows] = {7, 2, 1, 0, 4};  // the first MNIST test digits

std::string trained(const std::string& name) {
  const std::string out = tool_scratch(name + ".safetensors");
  REQUIRE(run_tool("train graphs/mnist_ae32.graph --set epochs=1 --limit 600 --threads 2 --out " + out +
                   " --metrics " + tool_scratch(name + ".jsonl"))
              .status == 0);
  return out;
}

std::string encode(const std::string& checkpoint, const std::string& out, const std::string& extra = "") {
  ToolResult r = run_tool("encode graphs/mnist_ae32.graph --ckpt " + checkpoint +
                          " --node code --limit 5 --out " + out + extra);
  CHECK(r.status == 0);
  return r.output;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) parts.push_back(part);
  return parts;
}

std::string npy_header(const std::string& dict_body, size_t total) {
  std::string dict = dict_body;
  dict.append(total - 10 - dict.size() - 1, ' ');
  dict += '\n';
  return std::string("\x93NUMPY\x01\x00", 8) + char(dict.size() & 0xff) + char(dict.size() >> 8) + dict;
}

}  // namespace

TEST_CASE("encode writes CSV, .npy and LibSVM that agree value for value") {
  const std::string checkpoint = trained("encode_formats");
  const std::string csv = tool_scratch("codes.csv"), npy = tool_scratch("codes.npy"),
                    svm = tool_scratch("codes.svm");
  CHECK(contains(encode(checkpoint, csv), "wrote 5 x 32 activations of 'code' on test to " + csv));
  CHECK(contains(encode(checkpoint, npy), "and labels to " + tool_scratch("codes.labels.npy")));
  encode(checkpoint, svm);

  // .npy: numpy format 1.0, header padded with spaces to 128 bytes, then 5 x 32 little-endian floats.
  const std::string bytes = read_file(npy);
  const std::string header = npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (5, 32), }", 128);
  REQUIRE(bytes.size() == 128 + kRows * kWidth * 4);
  CHECK(bytes.substr(0, 128) == header);
  std::vector<float> values(kRows * kWidth);
  std::memcpy(values.data(), bytes.data() + 128, values.size() * 4);
  const std::string labels = read_file(tool_scratch("codes.labels.npy"));
  REQUIRE(labels.size() == 128 + kRows * 8);  // 10 + 58 + 1 header bytes pad to the next multiple of 64
  CHECK(labels.substr(0, 128) ==
        npy_header("{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }", 128));
  for (int r = 0; r < kRows; ++r) {
    int64_t label;
    std::memcpy(&label, labels.data() + 128 + r * 8, 8);
    CHECK(label == kLabels[r]);
  }

  // CSV: a header, then the label and 32 values per row, read back to the same floats.
  const std::vector<std::string> lines = split(read_file(csv), '\n');
  REQUIRE(lines.size() == kRows + 1);
  std::string expected_header = "label";
  for (int i = 0; i < kWidth; ++i) expected_header += ",f" + std::to_string(i);
  CHECK(lines[0] == expected_header);
  int zeros = 0;
  for (int r = 0; r < kRows; ++r) {
    const std::vector<std::string> fields = split(lines[size_t(r + 1)], ',');
    REQUIRE(fields.size() == kWidth + 1);
    CHECK(fields[0] == std::to_string(kLabels[r]));
    for (int i = 0; i < kWidth; ++i) {
      CHECK(std::strtof(fields[size_t(i + 1)].c_str(), nullptr) == values[size_t(r * kWidth + i)]);
      zeros += values[size_t(r * kWidth + i)] == 0;
    }
  }
  CHECK(zeros > 0);  // a relu code: LibSVM below must leave these out

  // LibSVM: "label index:value" with 1-based increasing indices and no zeros.
  const std::vector<std::string> rows = split(read_file(svm), '\n');
  REQUIRE(rows.size() == kRows);
  for (int r = 0; r < kRows; ++r) {
    std::istringstream in(rows[size_t(r)]);
    int label;
    in >> label;
    CHECK(label == kLabels[r]);
    std::vector<float> dense(kWidth, 0.0f);
    int previous = 0;
    for (std::string item; in >> item;) {
      const size_t colon = item.find(':');
      const int index = std::stoi(item.substr(0, colon));
      CHECK(index > previous);
      previous = index;
      dense[size_t(index - 1)] = std::strtof(item.c_str() + colon + 1, nullptr);
      CHECK(dense[size_t(index - 1)] != 0.0f);
    }
    CHECK(std::memcmp(dense.data(), values.data() + r * kWidth, kWidth * 4) == 0);
  }
}

TEST_CASE("numpy loads encode's .npy files and agrees with the CSV and with its own np.save header") {
  if (!have_numpy()) {
    return hg::test::skip_test("python3 with numpy is not installed (apt-get install python3-numpy)");
  }
  const std::string checkpoint = trained("encode_numpy");
  const std::string npy = tool_scratch("numpy_codes.npy"), csv = tool_scratch("numpy_codes.txt");
  encode(checkpoint, npy);
  encode(checkpoint, csv, " --format csv");  // --format wins over the extension
  const std::string script = tool_scratch("check_npy.py");
  std::ofstream(script) << "import io, sys\nimport numpy as np\n"
                           "codes = np.load(sys.argv[1])\nlabels = np.load(sys.argv[2])\n"
                           "table = np.loadtxt(sys.argv[3], delimiter=',', skiprows=1, dtype=np.float64)\n"
                           "assert codes.dtype == np.float32 and codes.shape == (5, 32), codes.shape\n"
                           "assert labels.dtype == np.int64 and labels.tolist() == [7, 2, 1, 0, 4], labels\n"
                           "assert (table[:, 0] == labels).all()\n"
                           "assert (table[:, 1:].astype(np.float32) == codes).all()\n"
                           "own = io.BytesIO()\nnp.save(own, codes)\n"
                           "assert own.getvalue() == open(sys.argv[1], 'rb').read(), 'differs from np.save'\n"
                           "print('numpy agrees')\n";
  const ToolResult r = run_command("/usr/bin/python3 " + script + " " + npy + " " +
                                   tool_scratch("numpy_codes.labels.npy") + " " + csv);
  CHECK(r.status == 0);
  CHECK(r.output == "numpy agrees\n");
}

TEST_CASE("encode refuses unknown nodes, parameters, losses, formats and data with clear errors") {
  const std::string checkpoint = trained("encode_errors");
  const std::string base = "encode graphs/mnist_ae32.graph --ckpt " + checkpoint + " --limit 5 ";
  ToolResult r = run_tool(base + "--node cod --out " + tool_scratch("e.csv"));
  CHECK(r.status == 1);
  CHECK(contains(r.output,
                 "--node 'cod': error: graphs/mnist_ae32.graph has no node 'cod' (did you mean 'code'?)"));
  r = run_tool(base + "--node code.weights --out " + tool_scratch("e.csv"));
  CHECK(r.status == 1);
  CHECK(contains(r.output,
                 "--node 'code.weights': error: 'code.weights' is a parameter, not an activation: give a "
                 "node with values per sample, such as 'code'"));
  r = run_tool(base + "--node loss --out " + tool_scratch("e.csv"));
  CHECK(r.status == 1);
  CHECK(contains(r.output, "'loss' is a scalar loss, not an activation with values per sample"));
  r = run_tool(base + "--node code --data valid --out " + tool_scratch("e.csv"));
  CHECK(r.status == 1);
  CHECK(contains(r.output, "the graph has no data 'valid'"));
  r = run_tool(base + "--node code --out " + tool_scratch("e.txt"));
  CHECK(r.status == 2);
  CHECK(contains(r.output, "cannot tell the format of"));
  r = run_tool(base + "--node code --out " + tool_scratch("e.csv") + " --format xml");
  CHECK(r.status == 2);
  CHECK(contains(r.output, "unknown --format 'xml'"));
  r = run_tool("encode graphs/mnist_ae32.graph --ckpt " + tool_scratch("no-such.safetensors") +
               " --node code --out " + tool_scratch("e.csv"));
  CHECK(r.status == 1);
  CHECK(contains(r.output, "no-such.safetensors: error: cannot read checkpoint"));
  r = run_tool(base + "--out " + tool_scratch("e.csv"));
  CHECK(r.status == 2);
  CHECK(contains(r.output, "node"));
  r = run_tool("encode --help");
  CHECK(r.status == 0);
  for (const char* flag :
       {"usage: hourglass encode", "--node", "--out", "--format", "--data", "--plugin-dir", "--limit"})
    CHECK_MESSAGE(contains(r.output, flag), flag);
}
