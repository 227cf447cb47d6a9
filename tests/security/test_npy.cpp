// engine/npy.cpp: every dtype, order and format version NumPy writes (tests/python/gen_npy_cases.py) read
// back exactly; malformed headers, truncated data and absurd shapes refused in one line, before the data
// is allocated.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "engine/npy.h"
#include "tests/security/security_test_util.h"

using namespace reddiff;
using reddiff_test::testdata;

namespace {

std::string npy_file(const std::string& name, const std::string& header, const std::string& data, int version = 1) {
  std::string h = header;
  std::string s = std::string("\x93NUMPY", 6) + char(version) + '\0';
  if (version == 1)
    s += std::string{char(h.size() & 0xff), char(h.size() >> 8)};
  else
    s += std::string{char(h.size() & 0xff), char((h.size() >> 8) & 0xff), char(h.size() >> 16), '\0'};
  return security_test::write_file(name, s + h + data);
}

}  // namespace

TEST_CASE("read_npy reads what NumPy writes: float16/32/64, int32/64, uint8, C and Fortran order, v1-v3", "[npy]") {
  const std::string dir = testdata("npy_cases/");
  std::ifstream jf(dir + "cases.json");
  REQUIRE(jf);
  const auto cases = nlohmann::json::parse(jf);
  REQUIRE(cases.size() >= 10);
  for (const auto& c : cases) {
    const std::string name = c["name"];
    INFO(name);
    NpyArray a = read_npy(dir + name + ".npy");
    CHECK(a.shape == c["shape"].get<std::vector<int64_t>>());
    NpyHeader h = read_npy_header(dir + name + ".npy");
    CHECK(h.shape == a.shape);
    std::ifstream ef(dir + name + ".expect", std::ios::binary);
    std::stringstream ss;
    ss << ef.rdbuf();
    const std::string e = ss.str();
    REQUIRE(e.size() == size_t(a.numel()) * 8);
    REQUIRE(a.is_integer == c["integer"].get<bool>());
    bool nonzero = false;
    for (int64_t i = 0; i < a.numel(); ++i) {
      if (a.is_integer) {
        int64_t v;
        std::memcpy(&v, e.data() + 8 * i, 8);
        REQUIRE(a.idata[size_t(i)] == v);
        nonzero |= v != 0;
      } else {
        double v;
        std::memcpy(&v, e.data() + 8 * i, 8);
        REQUIRE(a.data[size_t(i)] == float(v));
        nonzero |= v != 0;
      }
    }
    CHECK(nonzero);
  }
}

TEST_CASE("read_npy refuses malformed files in one line, before allocating what the header declares", "[npy]") {
  const std::string f4 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";
  const std::string six(24, '\1');
  struct Bad {
    std::string header, data, message;
  };
  const std::vector<Bad> bad = {
      {"{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }\n", six, "not supported"},
      {"{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3), }\n", six, "not supported"},
      {"{'descr': '<f9', 'fortran_order': False, 'shape': (2, 3), }\n", six, "not supported"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }\n", six, "truncated .npy data (shape (2, 4)"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 3), }\n", six, "shape (100000, 100000, 3)"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 0, 7), }\n", "", "too large"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }\n", six, "too large"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 3), }\n", six, "bad .npy header"},
      {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 3), }\n", six, "fortran_order"},
      {"{'descr': '<f4', 'fortran_order': False}\n", six, "no shape"},
      {"{'descr': '<f4', 'descr': '<f8', 'shape': (2, 3), }\n", six, "repeated key"},
      {"{'descr': '<f4', 'shape': (2, 3), 'extra': 1}\n", six, "unexpected"},
      {"{'descr': '<f4, 'shape': (2, 3)}\n", six, "bad .npy header"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } junk\n", six, "text after"},
      {"'descr': '<f4'\n", six, "expected '{'"},
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    INFO(bad[i].header);
    const std::string p = npy_file("bad" + std::to_string(i) + ".npy", bad[i].header, bad[i].data);
    try {
      (void)read_npy(p);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find(bad[i].message) != std::string::npos);
      CHECK(std::string(e.what()).find('\n') == std::string::npos);
      CHECK(e.exit_code() == 2);
    }
  }
  // a well-formed file is read; a long header of spaces (NumPy pads to 64 bytes; a crafted one may pad to
  // the 64 KiB limit) is no problem; more is refused
  CHECK(read_npy(npy_file("good.npy", f4, six)).numel() == 6);
  const std::string padded = f4.substr(0, f4.size() - 1) + std::string(60000, ' ') + "\n";
  CHECK(read_npy(npy_file("padded.npy", padded, six, 2)).numel() == 6);
  const std::string long_descr = "{'descr': '" + std::string(60000, 'x') + "', 'shape': (2, 3)}";
  CHECK_THROWS_WITH(read_npy(npy_file("long_descr.npy", long_descr, six, 2)), Catch::Contains("not supported"));
  const std::string huge = f4.substr(0, f4.size() - 1) + std::string(70000, ' ') + "\n";
  CHECK_THROWS_WITH(read_npy(npy_file("huge_header.npy", huge, six, 2)), Catch::Contains("header too large"));
  CHECK_THROWS_WITH(read_npy(npy_file("v9.npy", f4, six, 9)), Catch::Contains("unsupported .npy version 9"));
  CHECK_THROWS_WITH(read_npy(security_test::write_file("short.npy", "\x93NUMPY\x01")),
                    Catch::Contains("not a .npy file"));
  CHECK_THROWS_WITH(
      read_npy(security_test::write_file("short_header.npy", std::string("\x93NUMPY\x01\x00\xff\x00{", 11))),
      Catch::Contains("truncated .npy header"));
}
