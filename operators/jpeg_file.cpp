// JPEG reading (coefficients and libjpeg's decoded image) and encoding through libjpeg (libjpeg-turbo).
//
// libjpeg reports errors through error_exit, which by default calls exit(). Here error_exit and the
// corrupt-data warnings longjmp back to the function that called setjmp; every such function keeps its C++
// objects outside the setjmp region (results go to heap objects reached through an unmodified pointer), so
// no destructor is skipped and no local changed after setjmp is read after the jump.
#include "operators/jpeg_file.h"

// clang-format off
#include <cstdio>   // jpeglib.h needs FILE and size_t first
#include <jpeglib.h>
#include <jerror.h>
// clang-format on

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csetjmp>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>

#include "base/error.h"
#include "engine/image_io.h"

namespace reddiff {
namespace {

constexpr double kMaxPixels = double(1 << 28);

struct ErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg passes &pub
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

extern "C" void rd_jpeg_error_exit(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  std::longjmp(e->jump, 1);
}

// Warnings (level -1) about corrupt data become errors: a damaged file has wrong coefficients. Trace
// messages (level >= 0) and the harmless warnings (an unknown JFIF revision, a bad ICC marker, which the
// coefficients do not depend on) are ignored.
extern "C" void rd_jpeg_emit_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;
  const int code = cinfo->err->msg_code;
  if (code == JWRN_JFIF_MAJOR || code == JWRN_BOGUS_ICC) return;
  rd_jpeg_error_exit(cinfo);
}

// Zeroes a (de)compressor and attaches the error manager (before setjmp and jpeg_create_*).
template <typename Cinfo>
void attach_error_manager(Cinfo& cinfo, ErrorManager& e) {
  std::memset(&cinfo, 0, sizeof cinfo);
  jpeg_std_error(&e.pub);
  e.pub.error_exit = rd_jpeg_error_exit;
  e.pub.emit_message = rd_jpeg_emit_message;
  e.message[0] = '\0';
  cinfo.err = &e.pub;
}

// The setjmp branch of every libjpeg call site: the message, the (de)compressor freed.
template <typename Cinfo>
bool jumped(Cinfo& cinfo, const ErrorManager& e, std::string* why) {
  why->assign(e.message);
  jpeg_destroy(reinterpret_cast<j_common_ptr>(&cinfo));
  return false;
}

// Checks after jpeg_read_header that reddiff can use the file; returns an empty string or the reason.
std::string unsupported_reason(const jpeg_decompress_struct& c) {
  if (double(c.image_width) * double(c.image_height) > kMaxPixels)
    return "image of " + std::to_string(c.image_width) + "x" + std::to_string(c.image_height) +
           " pixels is larger than reddiff reads (2^28 pixels)";
  switch (c.jpeg_color_space) {
    case JCS_GRAYSCALE:
    case JCS_YCbCr:
    case JCS_RGB:
      break;
    case JCS_CMYK:
      return "CMYK JPEG files are not supported (reddiff restores grey, YCbCr and RGB JPEGs)";
    case JCS_YCCK:
      return "YCCK (CMYK) JPEG files are not supported (reddiff restores grey, YCbCr and RGB JPEGs)";
    default:
      return "JPEG with " + std::to_string(c.num_components) +
             " colour components of unknown colour space is not supported (reddiff restores grey, YCbCr and RGB JPEGs)";
  }
  if ((c.jpeg_color_space == JCS_GRAYSCALE) != (c.num_components == 1) ||
      (c.jpeg_color_space != JCS_GRAYSCALE && c.num_components != 3))
    return "JPEG with " + std::to_string(c.num_components) + " components in colour space " +
           std::to_string(int(c.jpeg_color_space)) + " is not supported";
  for (int ci = 0; ci < c.num_components; ++ci) {
    const jpeg_component_info& k = c.comp_info[ci];
    if (c.max_h_samp_factor % k.h_samp_factor != 0 || c.max_v_samp_factor % k.v_samp_factor != 0)
      return "JPEG chroma sampling factors " + std::to_string(k.h_samp_factor) + "x" + std::to_string(k.v_samp_factor) +
             " of component " + std::to_string(ci) + " are not an integer fraction of " +
             std::to_string(c.max_h_samp_factor) + "x" + std::to_string(c.max_v_samp_factor) + " (not supported)";
  }
  return "";
}

// Runs body on a decompressor reading data, after jpeg_read_header and the support checks, then finishes
// the decompression. libjpeg's errors and corrupt-data warnings, in body too, jump back here, so a body holds
// no objects with destructors across libjpeg calls (its results go to *ctx). Returns false with the reason
// in *why.
using DecompressBody = bool (*)(jpeg_decompress_struct& cinfo, void* ctx, std::string* why);
bool run_decompressor(const uint8_t* data, size_t size, DecompressBody body, void* ctx, std::string* why) {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  attach_error_manager(cinfo, err);
  if (setjmp(err.jump)) return jumped(cinfo, err, why);
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  why->assign(unsupported_reason(cinfo));
  const bool ok = why->empty() && body(cinfo, ctx, why);
  if (ok) jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return ok;
}

// The coefficients and tables into *(JpegCoefficients*)ctx.
bool read_coefficients(jpeg_decompress_struct& cinfo, void* ctx, std::string* why) {
  auto* out = static_cast<JpegCoefficients*>(ctx);
  jvirt_barray_ptr* arrays = jpeg_read_coefficients(&cinfo);
  out->width = int(cinfo.image_width);
  out->height = int(cinfo.image_height);
  out->color = cinfo.jpeg_color_space == JCS_GRAYSCALE ? JpegColor::Grey
               : cinfo.jpeg_color_space == JCS_RGB     ? JpegColor::RGB
                                                       : JpegColor::YCbCr;
  out->max_h = cinfo.max_h_samp_factor;
  out->max_v = cinfo.max_v_samp_factor;
  out->progressive = cinfo.progressive_mode != 0;
  out->arithmetic = cinfo.arith_code != 0;
  out->restart_interval = int(cinfo.restart_interval);
  out->comps.resize(size_t(cinfo.num_components));
  for (int ci = 0; ci < cinfo.num_components; ++ci) {
    const jpeg_component_info& k = cinfo.comp_info[ci];
    JpegComponent& c = out->comps[size_t(ci)];
    if (!k.quant_table) {
      why->assign("component " + std::to_string(ci) + " has no coded data");
      return false;
    }
    c.id = k.component_id;
    c.h_samp = k.h_samp_factor;
    c.v_samp = k.v_samp_factor;
    c.width = int(k.downsampled_width);
    c.height = int(k.downsampled_height);
    c.width_in_blocks = int(k.width_in_blocks);
    c.height_in_blocks = int(k.height_in_blocks);
    for (int i = 0; i < 64; ++i) c.quant[size_t(i)] = k.quant_table->quantval[i];
    c.coef.resize(size_t(c.width_in_blocks) * c.height_in_blocks * 64);
    for (int by = 0; by < c.height_in_blocks; ++by) {
      JBLOCKARRAY row = (*cinfo.mem->access_virt_barray)(reinterpret_cast<j_common_ptr>(&cinfo), arrays[ci],
                                                         JDIMENSION(by), 1, FALSE);
      for (int bx = 0; bx < c.width_in_blocks; ++bx)
        std::memcpy(&c.coef[(size_t(by) * c.width_in_blocks + bx) * 64], row[0][bx], 64 * sizeof(int16_t));
    }
  }
  return true;
}

// libjpeg's decompression into interleaved 8-bit rows of *(DecodeResult*)ctx.
struct DecodeResult {
  int c = 0, h = 0, w = 0;
  std::vector<uint8_t> px;
};
bool decode_pixels(jpeg_decompress_struct& cinfo, void* ctx, std::string*) {
  auto* out = static_cast<DecodeResult*>(ctx);
  cinfo.out_color_space = cinfo.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  out->c = int(cinfo.output_components);
  out->h = int(cinfo.output_height);
  out->w = int(cinfo.output_width);
  out->px.resize(size_t(out->c) * out->h * out->w);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out->px.data() + size_t(cinfo.output_scanline) * out->w * out->c;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  return true;
}

struct EncodeState {
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  std::vector<uint8_t> rows;  // interleaved 8-bit pixels
};
bool encode_pixels(EncodeState* st, int c, int h, int w, const JpegEncodeOptions& o, std::string* why) {
  jpeg_compress_struct cinfo;
  ErrorManager err;
  attach_error_manager(cinfo, err);
  if (setjmp(err.jump)) return jumped(cinfo, err, why);
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &st->buf, &st->size);
  cinfo.image_width = JDIMENSION(w);
  cinfo.image_height = JDIMENSION(h);
  cinfo.input_components = c;
  cinfo.in_color_space = c == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  if (c == 3 && o.rgb) jpeg_set_colorspace(&cinfo, JCS_RGB);
  if (o.tables.empty()) {
    jpeg_set_quality(&cinfo, o.quality, TRUE);
  } else {
    for (size_t t = 0; t < o.tables.size(); ++t) {
      unsigned int basic[64];
      for (int i = 0; i < 64; ++i) basic[i] = o.tables[t][size_t(i)];
      jpeg_add_quant_table(&cinfo, int(t), basic, 100, FALSE);
    }
    if (c == 3 && o.tables.size() == 1) cinfo.comp_info[1].quant_tbl_no = cinfo.comp_info[2].quant_tbl_no = 0;
  }
  if (c == 3) {
    const int hf = o.subsampling == "444" ? 1 : 2, vf = o.subsampling == "420" ? 2 : 1;
    cinfo.comp_info[0].h_samp_factor = hf;
    cinfo.comp_info[0].v_samp_factor = vf;
    for (int k = 1; k < 3; ++k) cinfo.comp_info[k].h_samp_factor = cinfo.comp_info[k].v_samp_factor = 1;
  }
  cinfo.dct_method = o.dct == "float" ? JDCT_FLOAT : o.dct == "ifast" ? JDCT_IFAST : JDCT_ISLOW;
  cinfo.arith_code = o.arithmetic ? TRUE : FALSE;
  cinfo.restart_interval = static_cast<unsigned int>(o.restart_interval);
  if (o.progressive) jpeg_simple_progression(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = st->rows.data() + size_t(cinfo.next_scanline) * w * c;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return true;
}

std::vector<uint8_t> read_whole_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot open '" + path + "': " + std::strerror(errno));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) throw Error("cannot read '" + path + "'");
  return bytes;
}

// The IJG tables of a quality (luma, chroma), as jpeg_set_quality makes them.
void ijg_tables(int quality, bool baseline, std::array<uint16_t, 64>* luma, std::array<uint16_t, 64>* chroma) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr e;
  cinfo.err = jpeg_std_error(&e);  // nothing here can fail for valid arguments
  jpeg_create_compress(&cinfo);
  cinfo.in_color_space = JCS_RGB;
  cinfo.input_components = 3;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, baseline ? TRUE : FALSE);
  for (int i = 0; i < 64; ++i) {
    (*luma)[size_t(i)] = cinfo.quant_tbl_ptrs[0]->quantval[i];
    (*chroma)[size_t(i)] = cinfo.quant_tbl_ptrs[1]->quantval[i];
  }
  jpeg_destroy_compress(&cinfo);
}

}  // namespace

const char* jpeg_color_name(JpegColor c) {
  switch (c) {
    case JpegColor::Grey:
      return "grey";
    case JpegColor::YCbCr:
      return "YCbCr";
    case JpegColor::RGB:
      return "RGB";
  }
  return "?";
}

std::string JpegCoefficients::subsampling() const {
  if (comps.size() != 3) return "";
  const JpegComponent &y = comps[0], &cb = comps[1], &cr = comps[2];
  if (cb.h_samp == 1 && cb.v_samp == 1 && cr.h_samp == 1 && cr.v_samp == 1) {
    if (y.h_samp == 1 && y.v_samp == 1) return "4:4:4";
    if (y.h_samp == 2 && y.v_samp == 1) return "4:2:2";
    if (y.h_samp == 2 && y.v_samp == 2) return "4:2:0";
    if (y.h_samp == 1 && y.v_samp == 2) return "4:4:0";
    if (y.h_samp == 4 && y.v_samp == 1) return "4:1:1";
  }
  std::string s;
  for (const auto& c : comps) s += (s.empty() ? "" : ",") + std::to_string(c.h_samp) + "x" + std::to_string(c.v_samp);
  return s;
}

int JpegCoefficients::estimated_quality() const {
  if (comps.empty()) return 0;
  int best = 0;
  double best_d = std::numeric_limits<double>::infinity();
  for (int q = 1; q <= 100; ++q)
    for (bool baseline : {true, false}) {
      std::array<uint16_t, 64> luma, chroma;
      ijg_tables(q, baseline, &luma, &chroma);
      double d = 0.0;
      for (size_t ci = 0; ci < comps.size(); ++ci) {
        const auto& t = ci == 0 ? luma : chroma;
        for (size_t i = 0; i < 64; ++i) {
          const double e = double(comps[ci].quant[i]) - double(t[i]);
          d += e * e;
        }
      }
      if (d < best_d) {
        best_d = d;
        best = q;
      }
    }
  return best;
}

std::string JpegCoefficients::describe() const {
  std::string s = std::to_string(width) + "x" + std::to_string(height) + " " + jpeg_color_name(color);
  const std::string sub = subsampling();
  if (!sub.empty() && color != JpegColor::Grey) s += " " + sub;
  s += progressive ? ", progressive" : ", sequential";
  if (arithmetic) s += ", arithmetic-coded";
  if (restart_interval > 0) s += ", restart every " + std::to_string(restart_interval) + " MCUs";
  s += ", quality ~" + std::to_string(estimated_quality());
  return s;
}

JpegCoefficients read_jpeg_memory(const uint8_t* data, size_t size, const std::string& name) {
  if (size < 4) throw Error(name + ": not a JPEG file (" + std::to_string(size) + " bytes)");
  auto out = std::make_unique<JpegCoefficients>();
  std::string why;
  if (!run_decompressor(data, size, read_coefficients, out.get(), &why)) throw Error(name + ": " + why);
  out->name = name;
  return std::move(*out);
}

JpegCoefficients read_jpeg_file(const std::string& path) {
  const std::vector<uint8_t> bytes = read_whole_file(path);
  return read_jpeg_memory(bytes.data(), bytes.size(), path);
}

DecodedJpeg decode_jpeg_memory(const uint8_t* data, size_t size, const std::string& name) {
  if (size < 4) throw Error(name + ": not a JPEG file (" + std::to_string(size) + " bytes)");
  auto r = std::make_unique<DecodeResult>();
  std::string why;
  if (!run_decompressor(data, size, decode_pixels, r.get(), &why)) throw Error(name + ": " + why);
  DecodedJpeg d;
  d.c = r->c;
  d.h = r->h;
  d.w = r->w;
  d.data.resize(r->px.size());
  const size_t hw = size_t(d.h) * d.w;
  for (size_t i = 0; i < hw; ++i)
    for (int k = 0; k < d.c; ++k) d.data[size_t(k) * hw + i] = float(r->px[i * d.c + k]) / 127.5f - 1.0f;
  return d;
}

DecodedJpeg decode_jpeg_file(const std::string& path) {
  const std::vector<uint8_t> bytes = read_whole_file(path);
  return decode_jpeg_memory(bytes.data(), bytes.size(), path);
}

void validate_jpeg_encode_options(const JpegEncodeOptions& o) {
  if (o.quality < 1 || o.quality > 100) throw Error("--quality must be in 1..100, got " + std::to_string(o.quality));
  if (o.subsampling != "444" && o.subsampling != "422" && o.subsampling != "420")
    throw Error("--subsampling: unknown value '" + o.subsampling + "' (expected 444, 422 or 420)");
  if (o.restart_interval < 0 || o.restart_interval > 65535)
    throw Error("restart interval must be in 0..65535 MCUs, got " + std::to_string(o.restart_interval));
  if (o.dct != "islow" && o.dct != "float" && o.dct != "ifast")
    throw Error("JPEG DCT method: unknown value '" + o.dct + "' (expected islow, float or ifast)");
  if (o.tables.size() > 2) throw Error("JPEG encoder: at most two quantisation tables (luma, chroma)");
  for (const auto& t : o.tables)
    for (uint16_t v : t)
      if (v < 1 || v > 32767) throw Error("JPEG encoder: quantisation table entries must be in 1..32767");
}

std::vector<uint8_t> encode_jpeg(const float* chw, int c, int h, int w, const JpegEncodeOptions& o) {
  validate_jpeg_encode_options(o);
  if (c != 1 && c != 3) throw Error("JPEG encoder: images have 1 or 3 channels, got " + std::to_string(c));
  if (h <= 0 || w <= 0 || h > 65500 || w > 65500)
    throw Error("JPEG encoder: image size " + std::to_string(w) + "x" + std::to_string(h) + " is outside 1..65500");
  auto st = std::make_unique<EncodeState>();
  st->rows.resize(size_t(c) * h * w);
  const size_t hw = size_t(h) * w;
  for (size_t i = 0; i < hw; ++i)
    for (int k = 0; k < c; ++k) {
      float v = (chw[size_t(k) * hw + i] + 1.0f) * 127.5f;
      if (!(v > 0.0f)) v = 0.0f;  // NaN too
      if (v > 255.0f) v = 255.0f;
      st->rows[i * c + k] = static_cast<uint8_t>(std::floor(v + 0.5f));
    }
  std::string why;
  const bool ok = encode_pixels(st.get(), c, h, w, o, &why);
  std::vector<uint8_t> bytes;
  if (ok && st->buf) bytes.assign(st->buf, st->buf + st->size);
  std::free(st->buf);
  if (!ok) throw Error("JPEG encoder: " + why, 1);
  return bytes;
}

void write_jpeg_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace reddiff
