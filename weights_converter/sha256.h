// SHA-256 (FIPS 180-4), for the source-file digest a converted model file records.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace reddiff {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  std::string hex_digest();  // finalises; the object must not be updated afterwards

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t used_ = 0;
  uint64_t total_ = 0;
};

// Digest of a whole file, read in 4 MiB chunks; progress(bytes_done) after each chunk.
std::string sha256_file(const std::string& path, const std::function<void(uint64_t)>& progress = nullptr);

}  // namespace reddiff
