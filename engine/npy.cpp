// NumPy .npy reader and writer (see npy.h). The header is a Python dict literal; it is parsed here by a
// small strict parser (the three keys NumPy writes, nothing evaluated) rather than by regular expressions,
// whose backtracking recursion a long crafted header could drive into a stack overflow.
#include "engine/npy.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include "base/dtype.h"
#include "base/error.h"
#include "engine/input_limits.h"

namespace reddiff {
namespace {

// Largest header accepted: NumPy writes under 200 bytes and its own reader refuses more than 10000 by default.
constexpr uint32_t kMaxHeader = 65536;
// Largest dimension and element count accepted (2^34 elements: 64 GiB of float32).
constexpr int64_t kMaxElements = int64_t(1) << 34;

// At most 40 printable characters of a string from the file, for messages.
std::string printable(const std::string& v) {
  std::string o;
  for (char c : v.substr(0, 40)) o += (c >= 32 && c < 127) ? c : '?';
  return o;
}

// Parser of {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } (keys in any order, ' or ").
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : s_(text), path_(path) {}

  void parse(NpyHeader* h) {
    bool have_descr = false, have_order = false, have_shape = false;
    expect('{');
    while (true) {
      if (peek() == '}') break;
      const std::string key = string_literal();
      expect(':');
      if (key == "descr" && !have_descr) {
        h->descr = string_literal();
        have_descr = true;
      } else if (key == "fortran_order" && !have_order) {
        skip_space();
        if (s_.compare(i_, 4, "True") == 0)
          h->fortran_order = true, i_ += 4;
        else if (s_.compare(i_, 5, "False") == 0)
          h->fortran_order = false, i_ += 5;
        else
          fail("fortran_order is not True or False");
        have_order = true;
      } else if (key == "shape" && !have_shape) {
        shape(&h->shape);
        have_shape = true;
      } else {
        fail("unexpected or repeated key '" + printable(key) + "'");
      }
      if (peek() == ',')
        ++i_;
      else if (peek() != '}')
        fail("expected ',' or '}'");
    }
    ++i_;
    skip_space();
    if (i_ != s_.size()) fail("text after the dict");
    if (!have_descr) fail("no descr");
    if (!have_shape) fail("no shape");
  }

 private:
  [[noreturn]] void fail(const std::string& what) { throw Error(path_ + ": bad .npy header (" + what + ")"); }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  char peek() {
    skip_space();
    return i_ < s_.size() ? s_[i_] : '\0';
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }
  std::string string_literal() {
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string");
    const size_t end = s_.find(q, i_ + 1);
    if (end == std::string::npos) fail("unterminated string");
    std::string v = s_.substr(i_ + 1, end - i_ - 1);
    i_ = end + 1;
    return v;
  }
  void shape(std::vector<int64_t>* out) {
    expect('(');
    while (peek() != ')') {
      if (out->size() >= 32) fail("more than 32 dimensions");
      int64_t v = 0;
      size_t digits = 0;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
        if (v > kMaxElements) fail("a dimension is too large");
        v = v * 10 + (s_[i_++] - '0');
        ++digits;
      }
      if (digits == 0) fail("a dimension is not a non-negative integer");
      if (i_ < s_.size() && s_[i_] == 'L') ++i_;  // Python 2 long
      out->push_back(v);
      if (peek() == ',')
        ++i_;
      else if (peek() != ')')
        fail("expected ',' or ')' in the shape");
    }
    ++i_;
  }

  const std::string& s_;
  const std::string& path_;
  size_t i_ = 0;
};

const char* kDtypes = "little-endian float16/32/64 or int32/64, uint8";

// The header of the open stream `in`, left positioned at the data.
NpyHeader parse_header(std::istream& in, const std::string& path, uint64_t file_size, const std::string& pixels) {
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) throw Error(path + ": not a .npy file");
  uint32_t hlen = 0;
  unsigned char b[4] = {0, 0, 0, 0};
  const int major = static_cast<unsigned char>(magic[6]);
  uint64_t prefix = 10;
  if (major == 1) {
    if (!in.read(reinterpret_cast<char*>(b), 2)) throw Error(path + ": truncated .npy header");
    hlen = b[0] | (b[1] << 8);
  } else if (major == 2 || major == 3) {
    if (!in.read(reinterpret_cast<char*>(b), 4)) throw Error(path + ": truncated .npy header");
    hlen = b[0] | (b[1] << 8) | (b[2] << 16) | (uint32_t(b[3]) << 24);
    prefix = 12;
  } else {
    throw Error(path + ": unsupported .npy version " + std::to_string(major));
  }
  if (hlen > kMaxHeader) throw Error(path + ": .npy header too large (" + std::to_string(hlen) + " bytes)");
  if (prefix + hlen > file_size) throw Error(path + ": truncated .npy header");
  std::string text(hlen, '\0');
  if (hlen && !in.read(&text[0], hlen)) throw Error(path + ": truncated .npy header");
  NpyHeader h;
  HeaderParser(text, path).parse(&h);
  std::string dims;
  for (int64_t v : h.shape) dims += (dims.empty() ? "" : ", ") + std::to_string(v);
  int64_t n = 1;
  for (int64_t d : h.shape) {
    if (d != 0 && n > kMaxElements / d)
      throw Error(path + ": array of shape (" + dims + ") is too large (over 2^34 elements)");
    n *= d;
  }
  std::string d = h.descr;
  if (d.size() == 3 && d[0] == '|') d[0] = '<';
  if (d != "<f2" && d != "<f4" && d != "<f8" && d != "<i4" && d != "<i8" && d != "<u1")
    throw Error(path + ": dtype " + printable(h.descr) + " not supported (" + kDtypes + ")");
  if (!pixels.empty() && h.shape.size() >= 2)
    check_pixels(pixels + " '" + path + "'", h.shape[h.shape.size() - 2], h.shape.back());
  h.width = size_t(d[2] - '0');
  h.data_offset = prefix + hlen;
  const uint64_t need = uint64_t(n) * h.width;
  if (need > file_size - h.data_offset)
    throw Error(path + ": truncated .npy data (shape (" + dims + ") of " + h.descr + " needs " + std::to_string(need) +
                " bytes, the file holds " + std::to_string(file_size - h.data_offset) + ")");
  return h;
}

}  // namespace

int64_t NpyHeader::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

static uint64_t file_size_of(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) throw Error(path + ": cannot open");
  return uint64_t(st.st_size);
}

NpyHeader read_npy_header(const std::string& path, const std::string& pixels) {
  const uint64_t size = file_size_of(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  return parse_header(in, path, size, pixels);
}

NpyArray read_npy(const std::string& path) {
  const uint64_t size = file_size_of(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  const NpyHeader h = parse_header(in, path, size, "");
  NpyArray a;
  a.shape = h.shape;
  a.descr = h.descr;
  const int64_t n = h.numel();
  std::string d = h.descr;
  if (d[0] == '|') d[0] = '<';
  std::vector<char> raw(size_t(n) * h.width);
  if (!in.read(raw.data(), std::streamsize(raw.size()))) throw Error(path + ": truncated .npy data");
  if (d == "<f4" || d == "<f8" || d == "<f2") {
    a.data.resize(size_t(n));
    DType t = d == "<f4" ? DType::F32 : d == "<f8" ? DType::F64 : DType::F16;
    convert_elements(raw.data(), t, a.data.data(), DType::F32, size_t(n));
  } else {
    a.is_integer = true;
    a.idata.resize(size_t(n));
    for (int64_t i = 0; i < n; ++i) {
      if (d == "<i8") {
        int64_t v;
        std::memcpy(&v, &raw[size_t(i) * 8], 8);
        a.idata[size_t(i)] = v;
      } else if (d == "<i4") {
        int32_t v;
        std::memcpy(&v, &raw[size_t(i) * 4], 4);
        a.idata[size_t(i)] = v;
      } else
        a.idata[size_t(i)] = uint8_t(raw[size_t(i)]);
    }
  }
  if (h.fortran_order && a.shape.size() > 1 && n > 0) {  // column-major on disk: reorder to C order
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
    if (a.is_integer)
      reorder(a.idata);
    else
      reorder(a.data);
  }
  return a;
}

NpyArray read_npy_pixels(const std::string& path, const std::string& what) {
  (void)read_npy_header(path, what);
  return read_npy(path);
}

void write_npy(const std::string& path, const std::vector<int64_t>& shape, const float* data) {
  std::string dims;
  int64_t n = 1;
  for (auto s : shape) {
    dims += std::to_string(s) + ",";
    n *= s;
  }
  if (shape.size() > 1) dims.pop_back();
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::string tmp = path + ".tmp-" + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw WriteError(path + ": cannot write (directory missing or not writable)");
    out.write("\x93NUMPY\x01\x00", 8);
    unsigned char len[2] = {uint8_t(header.size() & 0xff), uint8_t(header.size() >> 8)};
    out.write(reinterpret_cast<const char*>(len), 2);
    out << header;
    out.write(reinterpret_cast<const char*>(data), std::streamsize(n * 4));
    out.close();  // the last buffer is written here: a full disk shows now, not after the rename
    if (!out) {
      std::remove(tmp.c_str());
      throw WriteError(path + ": write failed");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw WriteError(path + ": cannot rename temporary file into place");
  }
}

}  // namespace reddiff
