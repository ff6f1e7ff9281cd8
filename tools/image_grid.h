// A grayscale grid of equally sized tiles written as PNG with libpng: first-layer filters, or inputs next to
// their reconstructions. Tiles are separated by a one-pixel border.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hg::tools {

class ImageGrid {
 public:
  ImageGrid(int64_t rows, int64_t cols, int64_t tile_height, int64_t tile_width, int zoom = 1);
  // Pixels in [0, 1] are drawn as they are (clamped); with `normalize` each tile is stretched to its own
  // min..max, which is how filters are compared by shape rather than by scale.
  void set_tile(int64_t row, int64_t col, const float* pixels, bool normalize);
  void write_png(const std::string& path) const;  // throws hg::Error naming the path

 private:
  int64_t rows_, cols_, tile_height_, tile_width_;
  int zoom_;
  int64_t width_, height_;
  std::vector<uint8_t> pixels_;
};

// "28x28" -> {28, 28}; an empty string picks the square root of `count` when it is a square.
bool parse_tile_shape(const std::string& text, int64_t count, int64_t* height, int64_t* width);

}  // namespace hg::tools
