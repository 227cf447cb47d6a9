// `reddiff degrade`: outputs, --save-mask/--save-kernel, and one-line errors with a non-zero exit.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/image_io.h"
#include "engine/npy.h"
#include "tests/operators/op_test_util.h"

using namespace reddiff;
using namespace reddiff::test;

namespace {

struct Run {
  int code = -1;
  std::string out, err;
};

std::string tmp(const std::string& name) {
  const std::string d = testdata("operators_cli");
  std::filesystem::create_directories(d);
  return d + "/" + name;
}

std::string slurp(const std::string& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

Run degrade(const std::string& args) {
  static int counter = 0;
  const std::string o = tmp("stdout" + std::to_string(counter)), e = tmp("stderr" + std::to_string(counter));
  ++counter;
  const std::string cmd = std::string(REDDIFF_BINARY_DIR) + "/reddiff degrade " + args + " >" + o + " 2>" + e;
  const int st = std::system(cmd.c_str());
  Run r;
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.out = slurp(o);
  r.err = slurp(e);
  return r;
}

std::string photo() { return testdata("operator_cases/image.png"); }  // 128x96

int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace

TEST_CASE("reddiff degrade writes measurements", "[cli]") {
  SECTION("sr: the small image, as PNG and as .npy equal to the NumPy reference") {
    Run r = degrade("sr --scale 4 " + photo() + " " + tmp("sr.png"));
    REQUIRE(r.code == 0);
    Image y = load_image_rgb(tmp("sr.png"));
    CHECK(y.w == 32);
    CHECK(y.h == 24);
    r = degrade("sr --scale 4 -q " + photo() + " " + tmp("sr.npy"));
    REQUIRE(r.code == 0);
    CHECK(r.out.empty());
    NpyArray a = read_npy(tmp("sr.npy")), ref = read_npy(testdata("operator_cases/sr_pool4.npy"));
    CHECK(a.shape == std::vector<int64_t>{1, 3, 24, 32});
    CHECK(max_abs_diff(a.data, ref.data) < 2e-5);
  }
  SECTION("colorize is grey; inpaint --save-mask writes the mask; deblur --save-kernel the kernel") {
    REQUIRE(degrade("colorize " + photo() + " " + tmp("c.png")).code == 0);
    CHECK(load_image_raw(tmp("c.png")).c == 1);
    Run r = degrade("inpaint --mask freeform --fraction 0.3 --seed 2 " + photo() + " " + tmp("in.png") +
                    " --save-mask " + tmp("mask.png"));
    REQUIRE(r.code == 0);
    Image m = load_image_raw(tmp("mask.png"));
    CHECK(m.c == 1);
    double holes = 0;
    for (float v : m.data) holes += v < 0.5f;
    CHECK(holes / double(m.data.size()) == Approx(0.3).margin(0.02));
    // the saved mask as a mask file reproduces the measurement
    REQUIRE(degrade("inpaint --mask " + tmp("mask.png") + " " + photo() + " " + tmp("in2.png")).code == 0);
    CHECK(load_image_rgb(tmp("in2.png")).data == load_image_rgb(tmp("in.png")).data);
    REQUIRE(degrade("deblur --blur motion --blur-size 21 " + photo() + " " + tmp("mb.png") + " --save-kernel " +
                    tmp("k.npy"))
                .code == 0);
    NpyArray k = read_npy(tmp("k.npy"));
    CHECK(k.shape == std::vector<int64_t>{21, 21});
    double s = 0;
    for (float v : k.data) s += v;
    CHECK(s == Approx(1.0).margin(1e-5));
    REQUIRE(degrade("deblur --blur " + tmp("k.npy") + " " + photo() + " " + tmp("mb2.png")).code == 0);
    CHECK(max_abs_diff(load_image_rgb(tmp("mb2.png")).data, load_image_rgb(tmp("mb.png")).data) <= 2.0 / 255 + 1e-6);
  }
  SECTION("noise: unclamped in .npy, clamped in PNG; phase retrieval magnitudes") {
    REQUIRE(degrade("denoise --sigma-y 0.5 " + photo() + " " + tmp("n.npy")).code == 0);
    NpyArray a = read_npy(tmp("n.npy"));
    CHECK(max_abs(a.data) > 1.5);
    REQUIRE(degrade("denoise --sigma-y 0.5 " + photo() + " " + tmp("n.png")).code == 0);
    Image p = load_image_rgb(tmp("n.png"));
    CHECK(max_abs(p.data) <= 1.0);
    REQUIRE(degrade("phase-retrieval " + photo() + " " + tmp("pr.npy")).code == 0);
    CHECK(read_npy(tmp("pr.npy")).shape == std::vector<int64_t>{1, 3, 144, 192});
    REQUIRE(degrade("phase-retrieval " + photo() + " " + tmp("pr.png")).code == 0);
    CHECK(load_image_rgb(tmp("pr.png")).h == 144);
  }
  SECTION("--help lists every operator option") {
    Run r = degrade("--help");
    REQUIRE(r.code == 0);
    for (const char* o :
         {"--mask",       "--box-size",    "--fraction",      "--side",       "--invert",    "--random-position",
          "--scale",      "--sr-kernel",   "--blur",          "--blur-sigma", "--blur-size", "--motion-intensity",
          "--wiener-reg", "--oversample",  "--sigma-y",       "--noise-std",  "--noise",     "--seed",
          "--save-mask",  "--save-kernel", "phase-retrieval", "2*sigma_y"})
      CHECK(r.out.find(o) != std::string::npos);
  }
}

TEST_CASE("reddiff degrade: bad input is a one-line error and a non-zero exit", "[cli]") {
  { std::ofstream(tmp("corrupt.png")) << "garbage"; }
  std::vector<float> odd(3 * 50 * 30, 0.0f);
  save_png(tmp("odd.png"), odd.data(), 3, 50, 30);
  struct Bad {
    std::string args, must_contain;
  };
  for (const auto& b : std::vector<Bad>{
           {"inpaint " + tmp("missing.png") + " " + tmp("o.png"), "missing.png"},
           {"inpaint " + tmp("corrupt.png") + " " + tmp("o.png"), "corrupt.png"},
           {"inpaint --mask " + tmp("nomask.png") + " " + photo() + " " + tmp("o.png"), "--mask"},
           {"inpaint --mask " + tmp("corrupt.png") + " " + photo() + " " + tmp("o.png"), "corrupt.png"},
           {"inpaint --mask " + tmp("odd.png") + " " + photo() + " " + tmp("o.png"), "does not fit"},
           {"inpaint --box-size 500 " + photo() + " " + tmp("o.png"), "--box-size"},
           {"inpaint --mask blob " + photo() + " " + tmp("o.png"), "--mask"},
           {"inpaint --fraction 1.5 " + photo() + " " + tmp("o.png"), "--fraction"},
           {"inpaint --side middle " + photo() + " " + tmp("o.png"), "--side"},
           {"sr --scale 8 " + tmp("odd.png") + " " + tmp("o.png"), "--scale 8 does not divide"},
           {"sr --scale 3 " + photo() + " " + tmp("o.png"), "--scale"},
           {"sr --scale 8 --sr-kernel bicubic " + photo() + " " + tmp("o.png"), "--scale"},
           {"sr --sr-kernel lanczos " + photo() + " " + tmp("o.png"), "--sr-kernel"},
           {"deblur --blur box " + photo() + " " + tmp("o.png"), "--blur"},
           {"deblur --blur " + tmp("corrupt.png") + " " + photo() + " " + tmp("o.png"), "corrupt.png"},
           {"deblur --blur-sigma -1 " + photo() + " " + tmp("o.png"), "--blur-sigma"},
           {"deblur --blur-size 4 " + photo() + " " + tmp("o.png"), "--blur-size"},
           {"deblur --blur motion --blur-size 99 " + photo() + " " + tmp("o.png"), "does not fit"},
           {"denoise --sigma-y -0.1 " + photo() + " " + tmp("o.png"), "--sigma-y"},
           {"denoise --noise salt " + photo() + " " + tmp("o.png"), "--noise"},
           {"denoise --sigma-y abc " + photo() + " " + tmp("o.png"), "sigma-y"},
           {"denoise --no-such-option " + photo() + " " + tmp("o.png"), "no-such-option"},
           {"jpeg2000 " + photo() + " " + tmp("o.png"), "unknown task 'jpeg2000'"},
           {"denoise " + photo() + " " + tmp("o.tif"), "o.tif"},
           {"denoise " + photo(), "missing"},
           {"", "missing TASK"},
           {"denoise " + photo() + " " + tmp("no_dir/o.png"), "o.png"},
           {"sr --save-mask " + tmp("m.png") + " " + photo() + " " + tmp("o.png"), "--save-mask"},
       }) {
    SECTION(b.args) {
      Run r = degrade(b.args);
      INFO("stderr: " << r.err);
      CHECK(r.code != 0);
      CHECK(lines(r.err) == 1);
      CHECK(r.err.find(b.must_contain) != std::string::npos);
    }
  }
}
