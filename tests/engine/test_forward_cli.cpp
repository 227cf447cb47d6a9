// `reddiff forward`: runs a converted model on a .npy and matches the in-process forward; bad input
// (wrong rank, dtype or channel count, t outside [0, T), a class for an unconditional model) gives one
// line and a non-zero exit, and writes nothing.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/npy.h"
#include "test_util.h"

using reddiff_test::binary;
using reddiff_test::run_command;
using reddiff_test::testdata;

namespace {

std::string write_array(const std::string& name, const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  auto v = reddiff_test::random_normal(size_t(n), 3);
  std::string p = testdata(name);
  reddiff::write_npy(p, shape, v.data());
  return p;
}

bool exists(const std::string& p) { return std::ifstream(p).good(); }

}  // namespace

TEST_CASE("reddiff forward reproduces the PyTorch reference output", "[engine][cli]") {
  std::string dir = testdata("unet_cases/legacy_updown/");
  auto t = reddiff::read_npy(dir + "t.npy");
  auto x = reddiff::read_npy(dir + "x.npy"), ref = reddiff::read_npy(dir + "out.npy");
  // The reference holds one t per image; run the first image alone at its t.
  std::vector<int64_t> one{1, x.shape[1], x.shape[2], x.shape[3]};
  std::string x1 = testdata("forward_x1.npy"), out = testdata("forward_out.npy");
  reddiff::write_npy(x1, one, x.data.data());
  std::remove(out.c_str());
  auto r = run_command(binary("reddiff") + " forward --device cpu --model " + dir + "model.safetensors --x " + x1 +
                       " --t " + std::to_string(t.idata[0]) + " --out " + out);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  auto got = reddiff::read_npy(out);
  REQUIRE(got.shape == std::vector<int64_t>{1, ref.shape[1], ref.shape[2], ref.shape[3]});
  CHECK(reddiff_test::rel_l2(got.data.data(), ref.data.data(), got.data.size()) < 1e-5);
}

TEST_CASE("reddiff forward --vjp reproduces the PyTorch autograd gradient", "[engine][cli][vjp]") {
  std::string dir = testdata("unet_cases/odd_30x22_nrb2/");
  auto t = reddiff::read_npy(dir + "t.npy");
  auto x = reddiff::read_npy(dir + "x.npy"), cot = reddiff::read_npy(dir + "cot.npy"),
       ref = reddiff::read_npy(dir + "grad.npy");
  // Images are independent: the first alone at its t has the first image's gradient.
  std::vector<int64_t> xs{1, x.shape[1], x.shape[2], x.shape[3]}, cs{1, cot.shape[1], cot.shape[2], cot.shape[3]};
  std::string x1 = testdata("vjp_x1.npy"), c1 = testdata("vjp_cot1.npy"), out = testdata("vjp_out.npy"),
              grad = testdata("vjp_grad.npy");
  reddiff::write_npy(x1, xs, x.data.data());
  reddiff::write_npy(c1, cs, cot.data.data());
  std::remove(grad.c_str());
  std::string base = binary("reddiff") + " forward --device cpu --model " + dir + "model.safetensors --x " + x1 +
                     " --t " + std::to_string(t.idata[0]) + " --out " + out;
  auto r = run_command(base + " --vjp " + c1 + " --grad-out " + grad);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("vjp plan:") != std::string::npos);
  auto got = reddiff::read_npy(grad);
  REQUIRE(got.shape == xs);
  CHECK(reddiff_test::rel_l2(got.data.data(), ref.data.data(), got.data.size()) < 1e-5);
  // A cotangent of the wrong shape, or --vjp alone: one line, non-zero exit.
  for (std::string bad : {" --vjp " + x1 + " --grad-out " + grad, " --vjp " + c1}) {
    auto b = run_command(base + bad);
    INFO(b.output);
    CHECK(b.exit_code != 0);
    CHECK(std::count(b.output.begin(), b.output.end(), '\n') <= 1);
  }
}

TEST_CASE("reddiff forward refuses bad input in one line", "[engine][cli]") {
  std::string model = testdata("unet_cases/legacy_updown/model.safetensors");
  std::string out = testdata("forward_bad_out.npy");
  std::string good = write_array("forward_good.npy", {1, 3, 16, 16});
  std::string rank3 = write_array("forward_rank3.npy", {3, 16, 16});
  std::string four = write_array("forward_4ch.npy", {1, 4, 16, 16});
  std::string ints = testdata("forward_int.npy");
  {
    std::ofstream f(ints, std::ios::binary);  // a valid int64 .npy of shape (2,)
    std::string h = "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }";
    while ((10 + h.size() + 1) % 64) h += ' ';
    h += '\n';
    f.write("\x93NUMPY\x01\x00", 8);
    char len[2] = {char(h.size() & 0xff), char(h.size() >> 8)};
    f.write(len, 2);
    f << h;
    int64_t v[2] = {1, 2};
    f.write(reinterpret_cast<const char*>(v), sizeof v);
  }
  struct Case {
    std::string args, expect;
  } cases[] = {
      {"--x " + rank3 + " --t 10", "rank 4"},
      {"--x " + four + " --t 10", "4 channels"},
      {"--x " + ints + " --t 10", "not a float array"},
      {"--x " + good + " --t 1000", "outside [0, 1000)"},
      {"--x " + good + " --t -1", "outside [0, 1000)"},
      {"--x " + good + " --t 5 --class 3", "unconditional"},
      {"--x " + testdata("missing.npy") + " --t 5", "cannot open"},
  };
  for (const auto& c : cases) {
    std::remove(out.c_str());
    auto r = run_command(binary("reddiff") + " forward --device cpu --model " + model + " " + c.args + " --out " + out);
    INFO(c.args << " -> " << r.output);
    CHECK(r.exit_code != 0);
    CHECK(r.output.find(c.expect) != std::string::npos);
    CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);
    CHECK_FALSE(exists(out));
  }
}
