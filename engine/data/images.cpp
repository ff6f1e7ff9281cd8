// read_images and read_patches: folders of PNG (libpng) and JPEG (libjpeg-turbo) files. One subfolder per
// class gives the labels (class names sorted, numbered from 0); files directly in the folder are unlabelled.
// Every image is converted to the requested channels (luma for 1, gray replicated for 3, alpha dropped);
// an image of another height or width is rejected, naming it, unless resize=1 asks for bilinear resizing.
// Dimensions are checked before a decoder allocates anything, so a hostile header cannot ask for gigabytes.
#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>

#include "data/dataset.h"
#include "support/diagnostics.h"

// after <cstdio> and <cstddef>: jpeglib.h uses FILE and size_t without including their headers
#include <jpeglib.h>
#include <png.h>

namespace hg {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kMaxPixels = int64_t(1) << 26;  // 64 megapixels: larger is no training image

struct Decoded {
  int64_t channels = 0, height = 0, width = 0;
  std::vector<uint8_t> hwc;  // interleaved, as decoders produce them
};

bool has_extension(const fs::path& p, std::initializer_list<const char*> extensions) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  for (const char* e : extensions)
    if (ext == e) return true;
  return false;
}

// Decoding holds the interleaved pixels (up to 3 bytes each), their planes and a resized copy at once.
std::optional<std::string> decoding_refusal(int64_t width, int64_t height) {
  return memory_refusal(double(width) * double(height) * 9, "decoding its " + std::to_string(width) + " x " +
                                                                std::to_string(height) + " pixels needs");
}

void check_decoding(const std::string& path, int64_t width, int64_t height) {
  if (std::optional<std::string> refusal = decoding_refusal(width, height))
    throw MemoryError({path, 0, 0}, *refusal);
}

Decoded decode_png(const std::string& path) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, path.c_str()))
    throw Error({path, 0, 0}, std::string("not a readable PNG: ") + image.message);
  const int64_t pixels = int64_t(image.width) * int64_t(image.height);
  if (pixels <= 0 || pixels > kMaxPixels) {
    png_image_free(&image);
    throw Error({path, 0, 0}, "the PNG claims " + std::to_string(image.width) + " x " +
                                  std::to_string(image.height) + " pixels, more than the " +
                                  std::to_string(kMaxPixels) + " an image may have");
  }
  try {
    check_decoding(path, image.width, image.height);
  } catch (...) {
    png_image_free(&image);
    throw;
  }
  const bool color = image.format & PNG_FORMAT_FLAG_COLOR;
  image.format = color ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  Decoded d;
  d.channels = color ? 3 : 1;
  d.height = image.height;
  d.width = image.width;
  d.hwc.resize(size_t(PNG_IMAGE_SIZE(image)));
  if (!png_image_finish_read(&image, nullptr, d.hwc.data(), 0, nullptr)) {
    const std::string message = image.message;
    png_image_free(&image);
    throw Error({path, 0, 0}, "broken PNG: " + message);
  }
  return d;
}

struct JpegError {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_fail(j_common_ptr info) {
  JpegError* e = reinterpret_cast<JpegError*>(info->err);
  (*info->err->format_message)(info, e->message);
  std::longjmp(e->jump, 1);  // libjpeg is C: it must not be unwound by a C++ exception
}

Decoded decode_jpeg(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw Error({path, 0, 0}, "cannot open: " + std::string(std::strerror(errno)));
  jpeg_decompress_struct info;
  JpegError error;
  info.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = jpeg_fail;
  error.manager.output_message = [](j_common_ptr) {};  // warnings (a few bad bytes) are not fatal
  Decoded d;  // declared before setjmp, so the jump back does not skip its construction
  std::string failure;
  if (setjmp(error.jump)) {
    failure = error.message;
    jpeg_destroy_decompress(&info);
    throw Error({path, 0, 0}, "broken JPEG: " + failure);
  }
  jpeg_create_decompress(&info);
  jpeg_stdio_src(&info, file.get());
  jpeg_read_header(&info, TRUE);
  const int64_t pixels = int64_t(info.image_width) * int64_t(info.image_height);
  if (pixels <= 0 || pixels > kMaxPixels) {
    jpeg_destroy_decompress(&info);
    throw Error({path, 0, 0}, "the JPEG claims " + std::to_string(info.image_width) + " x " +
                                  std::to_string(info.image_height) + " pixels, more than an image may have");
  }
  if (std::optional<std::string> refusal = decoding_refusal(info.image_width, info.image_height)) {
    jpeg_destroy_decompress(&info);
    throw MemoryError({path, 0, 0}, *refusal);
  }
  info.out_color_space = info.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&info);
  d.channels = info.output_components;
  d.height = info.output_height;
  d.width = info.output_width;
  d.hwc.resize(size_t(d.channels * d.height * d.width));
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = d.hwc.data() + size_t(info.output_scanline) * size_t(d.width * d.channels);
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return d;
}

// Interleaved pixels to `channels` planes (CHW): RGB to luma (ITU-R 601 weights) or gray to RGB.
std::vector<uint8_t> to_planes(const Decoded& d, int64_t channels) {
  const int64_t n = d.height * d.width;
  std::vector<uint8_t> out(size_t(channels * n));
  for (int64_t p = 0; p < n; ++p) {
    const uint8_t* px = d.hwc.data() + p * d.channels;
    if (channels == 1) {
      out[size_t(p)] =
          d.channels == 1 ? px[0] : uint8_t(std::lround(0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2]));
    } else {
      for (int64_t c = 0; c < 3; ++c) out[size_t(c * n + p)] = px[d.channels == 1 ? 0 : c];
    }
  }
  return out;
}

// Bilinear resampling of CHW planes, pixel centres aligned (as PIL's and OpenCV's resize do).
std::vector<uint8_t> resize_planes(const std::vector<uint8_t>& in, int64_t channels, int64_t h, int64_t w,
                                   int64_t oh, int64_t ow) {
  std::vector<uint8_t> out(size_t(channels * oh * ow));
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t y = 0; y < oh; ++y) {
      const double sy = std::clamp((double(y) + 0.5) * double(h) / double(oh) - 0.5, 0.0, double(h - 1));
      const int64_t y0 = int64_t(sy), y1 = std::min(y0 + 1, h - 1);
      const double fy = sy - double(y0);
      for (int64_t x = 0; x < ow; ++x) {
        const double sx = std::clamp((double(x) + 0.5) * double(w) / double(ow) - 0.5, 0.0, double(w - 1));
        const int64_t x0 = int64_t(sx), x1 = std::min(x0 + 1, w - 1);
        const double fx = sx - double(x0);
        const uint8_t* p = in.data() + c * h * w;
        const double v = (1 - fy) * ((1 - fx) * p[y0 * w + x0] + fx * p[y0 * w + x1]) +
                         fy * ((1 - fx) * p[y1 * w + x0] + fx * p[y1 * w + x1]);
        out[size_t((c * oh + y) * ow + x)] = uint8_t(std::lround(std::clamp(v, 0.0, 255.0)));
      }
    }
  return out;
}

struct ImageFile {
  std::string path;
  int32_t label = -1;
};

// The image files of `folder` in a fixed order (class folders sorted by name, files sorted), with labels.
std::vector<ImageFile> list_images(const std::string& folder, std::vector<std::string>& class_names) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) throw Error({folder, 0, 0}, "not a folder of images");
  std::vector<fs::path> files, classes;
  for (const fs::directory_entry& e : fs::directory_iterator(folder, ec)) {
    if (e.is_directory())
      classes.push_back(e.path());
    else if (has_extension(e.path(), {".png", ".jpg", ".jpeg"}))
      files.push_back(e.path());
  }
  if (ec) throw Error({folder, 0, 0}, "cannot list: " + ec.message());
  if (!files.empty() && !classes.empty())
    throw Error({folder, 0, 0},
                "holds both images and subfolders; put every image in its class's subfolder, "
                "or use no subfolders for unlabelled images");
  std::vector<ImageFile> out;
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) out.push_back({f.string(), -1});
  std::sort(classes.begin(), classes.end());
  for (const fs::path& c : classes) {
    std::vector<fs::path> in_class;
    for (const fs::directory_entry& e : fs::directory_iterator(c, ec))
      if (!e.is_directory() && has_extension(e.path(), {".png", ".jpg", ".jpeg"}))
        in_class.push_back(e.path());
    if (in_class.empty()) continue;  // an empty class folder adds no class
    std::sort(in_class.begin(), in_class.end());
    for (const fs::path& f : in_class) out.push_back({f.string(), int32_t(class_names.size())});
    class_names.push_back(c.filename().string());
  }
  if (out.empty()) throw Error({folder, 0, 0}, "holds no .png, .jpg or .jpeg files");
  return out;
}

std::vector<uint8_t> load_planes(const std::string& path, int64_t channels, int64_t& height, int64_t& width) {
  const Decoded d = has_extension(path, {".png"}) ? decode_png(path) : decode_jpeg(path);
  height = d.height;
  width = d.width;
  return to_planes(d, channels);
}

}  // namespace

Dataset read_images(const ImagesOptions& o) {
  if (o.channels != 1 && o.channels != 3) throw Error({o.folder, 0, 0}, "images have 1 or 3 channels");
  Dataset d;
  d.images_path = o.folder;
  const std::vector<ImageFile> files = list_images(o.folder, d.class_names);
  const int64_t in_folder = int64_t(files.size());
  if (o.skip < 0 || o.skip >= in_folder)
    throw Error({o.folder, 0, 0}, "cannot skip " + std::to_string(o.skip) + " images: the folder holds " +
                                      std::to_string(in_folder));
  const int64_t available = in_folder - o.skip;
  d.count = o.limit > 0 ? std::min(o.limit, available) : available;
  d.item_dims = {o.channels, o.height, o.width};
  d.scale = o.scale;
  const int64_t features = d.features();
  d.memory = std::make_shared<MemoryCharge>(reserve_memory(
      double(d.count) * (double(features) + sizeof(int32_t)), {o.folder, 0, 0},
      "holding " + std::to_string(d.count) + " images of " + std::to_string(o.channels) + " x " +
          std::to_string(o.height) + " x " + std::to_string(o.width) + " bytes needs"));
  d.pixels.resize(size_t(d.count * features));
  for (int64_t i = 0; i < d.count; ++i) {
    const ImageFile& f = files[size_t(o.skip + i)];
    int64_t h = 0, w = 0;
    std::vector<uint8_t> planes = load_planes(f.path, o.channels, h, w);
    if (h != o.height || w != o.width) {
      if (!o.resize)
        throw Error({f.path, 0, 0}, "is " + std::to_string(w) + " x " + std::to_string(h) +
                                        " pixels (width x height), but size asks for " +
                                        std::to_string(o.width) + " x " + std::to_string(o.height) +
                                        "; resize=1 resizes every image bilinearly");
      planes = resize_planes(planes, o.channels, h, w, o.height, o.width);
    }
    std::copy(planes.begin(), planes.end(), d.pixels.begin() + i * features);
    if (f.label >= 0) d.labels.push_back(f.label);
  }
  if (!d.labels.empty() && int64_t(d.labels.size()) != d.count) d.labels.clear();
  if (!d.labels.empty()) d.num_classes = 1 + *std::max_element(d.labels.begin(), d.labels.end());
  if (d.labels.empty()) d.class_names.clear();
  return d;
}

Dataset read_patches(const ImagesOptions& o, const PatchOptions& p) {
  if (o.channels != 1 && o.channels != 3) throw Error({o.folder, 0, 0}, "images have 1 or 3 channels");
  std::vector<std::string> class_names;
  const std::vector<ImageFile> files = list_images(o.folder, class_names);
  struct Source {
    std::vector<uint8_t> planes;
    int64_t height, width;
  };
  std::vector<Source> images;
  MemoryCharge sources;  // every image is held while patches are cut
  for (const ImageFile& f : files) {
    Source s;
    s.planes = load_planes(f.path, o.channels, s.height, s.width);
    sources.add(double(s.planes.size()), {f.path, 0, 0},
                "holding it with the " + std::to_string(images.size()) +
                    " images before it, to cut patches from, needs");
    if (s.height < p.size || s.width < p.size)
      throw Error({f.path, 0, 0}, "is " + std::to_string(s.width) + " x " + std::to_string(s.height) +
                                      " pixels, smaller than a " + std::to_string(p.size) + "-pixel patch");
    images.push_back(std::move(s));
  }
  if (p.count <= 0 || p.count > (int64_t(1) << 26))
    throw Error({o.folder, 0, 0},
                "patches(count=" + std::to_string(p.count) + ") must be between 1 and 2^26");
  Dataset d;
  d.images_path = o.folder;
  d.count = o.limit > 0 ? std::min(p.count, o.limit) : p.count;  // --limit: the first patches of the seed
  d.item_dims = {o.channels, p.size, p.size};
  d.dtype = DType::F32;
  const int64_t n = d.features();
  d.memory = std::make_shared<MemoryCharge>(reserve_memory(
      double(d.count) * double(n) * sizeof(float), {o.folder, 0, 0},
      "holding " + std::to_string(d.count) + " patches of " + std::to_string(n) + " float32 values needs"));
  if (p.zca_epsilon > 0)  // the covariance, its eigenvectors and the whitening matrix
    check_memory(3 * double(n) * double(n) * sizeof(double), {o.folder, 0, 0},
                 "whitening patches of " + std::to_string(n) + " values needs");
  d.pixels.resize(size_t(d.count * n) * sizeof(float));
  float* out = reinterpret_cast<float*>(d.pixels.data());
  // Each patch: an image chosen uniformly, then a position uniformly within it (UFLDL's sampleIMAGES).
  std::mt19937_64 rng(p.seed);
  for (int64_t i = 0; i < d.count; ++i) {
    const Source& s = images[size_t(rng() % images.size())];
    const int64_t y = int64_t(rng() % uint64_t(s.height - p.size + 1));
    const int64_t x = int64_t(rng() % uint64_t(s.width - p.size + 1));
    float* patch = out + i * n;
    for (int64_t c = 0; c < o.channels; ++c)
      for (int64_t r = 0; r < p.size; ++r)
        for (int64_t k = 0; k < p.size; ++k)
          patch[(c * p.size + r) * p.size + k] =
              float(s.planes[size_t((c * s.height + y + r) * s.width + x + k)]) * o.scale;
    if (p.remove_mean) {
      double mean = 0;
      for (int64_t j = 0; j < n; ++j) mean += patch[j];
      mean /= double(n);
      for (int64_t j = 0; j < n; ++j) patch[j] = float(patch[j] - mean);
    }
  }
  if (p.zca_epsilon > 0) zca_whiten(out, d.count, n, p.zca_epsilon);
  return d;
}

}  // namespace hg

namespace hg {

// Eigenvectors of a symmetric matrix by cyclic Jacobi rotations: slow for big matrices, but a patch's
// covariance is at most a few hundred wide, and it needs no LAPACK.
static void symmetric_eigen(std::vector<double>& a, int64_t n, std::vector<double>& values,
                            std::vector<double>& vectors) {
  vectors.assign(size_t(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) vectors[size_t(i * n + i)] = 1;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0, total = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) (i == j ? total : off) += a[size_t(i * n + j)] * a[size_t(i * n + j)];
    if (off <= 1e-22 * (total + off)) break;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) {
        const double apq = a[size_t(p * n + q)];
        if (std::fabs(apq) < 1e-300) continue;
        const double theta = (a[size_t(q * n + q)] - a[size_t(p * n + p)]) / (2 * apq);
        const double t = (theta >= 0 ? 1 : -1) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int64_t k = 0; k < n; ++k) {  // columns p, q
          const double akp = a[size_t(k * n + p)], akq = a[size_t(k * n + q)];
          a[size_t(k * n + p)] = c * akp - s * akq;
          a[size_t(k * n + q)] = s * akp + c * akq;
        }
        for (int64_t k = 0; k < n; ++k) {  // rows p, q
          const double apk = a[size_t(p * n + k)], aqk = a[size_t(q * n + k)];
          a[size_t(p * n + k)] = c * apk - s * aqk;
          a[size_t(q * n + k)] = s * apk + c * aqk;
        }
        for (int64_t k = 0; k < n; ++k) {
          const double vkp = vectors[size_t(k * n + p)], vkq = vectors[size_t(k * n + q)];
          vectors[size_t(k * n + p)] = c * vkp - s * vkq;
          vectors[size_t(k * n + q)] = s * vkp + c * vkq;
        }
      }
  }
  values.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) values[size_t(i)] = a[size_t(i * n + i)];
}

void zca_whiten(float* x, int64_t count, int64_t n, double epsilon) {
  std::vector<double> mean(size_t(n), 0.0), cov(size_t(n * n), 0.0);
  for (int64_t i = 0; i < count; ++i)
    for (int64_t j = 0; j < n; ++j) mean[size_t(j)] += x[i * n + j];
  for (double& m : mean) m /= double(count);
  std::vector<double> row(static_cast<size_t>(n));
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t j = 0; j < n; ++j) row[size_t(j)] = x[i * n + j] - mean[size_t(j)];
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k = j; k < n; ++k) cov[size_t(j * n + k)] += row[size_t(j)] * row[size_t(k)];
  }
  for (int64_t j = 0; j < n; ++j)
    for (int64_t k = j; k < n; ++k) cov[size_t(k * n + j)] = cov[size_t(j * n + k)] /= double(count);
  std::vector<double> values, u;
  symmetric_eigen(cov, n, values, u);
  // W = U diag(1 / sqrt(lambda + epsilon)) U^T
  std::vector<double> w(size_t(n * n), 0.0);
  for (int64_t e = 0; e < n; ++e) {
    const double f = 1 / std::sqrt(std::max(values[size_t(e)], 0.0) + epsilon);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k = 0; k < n; ++k) w[size_t(j * n + k)] += u[size_t(j * n + e)] * f * u[size_t(k * n + e)];
  }
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t j = 0; j < n; ++j) row[size_t(j)] = x[i * n + j] - mean[size_t(j)];
    for (int64_t j = 0; j < n; ++j) {
      double v = 0;
      for (int64_t k = 0; k < n; ++k) v += w[size_t(j * n + k)] * row[size_t(k)];
      x[i * n + j] = float(v);
    }
  }
}

}  // namespace hg
