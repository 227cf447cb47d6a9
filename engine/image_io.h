// Image files: PNG/JPEG/BMP (and the other formats stb_image reads), 8 or 16 bits per channel, in; 8- or 16-bit
// PNG out. Pixel data is float, planar (C x H x W).
#pragma once
#include <string>
#include <vector>

namespace reddiff {

struct Image {
  int c = 0, h = 0, w = 0;
  std::vector<float> data;  // c x h x w
};

// The header of an image file: size, stored channels, 8 or 16 bits. Reads no pixel data. An unreadable
// file, or one whose size is over max_pixels() (engine/input_limits.h), is a one-line reddiff::Error.
struct ImageInfo {
  int c = 0, h = 0, w = 0;
  bool is16 = false;
};
ImageInfo probe_image(const std::string& path);

// Loads an image as RGB in [-1, 1] (c = 3). Grey images are replicated to RGB and an alpha channel is
// dropped, with a notice on stderr unless quiet. A missing or unreadable file is a one-line reddiff::Error.
Image load_image_rgb(const std::string& path, bool quiet = false);

// Loads an image with its stored channels (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) in [0, 1]. The header is
// checked first (probe_image): an image over the pixel limit is refused before its pixels are allocated.
Image load_image_raw(const std::string& path);

// Writes a PNG (c = 1 grey, 3 RGB or 4 RGBA) of 8 or 16 bits per channel atomically (temporary file in the
// same folder, then rename). Values are mapped from [lo, hi] to [0, 2^bits - 1] with clamping and rounding to
// nearest. 8 bits through stb_image_write, 16 through libpng.
void save_png(const std::string& path, const float* chw, int c, int h, int w, float lo = -1.0f, float hi = 1.0f,
              int bits = 8);

// Writes bytes to path atomically (a temporary file in the same folder, then rename); a one-line
// reddiff::Error on failure. save_png and the JPEG writer (operators/jpeg_file.h) use it.
void write_file_atomic(const std::string& path, const void* data, size_t size);

// True when path ends with ext (case-insensitive), e.g. has_extension(p, ".npy").
bool has_extension(const std::string& path, const std::string& ext);

}  // namespace reddiff
