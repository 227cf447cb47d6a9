#include "engine/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/error.h"

namespace reddiff {

int64_t SafeTensorInfo::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::unique_ptr<SafeTensorsFile> SafeTensorsFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error(path + ": cannot open model file");
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + ": not a regular file");
  }
  std::unique_ptr<SafeTensorsFile> f(new SafeTensorsFile());
  f->path_ = path;
  f->size_ = size_t(st.st_size);
  if (f->size_ > 0) {
    void* p = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) throw Error(path + ": cannot map file");
    f->base_ = static_cast<const uint8_t*>(p);
    f->mapped_ = true;
  } else {
    ::close(fd);
  }
  f->parse();
  return f;
}

std::unique_ptr<SafeTensorsFile> SafeTensorsFile::from_memory(const void* data, size_t size, const std::string& label) {
  std::unique_ptr<SafeTensorsFile> f(new SafeTensorsFile());
  f->path_ = label;
  f->base_ = static_cast<const uint8_t*>(data);
  f->size_ = size;
  f->parse();
  return f;
}

SafeTensorsFile::~SafeTensorsFile() {
  if (mapped_) munmap(const_cast<uint8_t*>(base_), size_);
}

const SafeTensorInfo* SafeTensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

void SafeTensorsFile::parse() {
  const std::string& p = path_;
  if (size_ < 8) throw Error(p + ": not a safetensors file (shorter than its 8-byte header length)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | base_[i];
  if (n < 2 || n > size_ - 8)
    throw Error(p + ": not a safetensors file (header length " + std::to_string(n) + " does not fit in " +
                std::to_string(size_) + " bytes)");
  data_ = base_ + 8 + n;
  size_t data_size = size_ - 8 - n;
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(base_ + 8, base_ + 8 + n);
  } catch (const std::exception& e) {
    throw Error(p + ": safetensors header is not valid JSON");
  }
  if (!h.is_object()) throw Error(p + ": safetensors header is not a JSON object");
  for (auto it = h.begin(); it != h.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) throw Error(p + ": __metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) throw Error(p + ": __metadata__ value '" + m.key() + "' is not a string");
        metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const auto& v = it.value();
    const std::string& name = it.key();
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets") ||
        !v["dtype"].is_string() || !v["shape"].is_array() || !v["data_offsets"].is_array() ||
        v["data_offsets"].size() != 2)
      throw Error(p + ": tensor '" + name + "' has a malformed header entry");
    SafeTensorInfo t;
    t.name = name;
    if (!parse_dtype(v["dtype"].get<std::string>(), &t.dtype))
      throw Error(p + ": tensor '" + name + "' has unsupported dtype " + v["dtype"].get<std::string>());
    int64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > (int64_t(1) << 40))
        throw Error(p + ": tensor '" + name + "' has an invalid shape");
      t.shape.push_back(d.get<int64_t>());
      numel *= t.shape.back();
      if (numel > (int64_t(1) << 40)) throw Error(p + ": tensor '" + name + "' is too large");
    }
    const auto& o = v["data_offsets"];
    if (!o[0].is_number_unsigned() || !o[1].is_number_unsigned())
      throw Error(p + ": tensor '" + name + "' has invalid data_offsets");
    uint64_t b = o[0].get<uint64_t>(), e = o[1].get<uint64_t>();
    if (b > e || e > data_size) throw Error(p + ": tensor '" + name + "' lies outside the file (truncated?)");
    if (e - b != uint64_t(numel) * dtype_size(t.dtype))
      throw Error(p + ": tensor '" + name + "' byte size does not match its shape and dtype");
    t.offset = size_t(b);
    t.nbytes = size_t(e - b);
    tensors_.push_back(std::move(t));
  }
  std::sort(tensors_.begin(), tensors_.end(),
            [](const SafeTensorInfo& a, const SafeTensorInfo& b) { return a.offset < b.offset; });
  for (size_t i = 1; i < tensors_.size(); ++i)
    if (tensors_[i].offset < tensors_[i - 1].offset + tensors_[i - 1].nbytes)
      throw Error(p + ": tensors '" + tensors_[i - 1].name + "' and '" + tensors_[i].name + "' overlap");
  for (size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
}

// ---------------------------------------------------------------- writer

SafeTensorsWriter::SafeTensorsWriter(std::string path) : path_(std::move(path)) {
  tmp_ = path_ + ".tmp-" + std::to_string(getpid());
}

SafeTensorsWriter::~SafeTensorsWriter() {
  if (!done_) std::remove(tmp_.c_str());
}

void SafeTensorsWriter::set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

void SafeTensorsWriter::add(const std::string& name, DType dtype, const std::vector<int64_t>& shape, Fill fill) {
  if (name == "__metadata__") throw Error("tensor name __metadata__ is reserved");
  for (const auto& p : pending_)
    if (p.name == name) throw Error("duplicate tensor name " + name);
  pending_.push_back({name, dtype, shape, std::move(fill)});
}

void SafeTensorsWriter::finish(const std::function<void(size_t, size_t)>& progress) {
  nlohmann::json h = nlohmann::json::object();
  if (!metadata_.empty()) h["__metadata__"] = metadata_;
  uint64_t off = 0;
  std::vector<uint64_t> sizes;
  for (const auto& p : pending_) {
    uint64_t n = dtype_size(p.dtype);
    for (auto d : p.shape) n *= uint64_t(d);
    h[p.name] = {{"dtype", dtype_safetensors_name(p.dtype)}, {"shape", p.shape}, {"data_offsets", {off, off + n}}};
    sizes.push_back(n);
    off += n;
  }
  std::string header = h.dump();
  while ((header.size() + 8) % 8) header.push_back(' ');  // the data section starts 8-byte aligned
  std::ofstream out(tmp_, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(path_ + ": cannot write (directory missing or not writable)", 1);
  uint64_t n = header.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(n >> (8 * i));
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(header.data(), std::streamsize(header.size()));
  std::vector<uint8_t> buf;
  for (size_t i = 0; i < pending_.size(); ++i) {
    buf.assign(sizes[i], 0);
    pending_[i].fill(buf.data());
    out.write(reinterpret_cast<const char*>(buf.data()), std::streamsize(buf.size()));
    pending_[i].fill = nullptr;
    if (progress) progress(i + 1, pending_.size());
  }
  out.close();
  if (!out) throw Error(path_ + ": write failed (disk full?)", 1);
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
    throw Error(path_ + ": cannot rename temporary file into place", 1);
  done_ = true;
}

}  // namespace reddiff
