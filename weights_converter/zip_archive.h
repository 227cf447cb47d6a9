// Read-only access to the zip container of torch >= 1.6 checkpoints, through Debian's libzip.
// libzip takes sizes and offsets from the central directory (ZIP64 records included), so data
// descriptors and zeroed local-header sizes are fine. Entries are read on demand: a storage slice is read
// with a seek into its (stored, uncompressed) entry, never by loading the whole archive.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

struct zip;
struct zip_file;

namespace reddiff {

class ZipArchive {
 public:
  struct Entry {
    std::string name;
    uint64_t index = 0;
    uint64_t size = 0;    // uncompressed size, from the central directory
    uint16_t method = 0;  // 0 = stored
    bool encrypted = false;
  };

  // Throws reddiff::Error (exit code 2) naming the file when it is not a readable zip archive.
  static std::unique_ptr<ZipArchive> open(const std::string& path);
  ~ZipArchive();
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;

  const std::vector<Entry>& entries() const { return entries_; }
  const Entry* find(const std::string& name) const;
  const std::string& path() const { return path_; }

  // The whole entry (any compression method); refuses entries larger than max_size.
  std::vector<uint8_t> read_all(const Entry& e, uint64_t max_size);
  // n bytes at offset within a stored entry. Throws when the range lies outside the entry or the read fails.
  void read(const Entry& e, uint64_t offset, uint64_t n, void* dst);

 private:
  ZipArchive() = default;
  void close_file();
  [[noreturn]] void fail_entry(const Entry& e, const std::string& what);
  std::string path_;
  zip* za_ = nullptr;
  std::vector<Entry> entries_;
  std::unordered_map<std::string, size_t> by_name_;
  zip_file* open_ = nullptr;  // the last entry read, kept open for the next slice of the same storage
  uint64_t open_index_ = 0;
  uint64_t open_pos_ = 0;
};

}  // namespace reddiff
