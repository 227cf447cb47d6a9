// Input checkpoints, whatever their container: torch zip (torch >= 1.6), legacy torch (pre-1.6 or
// _use_new_zipfile_serialization=False) and safetensors. Each is opened into the same shape: an inert
// object tree (pickle::Value, with Tensor leaves referring to storages) plus on-demand reads of storage
// bytes, so a converter streams tensors without holding the checkpoint in memory.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "weights_converter/pickle_machine.h"

namespace reddiff {

class Checkpoint {
 public:
  virtual ~Checkpoint() = default;

  const std::string& path() const { return path_; }
  const std::string& format() const { return format_; }  // "torch zip", "torch legacy", "safetensors"
  const std::string& detail() const { return detail_; }  // e.g. "entry prefix 'archive/', 2 storages"
  uint64_t file_size() const { return file_size_; }
  const pickle::Value* root() const { return pk_->root; }
  const pickle::Unpickled& objects() const { return *pk_; }
  // safetensors input only: its __metadata__ (a reddiff model file carries its config there).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // Checks that the file really holds the storage a tensor refers to, with all its declared elements.
  // Throws reddiff::Error naming the tensor when the storage is missing or shorter than declared.
  virtual void check_storage(const pickle::StorageRef& s, const std::string& tensor_name) = 0;
  // Reads nbytes at byte_offset of storage s.key (offsets are in bytes from the root storage's start).
  virtual void read(const pickle::StorageRef& s, uint64_t byte_offset, uint64_t nbytes, void* dst) = 0;

 protected:
  std::string path_, format_, detail_;
  uint64_t file_size_ = 0;
  std::unique_ptr<pickle::Unpickled> pk_;
  std::map<std::string, std::string> metadata_;
};

// Detects the format from the first bytes and opens the file; throws reddiff::Error (exit code 2) with
// one line naming the file and the defect.
std::unique_ptr<Checkpoint> open_checkpoint(const std::string& path);

std::unique_ptr<Checkpoint> open_torch_zip(const std::string& path);
std::unique_ptr<Checkpoint> open_torch_legacy(const std::string& path);
std::unique_ptr<Checkpoint> open_safetensors_input(const std::string& path);

// Largest pickle the readers accept (the pickle of the largest ADM checkpoint is about 100 KiB).
constexpr uint64_t kMaxPickleBytes = uint64_t(1) << 30;

}  // namespace reddiff
