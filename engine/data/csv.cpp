// read_csv: numeric tables, plain or gzipped (zlib reads both). The text is read in chunks, so memory grows
// with what the file really holds, never with a size it claims. Every problem names file:line:column.
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "data/dataset.h"
#include "support/diagnostics.h"

namespace hg {

namespace {

// The text is held twice while the table is parsed (the text and its lines), and `memory` reserves that
// before it grows: up front for a plain file, whose size is known, and as it inflates for a gzipped one.
std::string read_text(const std::string& path, MemoryCharge& memory) {
  std::unique_ptr<gzFile_s, int (*)(gzFile)> gz(gzopen(path.c_str(), "rb"), &gzclose);
  if (!gz) throw Error({path, 0, 0}, "cannot open: " + std::string(std::strerror(errno ? errno : ENOENT)));
  const bool compressed = gzdirect(gz.get()) == 0;
  const std::string needs = std::string("reading its ") + (compressed ? "decompressed " : "") + "text needs";
  const std::string detail = "a table is held twice while it is parsed, as text and as lines";
  uint64_t reserved = 0;  // bytes of text the charge covers
  struct stat info {};
  if (!compressed && ::stat(path.c_str(), &info) == 0 && info.st_size > 0) {
    memory.add(2 * double(info.st_size), {path, 0, 0}, needs, detail);
    reserved = uint64_t(info.st_size);
  }
  std::string text;
  char buffer[1 << 16];
  for (;;) {
    const int n = gzread(gz.get(), buffer, sizeof buffer);
    if (n < 0) {
      int code = 0;
      const char* message = gzerror(gz.get(), &code);
      throw Error({path, 0, 0}, std::string("cannot decompress: ") + message);
    }
    if (n == 0) break;
    if (text.size() + size_t(n) > reserved) {
      memory.add(2 * double(text.size() + size_t(n) - reserved), {path, 0, 0}, needs, detail);
      reserved = text.size() + size_t(n);
    }
    text.append(buffer, size_t(n));
  }
  // gzread stops quietly at a truncated gzip stream; gzclose_r reports it
  const int closed = gzclose_r(gz.release());
  if (closed == Z_BUF_ERROR) throw Error({path, 0, 0}, "truncated: the gzip stream ends early");
  if (closed != Z_OK)
    throw Error({path, 0, 0}, "cannot decompress (zlib error " + std::to_string(closed) + ")");
  return text;
}

struct Cell {
  std::string text;
  int column = 1;  // 1-based character column of the cell's start
};

// One line split at commas; "quoted" cells may hold commas and "" for a quote. Surrounding spaces go.
std::vector<Cell> split_line(const std::string& path, int line_number, const std::string& line) {
  std::vector<Cell> cells;
  size_t i = 0;
  for (;;) {
    Cell cell;
    cell.column = int(i) + 1;
    while (i < line.size() && line[i] == ' ') ++i;
    if (i < line.size() && line[i] == '"') {
      ++i;
      for (;;) {
        if (i >= line.size())
          throw Error({path, line_number, cell.column}, "a quoted cell has no closing '\"'");
        if (line[i] == '"' && i + 1 < line.size() && line[i + 1] == '"') {
          cell.text += '"';
          i += 2;
        } else if (line[i] == '"') {
          ++i;
          break;
        } else {
          cell.text += line[i++];
        }
      }
      while (i < line.size() && line[i] == ' ') ++i;
      if (i < line.size() && line[i] != ',')
        throw Error({path, line_number, int(i) + 1}, "text after a quoted cell's closing '\"'");
    } else {
      while (i < line.size() && line[i] != ',') cell.text += line[i++];
      while (!cell.text.empty() && (cell.text.back() == ' ' || cell.text.back() == '\t'))
        cell.text.pop_back();
    }
    cells.push_back(std::move(cell));
    if (i >= line.size()) break;
    ++i;  // the comma
  }
  return cells;
}

}  // namespace

Dataset read_csv(const CsvOptions& options) {
  const std::string& path = options.path;
  MemoryCharge text_memory;  // released with the text and its lines, when this returns
  const std::string text = read_text(path, text_memory);
  // lines, with \r\n endings and blank lines dropped; their numbers kept for messages
  std::vector<std::pair<int, std::string>> lines;
  int number = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    ++number;
    if (number == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // a UTF-8 byte order mark
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) lines.emplace_back(number, std::move(line));
    start = end + 1;
  }
  if (lines.empty()) throw Error({path, 0, 0}, "the file is empty");

  std::vector<std::string> names;
  size_t first_row = 0;
  if (options.header) {
    for (Cell& c : split_line(path, lines[0].first, lines[0].second)) names.push_back(c.text);
    first_row = 1;
    std::set<std::string> seen;
    for (const std::string& n : names)
      if (!seen.insert(n).second)
        throw Error({path, lines[0].first, 1}, "the header names column '" + n + "' twice");
  } else {
    const size_t width = split_line(path, lines[0].first, lines[0].second).size();
    for (size_t c = 0; c < width; ++c) names.push_back(std::to_string(c));
  }
  auto column_index = [&](const std::string& name, const char* what) {
    const auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end())
      throw Error({path, options.header ? lines[0].first : 0, options.header ? 1 : 0},
                  std::string("no ") + what + " column '" + name + "'" + did_you_mean(name, names) +
                      (options.header ? "" : " (without a header the columns are named 0, 1, 2, ...)"));
    return size_t(it - names.begin());
  };
  const bool has_label = !options.label_column.empty();
  const size_t label = has_label ? column_index(options.label_column, "label") : size_t(-1);
  std::vector<size_t> features;
  if (options.columns.empty()) {
    for (size_t c = 0; c < names.size(); ++c)
      if (c != label) features.push_back(c);
  } else {
    for (const std::string& name : options.columns) {
      features.push_back(column_index(name, "feature"));
      if (features.back() == label)
        throw Error({path, lines[0].first, 1}, "column '" + name + "' is both the label and a feature");
    }
  }
  if (features.empty())
    throw Error({path, lines[0].first, 1}, "no feature columns are left besides the label");

  const int64_t rows_in_file = int64_t(lines.size() - first_row);
  if (rows_in_file == 0) throw Error({path, lines[0].first, 1}, "the table has a header but no rows");
  if (options.skip < 0 || options.skip >= rows_in_file)
    throw Error({path, 0, 0}, "cannot skip " + std::to_string(options.skip) + " rows: the table holds " +
                                  std::to_string(rows_in_file));
  const int64_t available = rows_in_file - options.skip;
  const int64_t count = options.limit > 0 ? std::min(options.limit, available) : available;

  Dataset d;
  d.images_path = path;
  d.count = count;
  d.item_dims = {int64_t(features.size())};
  d.dtype = DType::F32;
  d.scale = options.scale;
  const double value_bytes = double(count) * double(features.size()) * sizeof(float);
  d.memory = std::make_shared<MemoryCharge>(
      reserve_memory(value_bytes + (has_label ? double(count) * sizeof(int32_t) : 0), {path, 0, 0},
                     "holding " + std::to_string(count) + " rows of " + std::to_string(features.size()) +
                         " float32 values" + (has_label ? " and their labels" : "") + " needs"));
  d.pixels.resize(size_t(count) * features.size() * sizeof(float));
  float* values = reinterpret_cast<float*>(d.pixels.data());
  std::vector<std::pair<std::string, int>> label_text;  // cell, line
  // Every row is checked, also those outside the slice: a broken file is broken whatever slice is read.
  for (size_t r = first_row; r < lines.size(); ++r) {
    const auto& [line_number, line] = lines[r];
    const std::vector<Cell> cells = split_line(path, line_number, line);
    if (cells.size() != names.size())
      throw Error({path, line_number, 1}, "ragged row: " + std::to_string(cells.size()) + " cells, but the " +
                                              (options.header ? "header has " : "first row has ") +
                                              std::to_string(names.size()));
    const int64_t sample = int64_t(r - first_row) - options.skip;
    const bool kept = sample >= 0 && sample < count;
    for (size_t f = 0; f < features.size(); ++f) {
      const Cell& cell = cells[features[f]];
      if (cell.text.empty())
        throw Error({path, line_number, cell.column}, "missing value in column '" + names[features[f]] + "'");
      char* end = nullptr;
      const double v = std::strtod(cell.text.c_str(), &end);
      if (*end != '\0' || end == cell.text.c_str())
        throw Error({path, line_number, cell.column},
                    "'" + cell.text + "' in column '" + names[features[f]] + "' is not a number");
      if (!std::isfinite(v) || std::fabs(v) > 3.4e38)
        throw Error({path, line_number, cell.column},
                    "'" + cell.text + "' in column '" + names[features[f]] + "' is not a finite float32");
      if (kept) values[sample * int64_t(features.size()) + int64_t(f)] = float(v);
    }
    if (has_label) {
      if (cells[label].text.empty())
        throw Error({path, line_number, cells[label].column},
                    "missing label in column '" + options.label_column + "'");
      if (kept) label_text.emplace_back(cells[label].text, line_number);
    }
  }
  if (!has_label) return d;
  // Whole numbers are class indices as they are; any other text makes every label a class name.
  bool numeric = true;
  for (const auto& [cell, line] : label_text) {
    char* end = nullptr;
    const double v = std::strtod(cell.c_str(), &end);  // "3" and "3.0" are both class 3
    if (*end != '\0' || !(v >= 0 && v < (1 << 20)) || v != std::floor(v)) numeric = false;
  }
  if (!numeric) {
    std::set<std::string> distinct;
    for (const auto& [cell, line] : label_text) distinct.insert(cell);
    if (distinct.size() > 1000)
      throw Error({path, label_text[0].second, 1},
                  "the label column '" + options.label_column + "' has " + std::to_string(distinct.size()) +
                      " distinct values that are not class indices; labels are whole numbers >= 0 or up to "
                      "1000 class names");
    d.class_names.assign(distinct.begin(), distinct.end());
  }
  std::map<std::string, int32_t> index;
  for (size_t k = 0; k < d.class_names.size(); ++k) index[d.class_names[k]] = int32_t(k);
  for (const auto& [cell, line] : label_text)
    d.labels.push_back(numeric ? int32_t(std::strtod(cell.c_str(), nullptr)) : index.at(cell));
  d.num_classes = 1 + *std::max_element(d.labels.begin(), d.labels.end());
  return d;
}

}  // namespace hg
