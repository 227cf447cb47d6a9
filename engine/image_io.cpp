// Image files in and out. JPEG is decoded by libjpeg (libjpeg-turbo); PNG, BMP, GIF, PNM and TGA by
// stb_image; PNG is written by stb_image_write. Debian 12's stb_image (2.27) overflows a heap buffer on a
// JPEG whose Huffman table declares more than 256 codes (fixed upstream in 2.28), and its PNM header
// parser overflows an int on long numbers: so no file that stb_image would take for a JPEG reaches it, and a
// PNM header is checked here first (docs/security.md; found by fuzz/fuzz_image.cpp), as are a PNG's chunk
// lengths (stb_image allocates what a chunk declares; found by fuzz/fuzz_kernel.cpp). Every header is read
// before any pixel is allocated, against the pixel limit (engine/input_limits.h).
#include "engine/image_io.h"

#include <stb_image.h>
#include <png.h>
#include <stb_image_write.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <type_traits>

#include <jpeglib.h>  // after <cstdio>: it needs FILE
#include <jerror.h>

#include "base/error.h"
#include "engine/input_limits.h"

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

namespace {

// ---------------------------------------------------------------- which decoder

// True when stb_image would take the file for a JPEG: 0xFF, any further 0xFF fill bytes, then SOI (0xD8).
// (libjpeg itself then insists on FF D8 at the start.)
bool looks_like_jpeg(FILE* f) {
  std::rewind(f);
  int c = std::fgetc(f);
  bool jpeg = false;
  if (c == 0xFF) {
    while ((c = std::fgetc(f)) == 0xFF) {}
    jpeg = c == 0xD8;
  }
  std::rewind(f);
  return jpeg;
}

// stb_image's PNM header parser accumulates digits in an int without a bound. Reads the header as it does
// (P5 or P6, whitespace and # comments, width, height, maxval) and refuses a number over 2^24 (stb_image's
// largest side; maxval is at most 65535) before stb_image sees it. Files that are not PNM are left alone.
void check_pnm_header(FILE* f, const std::string& path) {
  std::rewind(f);
  const int p = std::fgetc(f), t = std::fgetc(f);
  if (p == 'P' && (t == '5' || t == '6')) {
    auto space = [](int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; };
    int c = std::fgetc(f);
    for (int field = 0; field < 3; ++field) {
      for (;;) {  // whitespace and comments, as stbi__pnm_skip_whitespace
        while (c != EOF && space(c)) c = std::fgetc(f);
        if (c != '#') break;
        while (c != EOF && c != '\n' && c != '\r') c = std::fgetc(f);
      }
      int64_t v = 0;
      while (c != EOF && c >= '0' && c <= '9') {
        v = v * 10 + (c - '0');
        if (v > (int64_t(1) << 24)) {
          std::rewind(f);
          throw Error("cannot read image " + quoted(path) + ": PNM header number too large");
        }
        c = std::fgetc(f);
      }
    }
  }
  std::rewind(f);
}

// stb_image grows its IDAT buffer to a chunk's declared length before reading it, so a file of a few
// hundred bytes declaring a 1.7 GB chunk makes it allocate 2 GiB (found by fuzz/fuzz_kernel.cpp). Walks the
// chunks (length, type, data, CRC) up to IEND and refuses one that declares more bytes than the file has
// left, before stb_image sees the file. Files that are not PNG are left alone.
void check_png_chunks(FILE* f, const std::string& path) {
  std::rewind(f);
  unsigned char b[8];
  if (std::fread(b, 1, 8, f) != 8 || std::memcmp(b, "\x89PNG\r\n\x1a\n", 8) != 0) {
    std::rewind(f);
    return;
  }
  std::fseek(f, 0, SEEK_END);
  const int64_t size = std::ftell(f);
  int64_t pos = 8;
  while (pos + 8 <= size) {
    std::fseek(f, long(pos), SEEK_SET);
    if (std::fread(b, 1, 8, f) != 8) break;
    const int64_t length = int64_t(b[0]) << 24 | int64_t(b[1]) << 16 | int64_t(b[2]) << 8 | int64_t(b[3]);
    const int64_t left = size - pos - 12;  // after this chunk's length, type and CRC
    if (length > left) {
      std::string type;
      for (int i = 4; i < 8; ++i) type += std::isprint(b[i]) ? char(b[i]) : '?';
      std::rewind(f);
      throw Error("cannot read image " + quoted(path) + ": corrupt PNG: chunk '" + type + "' declares " +
                  std::to_string(length) + " bytes, the file has " + std::to_string(std::max<int64_t>(left, 0)) +
                  " left");
    }
    if (std::memcmp(b + 4, "IEND", 4) == 0) break;
    pos += 12 + length;
  }
  std::rewind(f);
}

// ---------------------------------------------------------------- libjpeg

struct JpegErrors {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool ended_early;  // the file ended inside the image data (libjpeg warns and pads it with grey)
};

void jpeg_fail(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<JpegErrors*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  std::longjmp(e->jump, 1);
}

// Messages are not printed; the one warning that matters, a file that ends early, is recorded.
void jpeg_quiet(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) reinterpret_cast<JpegErrors*>(cinfo->err)->ended_early = true;
}

// Reads the JPEG f (from its start): the header into info, and with px also the pixels, 8-bit interleaved
// grey or RGB (CMYK and YCCK converted as stb_image did: R = C K / 255 on Adobe's inverted values), when
// the header is still `expect` (the one checked against the pixel limit). False with *err on a corrupt or
// unsupported file; a file that ends early is an error (libjpeg would pad it).
// Plain C data only between setjmp and longjmp: px and err belong to the caller.
bool jpeg_read(FILE* f, ImageInfo* info, const ImageInfo* expect, std::vector<unsigned char>* px, std::string* err) {
  std::rewind(f);
  jpeg_decompress_struct cinfo;
  JpegErrors jerr;
  cinfo.err = jpeg_std_error(&jerr.mgr);
  jerr.mgr.error_exit = jpeg_fail;
  jerr.mgr.emit_message = jpeg_quiet;
  jerr.message[0] = 0;
  jerr.ended_early = false;
  if (setjmp(jerr.jump)) {
    jpeg_destroy_decompress(&cinfo);
    *err = jerr.message;
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_stdio_src(&cinfo, f);
  jpeg_read_header(&cinfo, TRUE);
  const J_COLOR_SPACE in = cinfo.jpeg_color_space;
  const bool cmyk = in == JCS_CMYK || in == JCS_YCCK;
  info->w = int(cinfo.image_width);
  info->h = int(cinfo.image_height);
  info->c = in == JCS_GRAYSCALE ? 1 : 3;
  info->is16 = false;
  if (in != JCS_GRAYSCALE && in != JCS_YCbCr && in != JCS_RGB && !cmyk) {
    std::snprintf(jerr.message, sizeof jerr.message, "unsupported JPEG colour space %d", int(in));
    std::longjmp(jerr.jump, 1);
  }
  if (px && expect && (info->w != expect->w || info->h != expect->h || info->c != expect->c)) {
    std::snprintf(jerr.message, sizeof jerr.message, "the file changed while it was read");
    std::longjmp(jerr.jump, 1);
  }
  if (px) {
    cinfo.out_color_space = in == JCS_GRAYSCALE ? JCS_GRAYSCALE : cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    const size_t w = cinfo.output_width, h = cinfo.output_height, oc = size_t(cinfo.output_components);
    if (int(w) != info->w || int(h) != info->h || oc != (cmyk ? 4u : size_t(info->c))) {
      std::snprintf(jerr.message, sizeof jerr.message, "decoder output does not match the header");
      std::longjmp(jerr.jump, 1);
    }
    px->resize(w * h * oc);
    while (cinfo.output_scanline < cinfo.output_height) {
      JSAMPROW row = px->data() + size_t(cinfo.output_scanline) * w * oc;
      jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    if (jerr.ended_early) {
      std::snprintf(jerr.message, sizeof jerr.message, "truncated JPEG data");
      std::longjmp(jerr.jump, 1);
    }
    if (cmyk) {
      for (size_t i = 0; i < w * h; ++i) {
        const unsigned char* q = px->data() + 4 * i;
        const unsigned k = q[3];
        unsigned char* o = px->data() + 3 * i;
        const unsigned char r = (unsigned char)((q[0] * k + 127) / 255), g = (unsigned char)((q[1] * k + 127) / 255),
                            b = (unsigned char)((q[2] * k + 127) / 255);
        o[0] = r, o[1] = g, o[2] = b;
      }
      px->resize(w * h * 3);
    }
  }
  jpeg_destroy_decompress(&cinfo);
  return true;
}

// ---------------------------------------------------------------- probing

// stb_image refuses a PNG header declaring over 2^30 bytes of pixels as an unknown format (its reason is
// lost among the other formats it then tries): the size the IHDR chunk declares, so that the pixel limit
// can name it. False when f is not a PNG.
bool png_declared_size(FILE* f, int64_t* h, int64_t* w) {
  unsigned char b[24];
  std::rewind(f);
  const bool got = std::fread(b, 1, sizeof b, f) == sizeof b;
  std::rewind(f);
  if (!got || std::memcmp(b, "\x89PNG\r\n\x1a\n", 8) != 0 || std::memcmp(b + 12, "IHDR", 4) != 0) return false;
  auto be32 = [&](int o) {
    return int64_t(b[o]) << 24 | int64_t(b[o + 1]) << 16 | int64_t(b[o + 2]) << 8 | int64_t(b[o + 3]);
  };
  *w = be32(16);
  *h = be32(20);
  return true;
}

// The header of the open file f, checked against the pixel limit; f is left at its start.
ImageInfo probe_open_file(FILE* f, const std::string& path) {
  ImageInfo info;
  if (looks_like_jpeg(f)) {
    std::string err;
    if (!jpeg_read(f, &info, nullptr, nullptr, &err)) throw Error("cannot read image " + quoted(path) + ": " + err);
  } else {
    check_pnm_header(f, path);
    check_png_chunks(f, path);
    if (!stbi_info_from_file(f, &info.w, &info.h, &info.c)) {
      int64_t ph = 0, pw = 0;
      if (png_declared_size(f, &ph, &pw)) check_pixels("image " + quoted(path), ph, pw);
      const char* r = stbi_failure_reason();
      throw Error("cannot read image " + quoted(path) + ": " + (r ? r : "unknown format"));
    }
    info.is16 = stbi_is_16_bit_from_file(f) != 0;
  }
  std::rewind(f);
  if (info.w <= 0 || info.h <= 0 || info.c < 1 || info.c > 4)
    throw Error("cannot read image " + quoted(path) + ": bad header (" + std::to_string(info.w) + "x" +
                std::to_string(info.h) + ", " + std::to_string(info.c) + " channels)");
  check_pixels("image " + quoted(path), info.h, info.w);
  return info;
}

// Interleaved pixels of type T (8 or 16 bits) to planar floats in [0, 1].
template <typename T>
void to_planar(const T* px, int c, int h, int w, float max_value, Image* img) {
  img->c = c;
  img->h = h;
  img->w = w;
  img->data.resize(size_t(c) * h * w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k)
        img->data[(size_t(k) * h + y) * w + x] = float(px[(size_t(y) * w + x) * c + k]) / max_value;
}

}  // namespace

ImageInfo probe_image(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw Error("cannot open image " + quoted(path) + ": " + std::strerror(errno));
  std::unique_ptr<FILE, int (*)(FILE*)> closer(f, &std::fclose);
  return probe_open_file(f, path);
}

Image load_image_raw(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw Error("cannot open image " + quoted(path) + ": " + std::strerror(errno));
  std::unique_ptr<FILE, int (*)(FILE*)> closer(f, &std::fclose);
  const ImageInfo info = probe_open_file(f, path);  // before any pixel is allocated
  Image img;
  if (looks_like_jpeg(f)) {
    std::vector<unsigned char> px;
    std::string err;
    ImageInfo again;
    if (!jpeg_read(f, &again, &info, &px, &err)) throw Error("cannot read image " + quoted(path) + ": " + err);
    to_planar(px.data(), info.c, info.h, info.w, 255.0f, &img);
    return img;
  }
  int w = 0, h = 0, c = 0;
  auto decode = [&](auto* pixels, float max_value) {
    using T = std::remove_pointer_t<decltype(pixels)>;
    std::unique_ptr<T, StbFree> px(pixels);
    if (!px)
      throw Error("cannot read image " + quoted(path) + ": " +
                  (stbi_failure_reason() ? stbi_failure_reason() : "unknown format"));
    if (w != info.w || h != info.h || c != info.c)
      throw Error("cannot read image " + quoted(path) + ": its pixels do not match its header");
    to_planar(px.get(), c, h, w, max_value, &img);
  };
  if (info.is16)
    decode(stbi_load_from_file_16(f, &w, &h, &c, 0), 65535.0f);
  else
    decode(stbi_load_from_file(f, &w, &h, &c, 0), 255.0f);
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
    const char* what = raw.c == 1   ? "grey image replicated to RGB"
                       : raw.c == 2 ? "grey+alpha image: alpha dropped, grey replicated to RGB"
                                    : "RGBA image: alpha channel dropped";
    std::fprintf(stderr, "reddiff: note: %s: %s\n", path.c_str(), what);
  }
  return out;
}

namespace {

// A 16-bit PNG through libpng (stb_image_write writes 8 bits only): samples big-endian, interleaved.
std::vector<unsigned char> encode_png16(const std::string& path, const float* chw, int c, int h, int w, float lo,
                                        float hi) {
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
  if (bits != 8 && bits != 16)
    throw Error("cannot write " + quoted(path) + ": " + std::to_string(bits) + " bits per channel");
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
  if (!f) throw WriteError("cannot write " + quoted(path) + ": " + std::strerror(errno));
  const bool ok = std::fwrite(data, 1, size, f) == size;
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) {
    const int e = errno;
    std::remove(tmp.c_str());
    throw WriteError("cannot write " + quoted(path) + ": " + std::strerror(e));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    throw WriteError("cannot write " + quoted(path) + ": " + std::strerror(e));
  }
}

}  // namespace reddiff
