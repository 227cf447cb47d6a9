#include "weights_converter/checkpoint.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstring>

#include "base/error.h"
#include "engine/safetensors.h"
#include "weights_converter/zip_archive.h"

namespace reddiff {

using pickle::printable;

static const uint8_t kLegacyMagic[15] = {0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46,
                                         0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E};

std::unique_ptr<Checkpoint> open_checkpoint(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw Error(path + ": no such file");
  if (!S_ISREG(st.st_mode)) throw Error(path + ": not a regular file");
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw Error(path + ": cannot open (permission denied?)");
  uint8_t head[16] = {0};
  size_t got = std::fread(head, 1, sizeof head, f);
  std::fclose(f);
  if (got == 0) throw Error(path + ": empty file");
  if (got >= 4 && head[0] == 'P' && head[1] == 'K' &&
      ((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6)))
    return open_torch_zip(path);
  if (got >= sizeof kLegacyMagic && std::memcmp(head, kLegacyMagic, sizeof kLegacyMagic) == 0)
    return open_torch_legacy(path);
  if (got >= 9 && head[8] == '{') {
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | head[i];
    if (n >= 2 && n <= uint64_t(st.st_size)) return open_safetensors_input(path);
  }
  if (head[0] == 0x80 && got >= 2 && head[1] >= 2 && head[1] <= 5)
    throw Error(path + ": a bare pickle, not a torch checkpoint (torch.save writes a zip or legacy container)");
  throw Error(path + ": unrecognised file format (expected a torch .pt/.ckpt checkpoint or a safetensors file)");
}

// ---------------------------------------------------------------- torch zip

namespace {

class TorchZipCheckpoint : public Checkpoint {
 public:
  explicit TorchZipCheckpoint(const std::string& path) {
    path_ = path;
    format_ = "torch zip";
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) file_size_ = uint64_t(st.st_size);
    zip_ = ZipArchive::open(path);
    const ZipArchive::Entry* pkl = nullptr;
    for (const auto& e : zip_->entries()) {
      const std::string& n = e.name;
      bool match = n == "data.pkl" || (n.size() > 9 && n.compare(n.size() - 9, 9, "/data.pkl") == 0);
      if (!match) continue;
      if (pkl)
        throw Error(path + ": zip archive holds two pickles ('" + printable(pkl->name) + "' and '" + printable(n) +
                    "')");
      pkl = &e;
    }
    if (!pkl) throw Error(path + ": zip archive without a data.pkl entry, so not a torch checkpoint");
    prefix_ = pkl->name.substr(0, pkl->name.size() - 8);  // keeps the trailing '/'
    if (zip_->find(prefix_ + "constants.pkl"))
      throw Error(path + ": a TorchScript archive (torch.jit.save); save model.state_dict() with torch.save instead");
    if (const auto* bo = zip_->find(prefix_ + "byteorder")) {
      auto b = zip_->read_all(*bo, 64);
      std::string s(b.begin(), b.end());
      if (s.rfind("little", 0) != 0)
        throw Error(path + ": big-endian checkpoint (byteorder '" + printable(s) + "') is not supported");
    }
    auto bytes = zip_->read_all(*pkl, kMaxPickleBytes);
    pk_ = pickle::unpickle(bytes.data(), bytes.size(), path + ": " + pkl->name);
    size_t nstorage = 0;
    for (const auto& e : zip_->entries())
      if (e.name.compare(0, prefix_.size() + 5, prefix_ + "data/") == 0) ++nstorage;
    detail_ = "entry prefix '" + printable(prefix_) + "', " + std::to_string(nstorage) + " storage" +
              (nstorage == 1 ? "" : "s");
  }

  void check_storage(const pickle::StorageRef& s, const std::string& tensor) override {
    const ZipArchive::Entry& e = entry(s, tensor);
    uint64_t need = uint64_t(s.root_numel) * pickle::storage_elem_size(s.type);
    if (e.size < need)
      throw Error(path_ + ": tensor '" + printable(tensor) + "': storage '" + printable(s.key) + "' holds " +
                  std::to_string(e.size) + " bytes, but the checkpoint declares " + std::to_string(s.root_numel) + " " +
                  pickle::storage_type_name(s.type) + " elements (" + std::to_string(need) +
                  " bytes); the file is damaged");
    if (e.encrypted) throw Error(path_ + ": storage entry '" + printable(e.name) + "' is encrypted");
    if (e.method != 0)
      throw Error(path_ + ": storage entry '" + printable(e.name) +
                  "' is compressed; torch stores tensor data uncompressed");
  }

  void read(const pickle::StorageRef& s, uint64_t byte_offset, uint64_t nbytes, void* dst) override {
    zip_->read(entry(s, ""), byte_offset, nbytes, dst);
  }

 private:
  const ZipArchive::Entry& entry(const pickle::StorageRef& s, const std::string& tensor) {
    const ZipArchive::Entry* e = zip_->find(prefix_ + "data/" + s.key);
    if (!e)
      throw Error(path_ + ": " + (tensor.empty() ? std::string() : "tensor '" + printable(tensor) + "': ") +
                  "storage entry '" + printable(prefix_ + "data/" + s.key) + "' is missing from the archive");
    return *e;
  }
  std::unique_ptr<ZipArchive> zip_;
  std::string prefix_;
};

// ---------------------------------------------------------------- safetensors

class SafetensorsCheckpoint : public Checkpoint {
 public:
  explicit SafetensorsCheckpoint(const std::string& path) {
    path_ = path;
    format_ = "safetensors";
    file_ = SafeTensorsFile::open(path);
    file_size_ = file_->file_size();
    metadata_ = file_->metadata();
    pk_ = std::make_unique<pickle::Unpickled>();
    pickle::Value* root = pk_->new_value(pickle::Kind::Dict);
    for (const auto& t : file_->tensors()) {
      pickle::StorageRef s;
      s.key = t.name;
      switch (t.dtype) {
        case DType::F32:
          s.type = pickle::StorageType::F32;
          break;
        case DType::F16:
          s.type = pickle::StorageType::F16;
          break;
        case DType::BF16:
          s.type = pickle::StorageType::BF16;
          break;
        case DType::F64:
          s.type = pickle::StorageType::F64;
          break;
      }
      s.numel = s.root_numel = t.numel();
      pickle::Value* sv = pk_->new_storage(std::move(s));
      pickle::TensorRef tr;
      tr.storage = &pk_->storage(sv);
      tr.shape = t.shape;
      tr.stride.assign(t.shape.size(), 1);
      for (size_t k = t.shape.size(); k-- > 1;) tr.stride[k - 1] = tr.stride[k] * t.shape[k];
      pickle::Value* key = pk_->new_value(pickle::Kind::Str);
      key->s = t.name;
      root->entries.emplace_back(key, pk_->new_tensor(std::move(tr)));
    }
    pk_->root = root;
    detail_ = std::to_string(file_->tensors().size()) + " tensors";
  }

  void check_storage(const pickle::StorageRef&, const std::string&) override {}  // validated by the reader

  void read(const pickle::StorageRef& s, uint64_t byte_offset, uint64_t nbytes, void* dst) override {
    const SafeTensorInfo* t = file_->find(s.key);
    if (!t || byte_offset > t->nbytes || nbytes > t->nbytes - byte_offset)
      throw Error(path_ + ": read outside tensor '" + printable(s.key) + "'");
    std::memcpy(dst, static_cast<const uint8_t*>(file_->data(*t)) + byte_offset, size_t(nbytes));
  }

 private:
  std::unique_ptr<SafeTensorsFile> file_;
};

}  // namespace

std::unique_ptr<Checkpoint> open_torch_zip(const std::string& path) {
  return std::make_unique<TorchZipCheckpoint>(path);
}

std::unique_ptr<Checkpoint> open_safetensors_input(const std::string& path) {
  return std::make_unique<SafetensorsCheckpoint>(path);
}

}  // namespace reddiff
