// PNG grids through libpng.
#include "image_grid.h"

#include <png.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "support/diagnostics.h"

namespace hg::tools {

ImageGrid::ImageGrid(int64_t rows, int64_t cols, int64_t tile_height, int64_t tile_width, int zoom)
    : rows_(rows), cols_(cols), tile_height_(tile_height), tile_width_(tile_width), zoom_(zoom) {
  width_ = cols * (tile_width * zoom + 1) + 1;
  height_ = rows * (tile_height * zoom + 1) + 1;
  pixels_.assign(size_t(width_ * height_), 64);  // dark grey borders
}

void ImageGrid::set_tile(int64_t row, int64_t col, const float* pixels, bool normalize) {
  const int64_t n = tile_height_ * tile_width_;
  float lo = 0, hi = 1;
  if (normalize) {
    lo = *std::min_element(pixels, pixels + n);
    hi = *std::max_element(pixels, pixels + n);
    if (hi - lo < 1e-12f) hi = lo + 1;
  }
  for (int64_t y = 0; y < tile_height_ * zoom_; ++y)
    for (int64_t x = 0; x < tile_width_ * zoom_; ++x) {
      const float v = (pixels[(y / zoom_) * tile_width_ + x / zoom_] - lo) / (hi - lo);
      const int64_t py = row * (tile_height_ * zoom_ + 1) + 1 + y,
                    px = col * (tile_width_ * zoom_ + 1) + 1 + x;
      pixels_[size_t(py * width_ + px)] = uint8_t(std::lround(255 * std::clamp(v, 0.0f, 1.0f)));
    }
}

void ImageGrid::write_png(const std::string& path) const {
  std::filesystem::path target(path);
  if (target.has_parent_path()) std::filesystem::create_directories(target.parent_path());
  FILE* file = std::fopen(path.c_str(), "wb");
  if (!file) throw Error({path, 0, 0}, "cannot write image: " + std::string(std::strerror(errno)));
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    std::fclose(file);
    throw Error({path, 0, 0}, "libpng failed to write the image");
  }
  png_init_io(png, file);
  png_set_IHDR(png, info, png_uint_32(width_), png_uint_32(height_), 8, PNG_COLOR_TYPE_GRAY,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int64_t y = 0; y < height_; ++y) png_write_row(png, pixels_.data() + y * width_);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  if (std::fclose(file) != 0)
    throw Error({path, 0, 0}, "cannot write image: " + std::string(std::strerror(errno)));
}

bool parse_tile_shape(const std::string& text, int64_t count, int64_t* height, int64_t* width) {
  if (text.empty()) {
    const int64_t side = std::llround(std::sqrt(double(count)));
    if (side * side != count) return false;
    *height = *width = side;
    return true;
  }
  long long h = 0, w = 0;
  char tail = 0;
  if (std::sscanf(text.c_str(), "%lldx%lld%c", &h, &w, &tail) != 2 || h < 1 || w < 1 || h * w != count)
    return false;
  *height = h;
  *width = w;
  return true;
}

}  // namespace hg::tools
