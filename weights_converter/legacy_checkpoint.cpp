// Legacy torch checkpoints (pre-1.6, or torch.save(..., _use_new_zipfile_serialization=False)):
// five pickles back to back (magic number, protocol 1001, sys info, the object, the sorted storage keys),
// then every storage in key-list order as an int64 element count followed by the raw elements.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "base/error.h"
#include "weights_converter/checkpoint.h"

namespace reddiff {

using pickle::printable;

namespace {

class Mapping {
 public:
  Mapping(int fd, size_t size) : size_(size) {
    if (size_ == 0) return;
    void* p = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) base_ = static_cast<const uint8_t*>(p);
  }
  ~Mapping() {
    if (base_) munmap(const_cast<uint8_t*>(base_), size_);
  }
  const uint8_t* data() const { return base_; }

 private:
  const uint8_t* base_ = nullptr;
  size_t size_;
};

class LegacyCheckpoint : public Checkpoint {
 public:
  explicit LegacyCheckpoint(const std::string& path) {
    path_ = path;
    format_ = "torch legacy";
    fd_.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_.fd < 0) throw Error(path + ": cannot open");
    struct stat st;
    if (fstat(fd_.fd, &st) != 0) throw Error(path + ": cannot stat");
    file_size_ = uint64_t(st.st_size);
    Mapping map(fd_.fd, size_t(file_size_));
    if (!map.data()) throw Error(path + ": cannot map file");
    const uint8_t* p = map.data();
    size_t pos = 0, n = size_t(file_size_);
    pickle::UnpickleOptions plain;
    plain.allow_persistent_ids = false;
    auto next = [&](const char* what, const pickle::UnpickleOptions& o) {
      if (pos >= n) throw Error(path + ": legacy checkpoint ends before its " + std::string(what));
      size_t limit = size_t(std::min<uint64_t>(n - pos, kMaxPickleBytes));
      auto u = pickle::unpickle(p + pos, limit, path + ": " + what + " pickle", o);
      pos += u->consumed;
      return u;
    };
    // The magic number pickle (a 10-byte LONG1, wider than int64) was matched by open_checkpoint; check it again.
    static const uint8_t kMagic[15] = {0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46,
                                       0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E};
    if (n < sizeof kMagic || std::memcmp(p, kMagic, sizeof kMagic) != 0)
      throw Error(path + ": not a legacy torch checkpoint");
    pos = sizeof kMagic;
    auto proto = next("protocol version", plain);
    if (proto->root->kind != pickle::Kind::Int || proto->root->i != 1001)
      throw Error(path + ": unsupported legacy checkpoint protocol (expected 1001)");
    auto sys = next("sys info", plain);
    const pickle::Value* le = pickle::Unpickled::get(sys->root, "little_endian");
    if (!le || le->kind != pickle::Kind::Bool) throw Error(path + ": legacy checkpoint sys info is malformed");
    if (!le->i) throw Error(path + ": big-endian legacy checkpoint is not supported");
    pk_ = next("main", pickle::UnpickleOptions{});
    auto keys = next("storage key list", plain);
    if (keys->root->kind != pickle::Kind::List) throw Error(path + ": legacy storage key list is not a list");

    // Element sizes come from the storage types the main pickle declared for each key.
    std::unordered_map<std::string, const pickle::StorageRef*> declared;
    for (const auto& s : pk_->storages()) declared.emplace(s.key, &s);
    uint64_t cur = pos;
    for (const pickle::Value* k : keys->root->items) {
      if (k->kind != pickle::Kind::Str) throw Error(path + ": legacy storage key is not a string");
      auto it = declared.find(k->s);
      if (it == declared.end())
        throw Error(path + ": legacy checkpoint lists storage '" + printable(k->s) + "' that no tensor declares");
      const pickle::StorageRef& s = *it->second;
      if (records_.count(k->s)) throw Error(path + ": legacy storage '" + printable(k->s) + "' is listed twice");
      if (cur > file_size_ || file_size_ - cur < 8)
        throw Error(path + ": storage '" + printable(k->s) + "' is missing (the file is truncated)");
      uint64_t numel = 0;
      for (int j = 7; j >= 0; --j) numel = (numel << 8) | p[cur + uint64_t(j)];
      if (int64_t(numel) != s.root_numel)
        throw Error(path + ": storage '" + printable(k->s) + "' holds " + std::to_string(int64_t(numel)) +
                    " elements, but the checkpoint declares " + std::to_string(s.root_numel) + "; the file is damaged");
      uint64_t bytes = numel * pickle::storage_elem_size(s.type);
      uint64_t data = cur + 8;
      if (bytes > file_size_ - data)
        throw Error(path + ": storage '" + printable(k->s) + "' needs " + std::to_string(bytes) + " bytes at offset " +
                    std::to_string(data) + ", past the end of the " + std::to_string(file_size_) +
                    "-byte file (truncated?)");
      records_[k->s] = {data, bytes};
      cur = data + bytes;
    }
    detail_ = std::to_string(records_.size()) + " storage" + (records_.size() == 1 ? "" : "s");
  }

  void check_storage(const pickle::StorageRef& s, const std::string& tensor) override {
    auto it = records_.find(s.key);
    if (it == records_.end())
      throw Error(path_ + ": tensor '" + printable(tensor) + "': storage '" + printable(s.key) +
                  "' is not in the file");
  }

  void read(const pickle::StorageRef& s, uint64_t byte_offset, uint64_t nbytes, void* dst) override {
    auto it = records_.find(s.key);
    if (it == records_.end()) throw Error(path_ + ": storage '" + printable(s.key) + "' is not in the file");
    const Record& r = it->second;
    if (byte_offset > r.bytes || nbytes > r.bytes - byte_offset)
      throw Error(path_ + ": storage '" + printable(s.key) + "' holds " + std::to_string(r.bytes) +
                  " bytes, but bytes " + std::to_string(byte_offset) + ".." + std::to_string(byte_offset + nbytes) +
                  " are needed");
    auto* out = static_cast<uint8_t*>(dst);
    uint64_t done = 0;
    while (done < nbytes) {
      ssize_t got = ::pread(fd_.fd, out + done, size_t(std::min<uint64_t>(nbytes - done, 1u << 30)),
                            off_t(r.offset + byte_offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0)
        throw Error(path_ + ": read error in storage '" + printable(s.key) + "' (file changed or truncated?)");
      done += uint64_t(got);
    }
  }

 private:
  struct Record {
    uint64_t offset, bytes;
  };
  struct Fd {
    int fd = -1;
    ~Fd() {
      if (fd >= 0) ::close(fd);
    }
  } fd_;
  std::unordered_map<std::string, Record> records_;
};

}  // namespace

std::unique_ptr<Checkpoint> open_torch_legacy(const std::string& path) {
  return std::make_unique<LegacyCheckpoint>(path);
}

}  // namespace reddiff
