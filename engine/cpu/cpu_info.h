// What the CPU backend runs on: the processor's model name and the kernel set in use, for
// `reddiff --version`, the bench output and --json reports.
#pragma once
#include <string>

namespace reddiff {

// The CPU's model name as the processor reports it (cpuid brand string), e.g. "AMD EPYC 9R14".
std::string cpu_model_name();
// The kernel set the CPU backend uses on this machine, e.g. "OpenBLAS 0.3.21 (Cooperlake)".
std::string cpu_kernel_set();

}  // namespace reddiff
