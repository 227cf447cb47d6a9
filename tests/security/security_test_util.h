// Helpers of the security tests: scratch files, crafted image headers, and running a built executable
// with its peak memory measured (wait4's rusage), so that a test can tell that a refusal came before any
// large allocation.
#pragma once
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stb_image_write.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace security_test {

inline std::string scratch(const std::string& name) {
  const std::string d = reddiff_test::testdata("security_tmp");
  std::filesystem::create_directories(d);
  return d + "/" + name;
}

inline std::string write_file(const std::string& name, const std::string& bytes) {
  const std::string p = scratch(name);
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::string be32(uint32_t v) {
  return std::string{char(v >> 24), char((v >> 16) & 0xff), char((v >> 8) & 0xff), char(v & 0xff)};
}

inline std::string png_chunk(const std::string& type, const std::string& data) {
  const std::string td = type + data;
  return be32(uint32_t(data.size())) + td +
         be32(uint32_t(crc32(0, reinterpret_cast<const Bytef*>(td.data()), uInt(td.size()))));
}

// A PNG of w x h pixels (colour type: 0 grey, 2 RGB) whose IDAT holds every row, all zero: a valid image
// that decodes to w * h * channels bytes from a file of about a thousandth of that.
inline std::string zero_png(uint32_t w, uint32_t h, int colour) {
  const size_t row = 1 + size_t(w) * (colour == 2 ? 3 : 1);
  std::string idat;
  z_stream z{};
  deflateInit(&z, 1);
  std::vector<unsigned char> in(row, 0), out(1 << 16);
  for (uint32_t y = 0; y < h; ++y) {
    z.next_in = in.data();
    z.avail_in = uInt(row);
    const int flush = y + 1 == h ? Z_FINISH : Z_NO_FLUSH;
    do {
      z.next_out = out.data();
      z.avail_out = uInt(out.size());
      deflate(&z, flush);
      idat.append(reinterpret_cast<char*>(out.data()), out.size() - z.avail_out);
    } while (z.avail_out == 0);
  }
  deflateEnd(&z);
  const std::string ihdr = be32(w) + be32(h) + std::string{8, char(colour), 0, 0, 0};
  return std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", ihdr) + png_chunk("IDAT", idat) +
         png_chunk("IEND", "");
}

// A baseline JPEG whose frame header (SOF0) declares w x h: an 8 x 8 grey image written by stb_image_write
// with its size patched, so every table and the scan header are real.
inline std::string jpeg_header(uint16_t w, uint16_t h) {
  std::string jpg;
  unsigned char px[64];
  for (int i = 0; i < 64; ++i) px[i] = (unsigned char)(i * 4);
  stbi_write_jpg_to_func(
      [](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size); },
      &jpg, 8, 8, 1, px, 90);
  const size_t sof = jpg.find("\xff\xc0");
  if (sof == std::string::npos) return jpg;
  jpg.replace(sof + 5, 4, std::string{char(h >> 8), char(h & 0xff), char(w >> 8), char(w & 0xff)});
  return jpg;
}

struct Run {
  int exit_code = -1;
  std::string output;    // stdout and stderr
  long peak_rss_kb = 0;  // of the child alone
};

// Runs argv (argv[0] a path) with its output captured, and reports its exit status and peak RSS.
inline Run run(const std::vector<std::string>& argv) {
  Run r;
  const std::string log = scratch("run.log");
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execv(a[0], a.data());
    _exit(127);
  }
  int st = 0;
  struct rusage ru {};
  wait4(pid, &st, 0, &ru);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.peak_rss_kb = ru.ru_maxrss;
  std::ifstream f(log);
  std::stringstream ss;
  ss << f.rdbuf();
  r.output = ss.str();
  return r;
}

}  // namespace security_test
