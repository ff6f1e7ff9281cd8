// embed GRAPH CHECKPOINT NODE IN.npy OUT.npy: a trained autoencoder's codes for rows of input, with
// hourglass linked as a library. IN.npy holds float32 rows as the graph's input receives them (e.g. from
// `hourglass encode GRAPH --ckpt CKPT --node x --out IN.npy`); OUT.npy gets one row of NODE per input row.
#include <hourglass/model.hpp>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

// numpy's .npy format 1.0 with float32 ('<f4') values in C order: the header, then the data.
std::vector<float> read_rows(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
    throw std::runtime_error(path + ": not a .npy file");
  const size_t header = 10 + size_t(uint8_t(bytes[8])) + 256 * size_t(uint8_t(bytes[9]));
  if (header > bytes.size() || bytes.find("'<f4'") > header) throw std::runtime_error(path + ": not float32");
  std::vector<float> values((bytes.size() - header) / sizeof(float));
  std::memcpy(values.data(), bytes.data() + header, values.size() * sizeof(float));
  return values;
}

void write_rows(const std::string& path, const std::vector<float>& values, int64_t rows, int64_t width) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                     std::to_string(width) + "), }";
  dict.append((64 - (10 + dict.size() + 1) % 64) % 64, ' ');
  dict += '\n';
  std::ofstream out(path, std::ios::binary);
  out << std::string("\x93NUMPY\x01\x00", 8) << char(dict.size() & 0xff) << char(dict.size() >> 8) << dict;
  out.write(reinterpret_cast<const char*>(values.data()), std::streamsize(values.size() * sizeof(float)));
  if (!out) throw std::runtime_error(path + ": cannot write");
}

int main(int argc, char** argv) {
  if (argc != 6) {
    std::cerr << "usage: embed GRAPH CHECKPOINT NODE IN.npy OUT.npy\n";
    return 2;
  }
  try {
    hourglass::Model model = hourglass::Model::load(argv[1], argv[2]);
    const std::vector<float> rows = read_rows(argv[4]);
    const int64_t n = int64_t(rows.size()) / model.input_shape().elements();
    const int64_t width = model.shape(argv[3]).elements();
    std::vector<float> codes(size_t(n * width));
    model.encode(argv[3], rows.data(), n, codes.data());
    write_rows(argv[5], codes, n, width);
    std::printf("%lld rows of '%s' (%lld values each) in %s\n", (long long)n, argv[3], (long long)width,
                argv[5]);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
