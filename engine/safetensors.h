// safetensors files: a validating, memory-mapped reader and a streaming writer.
// Spec: 8-byte little-endian header length N, N bytes of JSON header, then the tensor bytes.
// The header maps each tensor name to {dtype, shape, data_offsets:[begin,end)} relative to the data
// section, plus an optional "__metadata__" object of string -> string.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/dtype.h"

namespace reddiff {

struct SafeTensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  size_t offset = 0;  // from the start of the data section
  size_t nbytes = 0;
  int64_t numel() const;
};

class SafeTensorsFile {
 public:
  // Maps the file and validates the header; throws reddiff::Error naming the file and the defect.
  static std::unique_ptr<SafeTensorsFile> open(const std::string& path);
  // Parses an in-memory buffer (used by the fuzzer and tests); the buffer must outlive the object.
  static std::unique_ptr<SafeTensorsFile> from_memory(const void* data, size_t size, const std::string& label);
  ~SafeTensorsFile();

  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::vector<SafeTensorInfo>& tensors() const { return tensors_; }  // in data-offset order
  const SafeTensorInfo* find(const std::string& name) const;
  const void* data(const SafeTensorInfo& t) const { return data_ + t.offset; }
  size_t file_size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  SafeTensorsFile() = default;
  void parse();
  std::string path_;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  const uint8_t* data_ = nullptr;
  std::map<std::string, std::string> metadata_;
  std::vector<SafeTensorInfo> tensors_;
  std::map<std::string, size_t> index_;
};

// Writes a safetensors file atomically: bytes go to "<path>.tmp-<pid>", renamed over <path> by finish().
// Tensor data is produced by a callback at write time, so a converter never holds all tensors at once.
class SafeTensorsWriter {
 public:
  using Fill = std::function<void(void* dst)>;  // writes exactly numel*dtype_size bytes
  explicit SafeTensorsWriter(std::string path);
  ~SafeTensorsWriter();  // removes the temporary file if finish() was not reached
  void set_metadata(const std::string& key, const std::string& value);
  void add(const std::string& name, DType dtype, const std::vector<int64_t>& shape, Fill fill);
  // progress(i, n) is called after each tensor is written.
  void finish(const std::function<void(size_t, size_t)>& progress = nullptr);

 private:
  struct Pending {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    Fill fill;
  };
  std::string path_, tmp_;
  std::map<std::string, std::string> metadata_;
  std::vector<Pending> pending_;
  bool done_ = false;
};

}  // namespace reddiff
