// The processor's name (cpuid brand string), the CPU backend's kernel set (oneDNN and the instruction set
// it uses here), and REDDIFF_CPU_ISA, which caps that instruction set.
#include "engine/cpu/cpu_info.h"

#include <cpuid.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include "base/error.h"
#include "engine/cpu/onednn_conv.h"

extern "C" char* openblas_get_corename(void);
extern "C" char* openblas_get_config(void);

namespace reddiff {

namespace {

const std::vector<std::pair<std::string, dnnl::cpu_isa>>& isa_names() {
  static const std::vector<std::pair<std::string, dnnl::cpu_isa>> v = {
      {"sse41", dnnl::cpu_isa::sse41},
      {"avx", dnnl::cpu_isa::avx},
      {"avx2", dnnl::cpu_isa::avx2},
      {"avx2_vnni", dnnl::cpu_isa::avx2_vnni},
      {"avx512_core", dnnl::cpu_isa::avx512_core},
      {"avx512_core_vnni", dnnl::cpu_isa::avx512_core_vnni},
      {"avx512_core_bf16", dnnl::cpu_isa::avx512_core_bf16},
      {"avx512_core_amx", dnnl::cpu_isa::avx512_core_amx},
  };
  return v;
}

}  // namespace

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

std::string cpu_isa_name() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  for (const auto& e : isa_names())
    if (e.second == isa) return e.first;
  return "isa " + std::to_string(int(isa));
}

void apply_cpu_isa_limit() {
  static std::once_flag once;
  static std::string failure;
  std::call_once(once, [] {
    const char* want = std::getenv("REDDIFF_CPU_ISA");
    if (!want || !*want) return;
    std::string names;
    for (const auto& e : isa_names()) {
      names += (names.empty() ? "" : ", ") + e.first;
      if (e.first != want) continue;
      // The cap must be set before oneDNN is asked what it uses: the first question fixes the answer. The best
      // set under the cap is then the cap itself, or the CPU lacks it.
      if (dnnl::set_max_cpu_isa(e.second) != dnnl::status::success)
        failure = std::string("REDDIFF_CPU_ISA=") + want + " came too late: oneDNN already chose its kernels";
      else if (dnnl::get_effective_cpu_isa() != e.second)
        failure = std::string("REDDIFF_CPU_ISA=") + want + ": this CPU (" + cpu_model_name() +
                  ") does not have it; it has " + cpu_isa_name() + " (or unset REDDIFF_CPU_ISA)";
      return;
    }
    failure = std::string("REDDIFF_CPU_ISA=") + want + ": unknown instruction set (one of " + names + ")";
  });
  if (!failure.empty()) throw Error(failure, 2);
}

namespace {

// OpenBLAS's core, e.g. "Haswell", "Zen", "SkylakeX", or "Prescott" when it does not know the CPU.
std::string openblas_core() {
  const char* c = openblas_get_corename();
  return c ? c : "unknown";
}

// OpenBLAS's version, from its configuration string ("OpenBLAS 0.3.21 DYNAMIC_ARCH ...").
std::string openblas_version() {
  const char* c = openblas_get_config();
  std::string s = c ? c : "OpenBLAS";
  const size_t sp = s.find(' ', s.find(' ') + 1);
  return sp == std::string::npos ? s : s.substr(0, sp);
}

// Cores whose kernels use AVX2 and FMA (OpenBLAS's names, lower case).
bool openblas_core_has_avx2(std::string core) {
  for (char& ch : core) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  for (const char* k : {"haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"})
    if (core == k) return true;
  return false;
}

}  // namespace

CpuConvPath cpu_conv_path() {
  apply_cpu_isa_limit();
  if (const char* k = std::getenv("REDDIFF_CPU_CONV"); k && *k) {
    const std::string v = k;
    if (v == "onednn") return CpuConvPath::OneDnn;
    if (v == "blas") return CpuConvPath::Blas;
    throw Error("REDDIFF_CPU_CONV=" + v + ": unknown convolution path (onednn or blas)", 2);
  }
  if (dnnl::get_effective_cpu_isa() >= dnnl::cpu_isa::avx512_core) return CpuConvPath::OneDnn;
  return openblas_core_has_avx2(openblas_core()) ? CpuConvPath::Blas : CpuConvPath::OneDnn;
}

std::string cpu_kernel_set() {
  if (cpu_conv_path() == CpuConvPath::OneDnn) return onednn_description();
  return "im2col + " + openblas_version() + " (" + openblas_core() + "), " + onednn_description();
}

}  // namespace reddiff
