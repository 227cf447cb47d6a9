#include "base/tensor.h"

namespace reddiff {

const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

std::string Shape4::str() const {
  return std::to_string(n) + "x" + std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w);
}

}  // namespace reddiff
