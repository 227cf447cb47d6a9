#include "engine/npy.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include "base/dtype.h"
#include "base/error.h"

namespace reddiff {

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

NpyArray read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) throw Error(path + ": not a .npy file");
  uint32_t hlen = 0;
  unsigned char b[4] = {0, 0, 0, 0};
  int major = magic[6];
  if (major == 1) {
    if (!in.read(reinterpret_cast<char*>(b), 2)) throw Error(path + ": truncated .npy header");
    hlen = b[0] | (b[1] << 8);
  } else if (major == 2 || major == 3) {
    if (!in.read(reinterpret_cast<char*>(b), 4)) throw Error(path + ": truncated .npy header");
    hlen = b[0] | (b[1] << 8) | (b[2] << 16) | (uint32_t(b[3]) << 24);
  } else {
    throw Error(path + ": unsupported .npy version " + std::to_string(major));
  }
  if (hlen > (1u << 20)) throw Error(path + ": .npy header too large");
  std::string header(hlen, '\0');
  if (!in.read(&header[0], hlen)) throw Error(path + ": truncated .npy header");
  std::smatch m;
  NpyArray a;
  if (!std::regex_search(header, m, std::regex("'descr'\\s*:\\s*'([^']*)'"))) throw Error(path + ": .npy header has no descr");
  a.descr = m[1];
  bool fortran = std::regex_search(header, m, std::regex("'fortran_order'\\s*:\\s*True"));
  if (!std::regex_search(header, m, std::regex("'shape'\\s*:\\s*\\(([^)]*)\\)"))) throw Error(path + ": .npy header has no shape");
  std::stringstream ss(m[1].str());
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.find_first_not_of(" ") == std::string::npos) continue;
    try {
      a.shape.push_back(std::stoll(item));
    } catch (...) {
      throw Error(path + ": bad shape in .npy header");
    }
    if (a.shape.back() < 0) throw Error(path + ": bad shape in .npy header");
  }
  int64_t n = a.numel();
  if (n > (int64_t(1) << 34)) throw Error(path + ": array too large");
  std::string d = a.descr;
  if (d.size() == 3 && d[0] == '|') d[0] = '<';
  if (d.size() != 3 || d[0] != '<')
    throw Error(path + ": dtype " + a.descr + " not supported (little-endian float16/32/64 or int32/64, uint8)");
  size_t width = size_t(d[2] - '0');
  std::vector<char> raw(size_t(n) * width);
  if (!in.read(raw.data(), std::streamsize(raw.size()))) throw Error(path + ": truncated .npy data");
  if (d == "<f4" || d == "<f8" || d == "<f2") {
    a.data.resize(size_t(n));
    DType t = d == "<f4" ? DType::F32 : d == "<f8" ? DType::F64 : DType::F16;
    convert_elements(raw.data(), t, a.data.data(), DType::F32, size_t(n));
  } else if (d == "<i8" || d == "<i4" || d == "<u1") {
    a.is_integer = true;
    a.idata.resize(size_t(n));
    for (int64_t i = 0; i < n; ++i) {
      if (d == "<i8") { int64_t v; std::memcpy(&v, &raw[size_t(i) * 8], 8); a.idata[size_t(i)] = v; }
      else if (d == "<i4") { int32_t v; std::memcpy(&v, &raw[size_t(i) * 4], 4); a.idata[size_t(i)] = v; }
      else a.idata[size_t(i)] = uint8_t(raw[size_t(i)]);
    }
  } else {
    throw Error(path + ": dtype " + a.descr + " not supported (little-endian float16/32/64 or int32/64, uint8)");
  }
  if (fortran && a.shape.size() > 1) {  // column-major on disk: reorder to C order
    size_t r = a.shape.size();
    std::vector<int64_t> idx(r, 0);
    auto reorder = [&](auto& v) {
      auto src = v;
      for (int64_t i = 0; i < n; ++i) {
        int64_t f = 0, stride = 1;  // Fortran offset of the C-order multi-index idx
        for (size_t k = 0; k < r; ++k) f += idx[k] * stride, stride *= a.shape[k];
        v[size_t(i)] = src[size_t(f)];
        for (size_t k = r; k-- > 0;) {
          if (++idx[k] < a.shape[k]) break;
          idx[k] = 0;
        }
      }
    };
    if (a.is_integer) reorder(a.idata);
    else reorder(a.data);
  }
  return a;
}

void write_npy(const std::string& path, const std::vector<int64_t>& shape, const float* data) {
  std::string dims;
  int64_t n = 1;
  for (auto s : shape) { dims += std::to_string(s) + ","; n *= s; }
  if (shape.size() > 1) dims.pop_back();
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::string tmp = path + ".tmp-" + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(path + ": cannot write (directory missing or not writable)", 1);
    out.write("\x93NUMPY\x01\x00", 8);
    unsigned char len[2] = {uint8_t(header.size() & 0xff), uint8_t(header.size() >> 8)};
    out.write(reinterpret_cast<const char*>(len), 2);
    out << header;
    out.write(reinterpret_cast<const char*>(data), std::streamsize(n * 4));
    if (!out) {
      std::remove(tmp.c_str());
      throw Error(path + ": write failed", 1);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(path + ": cannot rename temporary file into place", 1);
  }
}

}  // namespace reddiff
