// images() and patches() on PNG files written here with libpng and JPEG bytes cut short: class folders give
// labels, the size rule rejects or resizes, channels convert, broken files are named, and patches are seeded,
// mean-removed and whitened as documented.
#include <png.h>

#include <cmath>

#include "data_fixture.h"

using namespace hg;
using namespace hg::test;

namespace {

// A width x height image of `channels` (1 or 3) whose pixel (x, y, c) is f(x, y, c).
template <typename F>
std::string write_png(const std::string& path, int width, int height, int channels, F f) {
  std::vector<uint8_t> pixels(size_t(width * height * channels));
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c) pixels[size_t((y * width + x) * channels + c)] = uint8_t(f(x, y, c));
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = png_uint_32(width);
  image.height = png_uint_32(height);
  image.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  REQUIRE(png_image_write_to_file(&image, path.c_str(), 0, pixels.data(), 0, nullptr) != 0);
  return path;
}

ImagesOptions images_options(const std::string& folder, int64_t c, int64_t h, int64_t w) {
  ImagesOptions o;
  o.folder = folder;
  o.channels = c;
  o.height = h;
  o.width = w;
  return o;
}

}  // namespace

TEST_CASE("images: one subfolder per class gives sorted class names and labels, pixels in CHW order") {
  TempDir dir;
  std::filesystem::create_directories(dir.file("zebra"));
  std::filesystem::create_directories(dir.file("ant"));
  write_png(dir.file("zebra/1.png"), 3, 2, 3, [](int x, int y, int c) { return 100 * c + 10 * y + x; });
  write_png(dir.file("ant/a.png"), 3, 2, 1, [](int x, int y, int) { return 10 * y + x; });
  write_file(dir.file("ant/notes.txt"), "not an image");
  const Dataset d = read_images(images_options(dir.path, 3, 2, 3));
  CHECK(d.count == 2);
  CHECK(d.item_dims == std::vector<int64_t>{3, 2, 3});
  CHECK(d.class_names == std::vector<std::string>{"ant", "zebra"});
  CHECK(d.labels == std::vector<int32_t>{0, 1});
  const std::vector<float> v = all_values(d);
  // the gray ant replicated into 3 channels, then the RGB zebra channel by channel
  CHECK(std::vector<float>(v.begin(), v.begin() + 6) == std::vector<float>{0, 1, 2, 10, 11, 12});
  CHECK(std::vector<float>(v.begin() + 6, v.begin() + 12) == std::vector<float>{0, 1, 2, 10, 11, 12});
  CHECK(std::vector<float>(v.begin() + 18 + 6, v.begin() + 18 + 12) ==
        std::vector<float>{100, 101, 102, 110, 111, 112});
  // one channel: luma 0.299 R + 0.587 G + 0.114 B of the zebra's first pixel (0, 100, 200)
  const Dataset gray = read_images(images_options(dir.path, 1, 2, 3));
  CHECK(all_values(gray)[6] == std::round(0.587 * 100 + 0.114 * 200));
}

TEST_CASE("images: another size is rejected by name, or resized bilinearly with resize=1") {
  TempDir dir;
  write_png(dir.file("big.png"), 4, 4, 1, [](int x, int, int) { return x < 2 ? 0 : 200; });
  CHECK(
      error_of([&] { read_images(images_options(dir.path, 1, 2, 2)); }) ==
      dir.file("big.png") +
          ": error: is 4 x 4 pixels (width x height), but size asks for 2 x 2; resize=1 resizes every image "
          "bilinearly");
  ImagesOptions o = images_options(dir.path, 1, 2, 2);
  o.resize = true;
  CHECK(all_values(read_images(o)) == std::vector<float>{0, 200, 0, 200});
}

TEST_CASE("images errors: broken PNG and JPEG files, mixed folders and empty folders name the place") {
  TempDir dir;
  std::filesystem::create_directories(dir.file("broken"));
  const std::string good =
      read_file(write_png(dir.file("g.png"), 8, 8, 1, [](int x, int y, int) { return x * y; }));
  std::filesystem::remove(dir.file("g.png"));
  write_file(dir.file("broken/cut.png"), good.substr(0, good.size() / 2));
  CHECK(error_of([&] {
          read_images(images_options(dir.file("broken"), 1, 8, 8));
        }).rfind(dir.file("broken/cut.png") + ": error: broken PNG: ", 0) == 0);
  std::filesystem::remove(dir.file("broken/cut.png"));
  write_file(dir.file("broken/x.jpg"), "\xff\xd8\xff\xe0 not really a jpeg");
  CHECK(error_of([&] {
          read_images(images_options(dir.file("broken"), 1, 8, 8));
        }).rfind(dir.file("broken/x.jpg") + ": error: broken JPEG: ", 0) == 0);
  write_png(dir.file("loose.png"), 8, 8, 1, [](int, int, int) { return 0; });
  CHECK(error_of([&] { read_images(images_options(dir.path, 1, 8, 8)); }) ==
        dir.path +
            ": error: holds both images and subfolders; put every image in its class's subfolder, or use "
            "no subfolders for unlabelled images");
  std::filesystem::create_directories(dir.file("empty"));
  CHECK(error_of([&] { read_images(images_options(dir.file("empty"), 1, 8, 8)); }) ==
        dir.file("empty") + ": error: holds no .png, .jpg or .jpeg files");
}

TEST_CASE("patches: seeded, cut from the images, mean removed per patch, ZCA-whitened to unit covariance") {
  TempDir dir;
  write_png(dir.file("a.png"), 40, 30, 1, [](int x, int y, int) {
    return int(127 + 60 * std::sin(0.3 * x) + 50 * std::cos(0.45 * y + 0.1 * x)) ^ (x * y % 7);
  });
  ImagesOptions o = images_options(dir.path, 1, 0, 0);
  PatchOptions p;
  p.size = 4;
  p.count = 3000;
  p.seed = 9;
  const Dataset a = read_patches(o, p), b = read_patches(o, p);
  CHECK(a.item_dims == std::vector<int64_t>{1, 4, 4});
  CHECK(all_values(a) == all_values(b));
  p.seed = 10;
  CHECK(all_values(read_patches(o, p)) != all_values(a));
  p.remove_mean = true;
  const std::vector<float> centred = all_values(read_patches(o, p));
  for (int64_t i = 0; i < 3000; ++i) {
    double mean = 0;
    for (int j = 0; j < 16; ++j) mean += centred[size_t(i * 16 + j)];
    CHECK(std::fabs(mean / 16) < 1e-4);
  }
  p.remove_mean = false;
  p.zca_epsilon = 1e-6;
  const std::vector<float> white = all_values(read_patches(o, p));
  for (int j = 0; j < 16; ++j)
    for (int k = 0; k < 16; ++k) {
      double c = 0;
      for (int64_t i = 0; i < 3000; ++i) c += double(white[size_t(i * 16 + j)]) * white[size_t(i * 16 + k)];
      CHECK(c / 3000 == doctest::Approx(j == k ? 1.0 : 0.0).epsilon(0.01).scale(1));
    }
  p.size = 50;
  CHECK(error_of([&] { read_patches(o, p); }) ==
        dir.file("a.png") + ": error: is 40 x 30 pixels, smaller than a 50-pixel patch");
}
