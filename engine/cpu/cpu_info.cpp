// The processor's name (cpuid brand string) and the CPU backend's kernel set.
#include "engine/cpu/cpu_info.h"

#include <cpuid.h>

#include <cstring>

extern "C" char* openblas_get_corename(void);
extern "C" char* openblas_get_config(void);

namespace reddiff {

std::string cpu_model_name() {
  unsigned int regs[12] = {0};
  unsigned int max_ext = __get_cpuid_max(0x80000000u, nullptr);
  if (max_ext < 0x80000004u) return "unknown CPU";
  for (unsigned int i = 0; i < 3; ++i)
    __get_cpuid(0x80000002u + i, &regs[i * 4 + 0], &regs[i * 4 + 1], &regs[i * 4 + 2], &regs[i * 4 + 3]);
  char name[49];
  std::memcpy(name, regs, 48);
  name[48] = 0;
  std::string s(name);
  const size_t a = s.find_first_not_of(' '), b = s.find_last_not_of(' ');
  return a == std::string::npos ? "unknown CPU" : s.substr(a, b - a + 1);
}

std::string cpu_kernel_set() { return std::string("OpenBLAS (") + openblas_get_corename() + ")"; }

}  // namespace reddiff
