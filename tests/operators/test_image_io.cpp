// engine/image_io: PNG/JPEG/BMP in (8/16 bit, grey/RGBA converted), 8-bit PNG out, atomic, errors.
#include <stb_image_write.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "engine/image_io.h"
#include "tests/operators/op_test_util.h"

using namespace reddiff;
using namespace reddiff::test;

namespace {
std::string tmp(const std::string& name) {
  const std::string d = testdata("operators_tmp");
  std::filesystem::create_directories(d);
  return d + "/" + name;
}
// a 16-bit big-endian grey PNG written by hand (stb writes 8-bit only)
void write_png16(const std::string& path, int w, int h, const std::vector<uint16_t>& px);
}  // namespace

TEST_CASE("save_png / load_image_rgb round trip within quantisation", "[image_io]") {
  const int h = 5, w = 7;
  auto x = random_vec(3 * h * w, 4);
  x[0] = 3.0f;   // clamped to white
  x[1] = -5.0f;  // clamped to black
  const std::string p = tmp("rt.png");
  save_png(p, x.data(), 3, h, w);
  Image img = load_image_rgb(p);
  REQUIRE(img.c == 3);
  REQUIRE(img.h == h);
  REQUIRE(img.w == w);
  CHECK(img.data[0] == 1.0f);
  CHECK(img.data[1] == -1.0f);
  for (size_t i = 2; i < x.size(); ++i) REQUIRE(std::fabs(img.data[i] - x[i]) <= 1.0f / 255.0f + 1e-6f);
  // reading again the saved values gives exactly the same
  save_png(p, img.data.data(), 3, h, w);
  CHECK(load_image_rgb(p).data == img.data);
  CHECK_FALSE(std::filesystem::exists(p + ".tmp"));
}

TEST_CASE("grey, grey+alpha and RGBA images become RGB; 16-bit PNGs keep their precision", "[image_io]") {
  const int h = 3, w = 4;
  std::vector<unsigned char> grey(h * w), ga(h * w * 2), rgba(h * w * 4);
  for (int i = 0; i < h * w; ++i) {
    grey[size_t(i)] = static_cast<unsigned char>(i * 20);
    ga[size_t(2 * i)] = static_cast<unsigned char>(i * 20);
    ga[size_t(2 * i + 1)] = 7;
    for (int k = 0; k < 3; ++k) rgba[size_t(4 * i + k)] = static_cast<unsigned char>(i * 20 + k);
    rgba[size_t(4 * i + 3)] = 0;
  }
  REQUIRE(stbi_write_png(tmp("g.png").c_str(), w, h, 1, grey.data(), w));
  REQUIRE(stbi_write_png(tmp("ga.png").c_str(), w, h, 2, ga.data(), w * 2));
  REQUIRE(stbi_write_png(tmp("rgba.png").c_str(), w, h, 4, rgba.data(), w * 4));
  REQUIRE(stbi_write_bmp(tmp("rgb.bmp").c_str(), w, h, 4, rgba.data()));
  REQUIRE(stbi_write_jpg(tmp("g.jpg").c_str(), w, h, 1, grey.data(), 100));
  for (const char* f : {"g.png", "ga.png"}) {
    Image img = load_image_rgb(tmp(f), true);
    REQUIRE(img.c == 3);
    for (int k = 0; k < 3; ++k)
      for (int i = 0; i < h * w; ++i) REQUIRE(img.data[size_t(k * h * w + i)] == Approx(i * 20 / 255.0 * 2 - 1));
  }
  for (const char* f : {"rgba.png", "rgb.bmp"}) {
    Image img = load_image_rgb(tmp(f), true);
    REQUIRE(img.c == 3);
    for (int k = 0; k < 3; ++k)
      for (int i = 0; i < h * w; ++i) REQUIRE(img.data[size_t(k * h * w + i)] == Approx((i * 20 + k) / 255.0 * 2 - 1));
  }
  Image j = load_image_rgb(tmp("g.jpg"), true);
  CHECK(j.h == h);
  CHECK(j.w == w);
  Image raw = load_image_raw(tmp("rgba.png"));
  CHECK(raw.c == 4);

  std::vector<uint16_t> px16(h * w);
  for (int i = 0; i < h * w; ++i) px16[size_t(i)] = uint16_t(i * 5000 + 1);
  write_png16(tmp("g16.png"), w, h, px16);
  Image i16 = load_image_rgb(tmp("g16.png"), true);
  REQUIRE(i16.c == 3);
  for (int i = 0; i < h * w; ++i)
    REQUIRE(i16.data[size_t(2 * h * w + i)] == Approx((i * 5000 + 1) / 65535.0 * 2 - 1).margin(1e-6));
}

TEST_CASE("missing, corrupt and unwritable files are one-line errors naming the file", "[image_io]") {
  CHECK_THROWS_WITH(load_image_rgb(tmp("nope.png")), Catch::Contains("nope.png") && !Catch::Contains("\n"));
  { std::ofstream(tmp("corrupt.png")) << "\x89PNG garbage"; }
  CHECK_THROWS_WITH(load_image_rgb(tmp("corrupt.png")), Catch::Contains("corrupt.png") && !Catch::Contains("\n"));
  std::vector<float> x(3 * 4, 0.0f);
  CHECK_THROWS_WITH(save_png(tmp("no_such_dir/out.png"), x.data(), 3, 2, 2), Catch::Contains("out.png"));
  CHECK(has_extension("a/b.NPY", ".npy"));
  CHECK_FALSE(has_extension("a/b.png", ".npy"));
}

namespace {
uint32_t crc32(const unsigned char* d, size_t n, uint32_t c = 0xffffffffu) {
  for (size_t i = 0; i < n; ++i) {
    c ^= d[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return c;
}
uint32_t adler32(const std::vector<unsigned char>& d) {
  uint32_t a = 1, b = 0;
  for (unsigned char v : d) {
    a = (a + v) % 65521;
    b = (b + a) % 65521;
  }
  return (b << 16) | a;
}
void put32(std::vector<unsigned char>& v, uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<unsigned char>(x >> s));
}
void chunk(std::ofstream& f, const char* type, const std::vector<unsigned char>& data) {
  std::vector<unsigned char> c;
  put32(c, uint32_t(data.size()));
  c.insert(c.end(), type, type + 4);
  c.insert(c.end(), data.begin(), data.end());
  const uint32_t crc = crc32(c.data() + 4, c.size() - 4) ^ 0xffffffffu;
  put32(c, crc);
  f.write(reinterpret_cast<const char*>(c.data()), std::streamsize(c.size()));
}
void write_png16(const std::string& path, int w, int h, const std::vector<uint16_t>& px) {
  std::ofstream f(path, std::ios::binary);
  const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  f.write(reinterpret_cast<const char*>(sig), 8);
  std::vector<unsigned char> ihdr;
  put32(ihdr, uint32_t(w));
  put32(ihdr, uint32_t(h));
  ihdr.insert(ihdr.end(), {16, 0, 0, 0, 0});  // 16-bit grey
  chunk(f, "IHDR", ihdr);
  std::vector<unsigned char> raw;
  for (int y = 0; y < h; ++y) {
    raw.push_back(0);  // filter none
    for (int x = 0; x < w; ++x) {
      raw.push_back(static_cast<unsigned char>(px[size_t(y * w + x)] >> 8));
      raw.push_back(static_cast<unsigned char>(px[size_t(y * w + x)] & 0xff));
    }
  }
  // zlib stream with one stored (uncompressed) block
  std::vector<unsigned char> z = {0x78, 0x01, 0x01};
  const uint16_t len = uint16_t(raw.size()), nlen = uint16_t(~len);
  z.insert(z.end(), {static_cast<unsigned char>(len & 0xff), static_cast<unsigned char>(len >> 8),
                     static_cast<unsigned char>(nlen & 0xff), static_cast<unsigned char>(nlen >> 8)});
  z.insert(z.end(), raw.begin(), raw.end());
  put32(z, adler32(raw));
  chunk(f, "IDAT", z);
  chunk(f, "IEND", {});
}
}  // namespace
