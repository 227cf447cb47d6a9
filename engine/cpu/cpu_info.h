// What the CPU backend runs on: the processor's model name and the kernel set in use, for
// `reddiff --version`, the bench output and --json reports.
#pragma once
#include <string>

namespace reddiff {

// The CPU's model name as the processor reports it (cpuid brand string), e.g. "AMD EPYC 9R14".
std::string cpu_model_name();
// How the CPU backend runs convolutions: with oneDNN's own convolutions, or as im2col + OpenBLAS GEMMs.
// Whichever measured faster (docs/benchmarks.md, "CPU kernels"): oneDNN where it has AVX-512 kernels
// (brgconv) and where OpenBLAS fell back to a generic core on a CPU with AVX2; OpenBLAS's GEMMs on AVX2
// CPUs that it recognises (oneDNN's AVX2 direct convolutions on NHWC data are 1.4x slower there).
// $REDDIFF_CPU_CONV=onednn|blas overrides the choice (another value: reddiff::Error, exit status 2).
enum class CpuConvPath { OneDnn, Blas };
CpuConvPath cpu_conv_path();
// The kernel set the CPU backend uses on this machine, e.g. "oneDNN 2.6.3 (avx512_core_bf16)" or
// "im2col + OpenBLAS 0.3.21 (Haswell), oneDNN 2.6.3 (avx2)".
std::string cpu_kernel_set();
// The instruction set oneDNN's kernels use here, in oneDNN's names: sse41, avx2, avx512_core,
// avx512_core_bf16, avx512_core_amx, ...
std::string cpu_isa_name();
// Caps that instruction set at $REDDIFF_CPU_ISA (one of those names) before the first kernel is made, to
// compare kernel sets on one machine. One that this CPU lacks is refused (reddiff::Error, exit status 2)
// instead of running instructions the CPU cannot execute. Called by the CPU backend; idempotent.
void apply_cpu_isa_limit();

}  // namespace reddiff
