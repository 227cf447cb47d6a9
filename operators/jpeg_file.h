// JPEG files through libjpeg (libjpeg-turbo): the quantised DCT coefficients exactly as a file stores them
// (jpeg_read_coefficients: no decoding, no re-encoding), libjpeg's own decoded image, and an encoder with the
// IJG quality tables. The measurement of `reddiff jpeg` (operators/op_jpeg.cpp, docs/tasks.md) is a
// JpegCoefficients; `--measure --quality QF` and `reddiff degrade jpeg` make one with encode_jpeg and read
// it back with read_jpeg_memory, exactly like a real file.
//
// Every failure is a one-line reddiff::Error with exit code 2 naming the file: not a JPEG, truncated or
// corrupt data (libjpeg's corrupt-data warnings, e.g. "Premature end of JPEG file", are errors here, since a
// damaged file has wrong coefficients), CMYK/YCCK or other colour spaces than grey, YCbCr and RGB, data
// precision other than 8 bits, sampling factors that are not integer ratios, images over 2^28 pixels.
// Progressive, restart-marker and arithmetic-coded files are read like baseline ones.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace reddiff {

enum class JpegColor { Grey, YCbCr, RGB };
const char* jpeg_color_name(JpegColor c);  // "grey", "YCbCr", "RGB"

struct JpegComponent {
  int id = 0;                                     // component identifier in the file
  int h_samp = 1, v_samp = 1;                     // sampling factors
  int width = 0, height = 0;                      // size in samples: ceil(W * h_samp / max_h), ceil(H * v_samp / max_v)
  int width_in_blocks = 0, height_in_blocks = 0;  // the block grid (covers the edge-padded component)
  std::array<uint16_t, 64> quant{};               // quantisation table, natural (row-major) order
  std::vector<int16_t> coef;                      // [height_in_blocks][width_in_blocks][64], natural order
};

struct JpegCoefficients {
  std::string name;           // file name (or "memory"), for messages
  int width = 0, height = 0;  // image size in pixels
  JpegColor color = JpegColor::YCbCr;
  int max_h = 1, max_v = 1;  // largest sampling factors
  bool progressive = false, arithmetic = false;
  int restart_interval = 0;          // in MCUs, 0: none (as the first restart interval the file declares)
  std::vector<JpegComponent> comps;  // 1 (grey) or 3

  std::string subsampling() const;  // "4:4:4", "4:2:2", "4:2:0", "4:4:0", "4:1:1" or "h1xv1,h2xv2,h3xv3"; "" for grey
  std::string describe() const;     // "640x480 YCbCr 4:2:0, baseline, quality ~30"
  // The IJG quality whose scaled standard tables equal this file's (luma and, if present, chroma), or the
  // nearest by squared table distance when none does; for descriptions only.
  int estimated_quality() const;
};

// Reads a file's coefficients and tables (the whole file is read into memory first).
JpegCoefficients read_jpeg_file(const std::string& path);
JpegCoefficients read_jpeg_memory(const uint8_t* data, size_t size, const std::string& name = "memory");

// libjpeg's own decompression (its defaults: ISLOW IDCT, fancy chroma upsampling) as planar floats in
// [-1, 1] (c = 1 for grey files, 3 otherwise): the image a viewer shows, i.e. the baseline a restoration is
// scored against.
struct DecodedJpeg {
  int c = 0, h = 0, w = 0;
  std::vector<float> data;  // c x h x w
};
DecodedJpeg decode_jpeg_file(const std::string& path);
DecodedJpeg decode_jpeg_memory(const uint8_t* data, size_t size, const std::string& name = "memory");

struct JpegEncodeOptions {
  int quality = 75;                 // 1..100, IJG tables scaled by jpeg_set_quality (baseline: entries <= 255)
  std::string subsampling = "420";  // 444 | 422 | 420 (colour images)
  bool progressive = false;         // jpeg_simple_progression
  int restart_interval = 0;         // restart marker every N MCUs (0: none)
  bool arithmetic = false;          // arithmetic coding instead of Huffman
  bool rgb = false;                 // store R, G, B without colour conversion (Adobe transform 0)
  std::string dct = "islow";        // islow (libjpeg's default) | float | ifast
  // Custom tables (natural order) instead of the quality's: [0] luma, [1] chroma (grey uses [0] only).
  std::vector<std::array<uint16_t, 64>> tables;
};
// Validates the options (one-line reddiff::Error naming the field, e.g. "--quality must be in 1..100").
void validate_jpeg_encode_options(const JpegEncodeOptions& o);

// Encodes a planar image in [-1, 1] (c = 1 grey or 3 RGB; values mapped to round((x + 1) * 127.5), clamped)
// into JPEG bytes; 16 bits per sample are not possible in JPEG.
std::vector<uint8_t> encode_jpeg(const float* chw, int c, int h, int w, const JpegEncodeOptions& o);
// Writes bytes to path atomically (temporary file, then rename).
void write_jpeg_file(const std::string& path, const std::vector<uint8_t>& bytes);

}  // namespace reddiff
