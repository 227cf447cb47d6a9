// Decompression bombs (engine/input_limits.h): an image, mask, kernel or .npy whose header declares more
// pixels than the limit is refused from the header, in one line naming the size, the limit and
// --max-pixels, with exit status 2, before anything of that size is allocated (the child's peak RSS stays
// far below what decoding would take). --max-pixels moves the limit both ways.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>

#include "base/error.h"
#include "engine/image_io.h"
#include "engine/input_limits.h"
#include "engine/npy.h"
#include "tests/security/security_test_util.h"

using namespace reddiff;
using security_test::run;
using security_test::scratch;
using security_test::write_file;

namespace {

const std::string kReddiff = reddiff_test::binary("reddiff");

bool one_line(const std::string& s) {
  size_t lines = 0;
  for (char c : s) lines += c == '\n';
  return lines == 1;
}

// A small valid PNG (w x h RGB, random), written by the library's own writer.
std::string small_png(const std::string& name, int w, int h) {
  std::vector<float> x = reddiff_test::random_normal(size_t(3) * w * h, 5, 0.5f);
  const std::string p = scratch(name);
  save_png(p, x.data(), 3, h, w);
  return p;
}

}  // namespace

TEST_CASE("check_pixels: the limit, its default from available memory, and its message", "[limits]") {
  const int64_t avail = available_memory_bytes();
  REQUIRE(avail > 0);
  // Half the available memory at kRestoreBytesPerPixel a pixel. The available memory moves while other
  // processes run (it moved by 135 KB between two reads in a loaded CI run), so within 5 %: a wrong formula
  // (a quarter, or the bytes of another mode) is far outside.
  const double expected = double(std::max<int64_t>(avail / 2 / kRestoreBytesPerPixel, 1 << 20));
  CHECK(std::fabs(double(default_max_pixels(kRestoreBytesPerPixel)) - expected) <= 0.05 * expected);
  CHECK(default_max_pixels(kDegradeBytesPerPixel) > default_max_pixels(kRestoreBytesPerPixel));
  set_max_pixels(1000, "--max-pixels");
  CHECK_NOTHROW(check_pixels("x", 10, 100));
  CHECK_NOTHROW(check_pixels("x", 1000, 1));
  CHECK_THROWS_WITH(check_pixels("image 'a.png'", 10, 101),
                    "image 'a.png' is 101x10 (1010 pixels), over the --max-pixels limit of 1000");
  CHECK_THROWS_WITH(check_pixels("x", int64_t(1) << 40, int64_t(1) << 40),
                    Catch::Contains("over the --max-pixels limit"));
  set_max_pixels(int64_t(1) << 62, "--max-pixels");
  CHECK_THROWS_WITH(check_pixels("x", int64_t(1) << 31, 1), Catch::Contains("2147483648"));  // sides are int
  set_max_pixels(default_max_pixels(kRestoreBytesPerPixel), "");
  CHECK_THROWS_WITH(check_pixels("image 'b.png'", 100000, 100000),
                    Catch::Contains("100000x100000 (10000000000 pixels), over the limit of") &&
                        Catch::Contains("from the available memory") && Catch::Contains("--max-pixels N raises it"));
  CHECK_THROWS_AS(set_max_pixels(0, "x"), Error);
}

TEST_CASE("image readers check the header before decoding", "[limits]") {
  const std::string png = small_png("limit.png", 12, 9);
  set_max_pixels(12 * 9, "--max-pixels");
  CHECK(load_image_raw(png).w == 12);
  CHECK(probe_image(png).h == 9);
  set_max_pixels(12 * 9 - 1, "--max-pixels");
  CHECK_THROWS_WITH(load_image_raw(png), Catch::Contains("is 12x9 (108 pixels)"));
  CHECK_THROWS_WITH(probe_image(png), Catch::Contains("over the --max-pixels limit of 107"));
  // a PNG header beyond what stb_image decodes (it calls that an unknown format): the size is named
  set_max_pixels(default_max_pixels(kRestoreBytesPerPixel), "");
  const std::string huge = write_file(
      "huge_header.png",
      security_test::zero_png(1, 1, 0).replace(16, 8, security_test::be32(100000) + security_test::be32(100000)));
  CHECK_THROWS_WITH(load_image_raw(huge), Catch::Contains("100000x100000"));
  CHECK_THROWS_WITH(probe_image(write_file("j.jpg", security_test::jpeg_header(65000, 60000))),
                    Catch::Contains("65000x60000"));
  // arrays read as pixels (masks, kernels)
  std::vector<float> v(5 * 7, 1.0f);
  write_npy(scratch("k.npy"), {5, 7}, v.data());
  set_max_pixels(34, "--max-pixels");
  CHECK_THROWS_WITH(read_npy_pixels(scratch("k.npy"), "blur kernel"),
                    Catch::Contains("blur kernel '") && Catch::Contains("is 7x5"));
  set_max_pixels(35, "--max-pixels");
  CHECK(read_npy_pixels(scratch("k.npy"), "blur kernel").numel() == 35);
  set_max_pixels(default_max_pixels(kRestoreBytesPerPixel), "");
}

TEST_CASE("reddiff refuses a decompression bomb from its header: exit 2, one line, no large allocation",
          "[limits][cli]") {
  // 20000 x 20000 grey, every row present: 400 MB of pixels (1.6 GB as floats) from a 400 KB file, which
  // stb_image would decode; 100000 x 100000 PNG and 65000 x 60000 JPEG headers, which it refuses itself
  // only after the size is lost; a .npy declaring 20000 x 20000 pixels (4.8 GB) in 100 bytes.
  const std::string png = write_file("bomb.png", security_test::zero_png(20000, 20000, 0));
  const std::string png_huge = write_file(
      "bomb_huge.png",
      security_test::zero_png(1, 1, 2).replace(16, 8, security_test::be32(100000) + security_test::be32(100000)));
  const std::string jpg = write_file("bomb.jpg", security_test::jpeg_header(65000, 60000));
  const std::string npy_header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 20000, 20000), }\n";
  const std::string npy =
      write_file("bomb.npy", std::string("\x93NUMPY\x01\x00", 8) + char(npy_header.size()) + '\0' + npy_header);
  const std::string small = small_png("small.png", 16, 16);
  const std::string out = scratch("bomb_out.png");
  struct Case {
    std::vector<std::string> args;
    std::string size;
  };
  const std::vector<Case> cases = {
      {{"inpaint", png, out}, "20000x20000"},
      {{"denoise", "--max-pixels", "1000000000", png_huge, out}, "100000x100000"},
      {{"sr", jpg, out}, "65000x60000"},
      {{"degrade", "denoise", png, out}, "20000x20000"},
      {{"degrade", "sr", jpg, out}, "65000x60000"},
      {{"inpaint", "--mask", png, small, out}, "20000x20000"},
      {{"deblur", "--blur", jpg, small, out}, "65000x60000"},
      {{"denoise", npy, out}, "20000x20000"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv = {kReddiff};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    std::filesystem::remove(out);
    const auto r = run(argv);
    INFO(c.args[0] << " " << c.args[1] << ": " << r.output);
    CHECK(r.exit_code == 2);
    CHECK(one_line(r.output));
    CHECK(r.output.find(c.size) != std::string::npos);
    CHECK(r.output.find("--max-pixels") != std::string::npos);
    CHECK(!std::filesystem::exists(out));
    // decoding would take 400 MB or more; the model alone (--mask, --blur: loaded before the operator
    // reads its file) about 150 MB
    CHECK(r.peak_rss_kb < 300 * 1024);
  }
}

TEST_CASE("--max-pixels lowers and raises the limit; a bad value is a one-line error", "[limits][cli]") {
  const std::string small = small_png("mp_small.png", 16, 12);
  const std::string out = scratch("mp_out.png");
  std::filesystem::remove(out);
  auto r = run({kReddiff, "degrade", "denoise", "--max-pixels", "191", small, out});
  CHECK(r.exit_code == 2);
  CHECK(r.output ==
        "reddiff degrade: image '" + small + "' is 16x12 (192 pixels), over the --max-pixels limit of 191\n");
  CHECK(!std::filesystem::exists(out));
  r = run({kReddiff, "degrade", "denoise", "-q", "--max-pixels", "192", small, out});
  CHECK(r.exit_code == 0);
  CHECK(std::filesystem::exists(out));
  // sr restores an image scale^2 times larger than its input: that is what is checked
  r = run({kReddiff, "sr", "--scale", "4", "--max-pixels", "3071", small, scratch("mp_sr.png")});
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("the restored image of '" + small +
                      "' is 64x48 (3072 pixels), over the --max-pixels limit of 3071") != std::string::npos);
  for (const char* bad : {"0", "-5", "abc", "1e3"}) {
    r = run({kReddiff, "inpaint", "--max-pixels", bad, small, scratch("mp_bad.png")});
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK(one_line(r.output));
    CHECK(r.output.find("--max-pixels") != std::string::npos);
  }
  r = run({kReddiff, "inpaint", "--help"});
  CHECK(r.output.find("--max-pixels N") != std::string::npos);
  CHECK(r.output.find(std::to_string(default_max_pixels(kRestoreBytesPerPixel)).substr(0, 2)) != std::string::npos);
}
