// A reddiff model file with random weights, for tests that run the tool on a tiny network (the layout
// of tests/engine/test_model_file.cpp): every tensor `c` needs, N(0, 0.05^2) from consecutive seeds
// starting at `seed`, and metadata that declare `declared` (default: `c` itself; another config makes a
// file whose tensors do not match its architecture).
#pragma once
#include <cstring>
#include <filesystem>
#include <string>

#include "engine/model_config.h"
#include "engine/safetensors.h"
#include "test_util.h"

namespace reddiff_test {

inline void write_random_model(const std::string& path, const reddiff::AdmConfig& c, uint32_t seed,
                               const reddiff::AdmConfig* declared = nullptr) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  reddiff::SafeTensorsWriter w(path);
  w.set_metadata("format", "reddiff");
  w.set_metadata("format_version", "1");
  w.set_metadata("arch", "adm");
  w.set_metadata("config", reddiff::to_json(declared ? *declared : c).dump());
  w.set_metadata("schedule", reddiff::to_json(reddiff::Schedule()).dump());
  for (const auto& t : reddiff::expected_tensors(c))
    w.add(t.name, reddiff::DType::F32, t.shape, [&seed, t](void* dst) {
      int64_t n = 1;
      for (auto d : t.shape) n *= d;
      auto v = random_normal(size_t(n), seed++, 0.05f);
      std::memcpy(dst, v.data(), v.size() * 4);
    });
  w.finish();
}

}  // namespace reddiff_test
