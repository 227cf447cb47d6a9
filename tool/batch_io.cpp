#include "tool/batch_io.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "base/error.h"
#include "engine/image_io.h"
#include "engine/npy.h"

namespace fs = std::filesystem;

namespace reddiff {

bool file_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_directory(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

InputKind input_kind(const std::string& in) {
  struct stat st;
  if (::stat(in.c_str(), &st) != 0) throw Error("cannot open '" + in + "': " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return InputKind::Directory;
  if (has_extension(in, ".txt")) return InputKind::List;
  return InputKind::File;
}

uint64_t image_id(const std::string& rel) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : rel) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

bool is_input_name(const std::string& path, bool npy) {
  static const char* exts[] = {".png", ".jpg", ".jpeg", ".bmp", ".tga", ".gif", ".ppm", ".pgm", ".pnm"};
  for (const char* e : exts)
    if (has_extension(path, e)) return true;
  return npy && has_extension(path, ".npy");
}

static std::string output_name(const std::string& rel) {
  fs::path p(rel);
  p.replace_extension(".png");
  return p.generic_string();
}

std::vector<InputItem> list_inputs(const std::string& in, InputKind kind, const std::string& out_dir, bool npy) {
  std::vector<InputItem> items;
  if (kind == InputKind::Directory) {
    std::error_code ec;
    const fs::path root(in);
    fs::recursive_directory_iterator it(root, fs::directory_options::follow_directory_symlink, ec), end;
    if (ec) throw Error("cannot list '" + in + "': " + ec.message());
    for (; it != end; it.increment(ec)) {
      if (ec) throw Error("cannot list '" + in + "': " + ec.message());
      const fs::path p = it->path();
      if (!it->is_regular_file(ec) || !is_input_name(p.string(), npy)) continue;
      InputItem item;
      item.path = p.string();
      item.rel = p.lexically_relative(root).generic_string();
      items.push_back(item);
    }
  } else if (kind == InputKind::List) {
    std::ifstream f(in);
    if (!f) throw Error("cannot open list file '" + in + "': " + std::strerror(errno));
    const fs::path base = fs::absolute(fs::path(in)).parent_path().lexically_normal();
    std::string line;
    while (std::getline(f, line)) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
      size_t s = line.find_first_not_of(" \t");
      if (s == std::string::npos || line[s] == '#') continue;
      line = line.substr(s);
      fs::path p(line);
      InputItem item;
      if (p.is_absolute()) {
        const fs::path rel = p.lexically_normal().lexically_relative(base);
        const std::string r = rel.generic_string();
        item.rel = (!r.empty() && r.rfind("..", 0) != 0) ? r : p.filename().string();
        item.path = p.string();
      } else {
        item.rel = p.lexically_normal().generic_string();
        item.path = (base / p).lexically_normal().string();
      }
      items.push_back(item);
    }
  } else {
    throw Error("list_inputs: not a folder or list", 1);
  }
  std::sort(items.begin(), items.end(), [](const InputItem& a, const InputItem& b) { return a.rel < b.rel; });
  std::map<std::string, std::string> seen;
  std::vector<InputItem> unique;
  for (auto& item : items) {
    if (!unique.empty() && unique.back().rel == item.rel) continue;  // a list naming a file twice
    item.id = image_id(item.rel);
    const std::string on = output_name(item.rel);
    item.out = (fs::path(out_dir) / on).string();
    auto [it, fresh] = seen.emplace(on, item.rel);
    if (!fresh) throw Error("inputs '" + it->second + "' and '" + item.rel + "' would both be written to " + item.out);
    unique.push_back(item);
  }
  return unique;
}

Shard parse_shard(const std::string& s) {
  Shard sh;
  const size_t slash = s.find('/');
  auto bad = [&]() { return Error("--shard: '" + s + "' is not i/n with 0 <= i < n"); };
  if (slash == std::string::npos) throw bad();
  const std::string a = s.substr(0, slash), b = s.substr(slash + 1);
  auto num = [&](const std::string& t) {
    if (t.empty() || t.size() > 9 || t.find_first_not_of("0123456789") != std::string::npos) throw bad();
    return std::atoi(t.c_str());
  };
  sh.index = num(a);
  sh.count = num(b);
  if (sh.count < 1 || sh.index >= sh.count) throw bad();
  return sh;
}

Shard shard_from_env() {
  Shard sh;
  const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
  const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
  const char* mn = std::getenv("SLURM_ARRAY_TASK_MIN");
  if (!id || !count || !*id || !*count) return sh;
  auto num = [](const char* v, const char* name) {
    const std::string t(v);
    if (t.empty() || t.size() > 9 || t.find_first_not_of("0123456789") != std::string::npos)
      throw Error(std::string(name) + "='" + t + "' is not a non-negative integer");
    return std::atoi(t.c_str());
  };
  const int i = num(id, "SLURM_ARRAY_TASK_ID"), n = num(count, "SLURM_ARRAY_TASK_COUNT");
  const int m = mn && *mn ? num(mn, "SLURM_ARRAY_TASK_MIN") : 0;
  if (n < 1 || i < m || i - m >= n)
    throw Error("SLURM_ARRAY_TASK_ID " + std::to_string(i) + " is outside [" + std::to_string(m) + ", " +
                std::to_string(m + n) +
                ") (SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_COUNT); use a contiguous --array or give --shard i/n");
  sh.index = i - m;
  sh.count = n;
  sh.from_env = true;
  return sh;
}

std::vector<InputItem> select_shard(const std::vector<InputItem>& items, const Shard& s) {
  std::vector<InputItem> out;
  for (size_t i = 0; i < items.size(); ++i)
    if (int(i % size_t(s.count)) == s.index) out.push_back(items[i]);
  return out;
}

bool probe_input(const std::string& path, int* c, int* h, int* w, std::string* why) {
  try {
    if (has_extension(path, ".npy")) {
      const NpyHeader a = read_npy_header(path, "array");
      std::vector<int64_t> s = a.shape;
      if (s.size() == 4 && s[0] == 1) s.erase(s.begin());
      if (s.size() != 3 || a.descr.size() != 3 || a.descr[1] != 'f') {
        *why = "expected a float array [C, H, W] or [1, C, H, W], got " + a.descr + " of rank " +
               std::to_string(a.shape.size());
        return false;
      }
      if (s[0] < 1 || s[0] > 1024 || s[1] < 1 || s[2] < 1) {
        *why = path + ": an empty array or too many channels (" + std::to_string(s[0]) + ")";
        return false;
      }
      *c = int(s[0]), *h = int(s[1]), *w = int(s[2]);
      return true;
    }
    const ImageInfo info = probe_image(path);
    *c = info.c, *h = info.h, *w = info.w;
    return true;
  } catch (const std::exception& e) {
    *why = e.what();
    return false;
  }
}

void make_directories(const std::string& dir) {
  if (dir.empty() || is_directory(dir)) return;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !is_directory(dir))
    throw WriteError("cannot create folder '" + dir + "': " + (ec ? ec.message() : "not a folder"));
}

std::string parent_directory(const std::string& path) {
  const std::string p = fs::path(path).parent_path().string();
  return p.empty() ? "." : p;
}

void check_writable_directory(const std::string& dir, const std::string& what) {
  if (!is_directory(dir)) throw Error("cannot write " + what + ": folder '" + dir + "' does not exist");
  const std::string probe = (fs::path(dir) / (".reddiff-probe.tmp" + std::to_string(::getpid()))).string();
  FILE* f = std::fopen(probe.c_str(), "wb");
  if (!f) throw Error("cannot write " + what + " in '" + dir + "': " + std::strerror(errno));
  std::fclose(f);
  std::remove(probe.c_str());
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw WriteError("cannot write '" + path + "': " + std::strerror(errno));
  const bool ok = std::fwrite(contents.data(), 1, contents.size(), f) == contents.size();
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    throw WriteError("cannot write '" + path + "': " + std::strerror(e));
  }
}

std::string csv_quote(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

CsvWriter::~CsvWriter() { close(); }

void CsvWriter::open(const std::string& path) {
  close();
  f_ = std::fopen(path.c_str(), "w");
  if (!f_) throw Error("cannot write --csv '" + path + "': " + std::strerror(errno));
  path_ = path;
  std::fputs("file,status,psnr,ssim,seconds\n", f_);
  std::fflush(f_);
}

void CsvWriter::row(const std::string& file, const std::string& status, double psnr, double ssim, double seconds) {
  if (!f_) return;
  auto num = [](double v, const char* fmt) -> std::string {
    if (std::isnan(v)) return "";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char b[64];
    std::snprintf(b, sizeof b, fmt, v);
    return b;
  };
  std::fprintf(f_, "%s,%s,%s,%s,%s\n", csv_quote(file).c_str(), csv_quote(status).c_str(), num(psnr, "%.4f").c_str(),
               num(ssim, "%.6f").c_str(), seconds >= 0 ? num(seconds, "%.3f").c_str() : "");
  std::fflush(f_);
}

void CsvWriter::close() {
  if (f_) std::fclose(f_);
  f_ = nullptr;
}

}  // namespace reddiff
