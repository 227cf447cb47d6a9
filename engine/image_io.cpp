#include "engine/image_io.h"

#include <stb_image.h>
#include <png.h>
#include <stb_image_write.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <type_traits>

#include "base/error.h"

namespace reddiff {
namespace {

struct StbFree {
  void operator()(void* p) const { stbi_image_free(p); }
};

std::string quoted(const std::string& p) { return "'" + p + "'"; }

}  // namespace

bool has_extension(const std::string& path, const std::string& ext) {
  if (path.size() < ext.size()) return false;
  for (size_t i = 0; i < ext.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(path[path.size() - ext.size() + i])) !=
        std::tolower(static_cast<unsigned char>(ext[i])))
      return false;
  return true;
}

Image load_image_raw(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw Error("cannot open image " + quoted(path) + ": " + std::strerror(errno));
  int w = 0, h = 0, c = 0;
  Image img;
  const bool is16 = stbi_is_16_bit_from_file(f) != 0;
  std::fseek(f, 0, SEEK_SET);
  // Decodes interleaved pixels of type T (8- or 16-bit) into planar floats in [0, 1].
  auto decode = [&](auto* pixels, float max_value) {
    using T = std::remove_pointer_t<decltype(pixels)>;
    std::unique_ptr<T, StbFree> px(pixels);
    std::fclose(f);
    if (!px) throw Error("cannot read image " + quoted(path) + ": " + (stbi_failure_reason() ? stbi_failure_reason() : "unknown format"));
    img.c = c;
    img.h = h;
    img.w = w;
    img.data.resize(size_t(c) * h * w);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int k = 0; k < c; ++k)
          img.data[(size_t(k) * h + y) * w + x] = float(px.get()[(size_t(y) * w + x) * c + k]) / max_value;
  };
  if (is16) decode(stbi_load_from_file_16(f, &w, &h, &c, 0), 65535.0f);
  else decode(stbi_load_from_file(f, &w, &h, &c, 0), 255.0f);
  if (w <= 0 || h <= 0 || c <= 0) throw Error("cannot read image " + quoted(path) + ": empty image");
  return img;
}

Image load_image_rgb(const std::string& path, bool quiet) {
  Image raw = load_image_raw(path);
  Image out;
  out.c = 3;
  out.h = raw.h;
  out.w = raw.w;
  const size_t hw = size_t(raw.h) * raw.w;
  out.data.resize(3 * hw);
  const int src_rgb = raw.c >= 3 ? 3 : 1;
  for (int k = 0; k < 3; ++k) {
    const float* src = raw.data.data() + (src_rgb == 3 ? size_t(k) : 0) * hw;
    float* dst = out.data.data() + size_t(k) * hw;
    for (size_t i = 0; i < hw; ++i) dst[i] = 2.0f * src[i] - 1.0f;
  }
  if (!quiet && raw.c != 3) {
    const char* what = raw.c == 1 ? "grey image replicated to RGB"
                       : raw.c == 2 ? "grey+alpha image: alpha dropped, grey replicated to RGB"
                                    : "RGBA image: alpha channel dropped";
    std::fprintf(stderr, "reddiff: note: %s: %s\n", path.c_str(), what);
  }
  return out;
}

namespace {

// A 16-bit PNG through libpng (stb_image_write writes 8 bits only): samples big-endian, interleaved.
std::vector<unsigned char> encode_png16(const std::string& path, const float* chw, int c, int h, int w, float lo, float hi) {
  const size_t hw = size_t(h) * w;
  std::vector<unsigned char> px(hw * c * 2);
  const float scale = 65535.0f / (hi - lo);
  for (int k = 0; k < c; ++k)
    for (size_t i = 0; i < hw; ++i) {
      float v = (chw[size_t(k) * hw + i] - lo) * scale;
      if (!(v > 0.0f)) v = 0.0f;  // also maps NaN to 0
      if (v > 65535.0f) v = 65535.0f;
      const unsigned q = unsigned(std::floor(v + 0.5f));
      px[(i * c + k) * 2] = static_cast<unsigned char>(q >> 8);
      px[(i * c + k) * 2 + 1] = static_cast<unsigned char>(q & 0xff);
    }
  std::vector<unsigned char> encoded;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info) {
    png_destroy_write_struct(&png, &info);
    throw Error("cannot encode PNG " + quoted(path), 1);
  }
  if (setjmp(png_jmpbuf(png))) {  // libpng's errors land here
    png_destroy_write_struct(&png, &info);
    throw Error("cannot encode PNG " + quoted(path), 1);
  }
  png_set_write_fn(
      png, &encoded,
      [](png_structp p, png_bytep data, png_size_t size) {
        auto* v = static_cast<std::vector<unsigned char>*>(png_get_io_ptr(p));
        v->insert(v->end(), data, data + size);
      },
      nullptr);
  const int type = c == 1 ? PNG_COLOR_TYPE_GRAY : c == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGB_ALPHA;
  png_set_IHDR(png, info, png_uint_32(w), png_uint_32(h), 16, type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < h; ++y) png_write_row(png, px.data() + size_t(y) * size_t(w) * size_t(c) * 2);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return encoded;
}

}  // namespace

void save_png(const std::string& path, const float* chw, int c, int h, int w, float lo, float hi, int bits) {
  if (c != 1 && c != 3 && c != 4) throw Error("cannot write " + quoted(path) + ": " + std::to_string(c) + " channels");
  if (h <= 0 || w <= 0) throw Error("cannot write " + quoted(path) + ": empty image");
  if (bits != 8 && bits != 16) throw Error("cannot write " + quoted(path) + ": " + std::to_string(bits) + " bits per channel");
  if (bits == 16) {
    const std::vector<unsigned char> encoded = encode_png16(path, chw, c, h, w, lo, hi);
    write_file_atomic(path, encoded.data(), encoded.size());
    return;
  }
  const size_t hw = size_t(h) * w;
  std::vector<unsigned char> px(hw * c);
  const float scale = 255.0f / (hi - lo);
  for (int k = 0; k < c; ++k)
    for (size_t i = 0; i < hw; ++i) {
      float v = (chw[size_t(k) * hw + i] - lo) * scale;
      if (!(v > 0.0f)) v = 0.0f;  // also maps NaN to 0
      if (v > 255.0f) v = 255.0f;
      px[i * c + k] = static_cast<unsigned char>(std::floor(v + 0.5f));
    }
  std::vector<unsigned char> encoded;
  auto sink = [](void* ctx, void* data, int size) {
    auto* v = static_cast<std::vector<unsigned char>*>(ctx);
    v->insert(v->end(), static_cast<unsigned char*>(data), static_cast<unsigned char*>(data) + size);
  };
  if (!stbi_write_png_to_func(sink, &encoded, w, h, c, px.data(), w * c) || encoded.empty())
    throw Error("cannot encode PNG " + quoted(path));
  write_file_atomic(path, encoded.data(), encoded.size());
}

void write_file_atomic(const std::string& path, const void* data, size_t size) {
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw Error("cannot write " + quoted(path) + ": " + std::strerror(errno));
  const bool ok = std::fwrite(data, 1, size, f) == size;
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) {
    const int e = errno;
    std::remove(tmp.c_str());
    throw Error("cannot write " + quoted(path) + ": " + std::strerror(e));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    throw Error("cannot write " + quoted(path) + ": " + std::strerror(e));
  }
}

}  // namespace reddiff
