// Small helpers shared by the Catch2 tests: reference-data paths, error norms, random inputs, a CPU
// backend for operators built on the host, and running the built executables.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/backend.h"

namespace reddiff_test {

// One CPU backend for the whole test program (operators take the backend their memory comes from; this one
// outlives them all). It leaves the OpenMP thread count alone.
inline reddiff::Backend& cpu_backend() {
  static const std::unique_ptr<reddiff::Backend> b = reddiff::make_cpu_backend(0);
  return *b;
}

inline std::string testdata(const std::string& rel) {
  const char* env = std::getenv("REDDIFF_TESTDATA");
  return std::string(env && *env ? env : REDDIFF_TESTDATA) + "/" + rel;
}

inline double rel_l2(const float* a, const float* ref, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    double d = double(a[i]) - double(ref[i]);
    num += d * d;
    den += double(ref[i]) * ref[i];
  }
  return std::sqrt(num / (den > 0 ? den : 1));
}

inline std::vector<float> random_normal(size_t n, uint64_t seed, float std = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, std);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

struct RunResult {
  int exit_code;
  std::string output;  // stdout and stderr together
};

// Runs a shell command line, capturing its output; the exit code is the process's.
inline RunResult run_command(const std::string& cmd) {
  RunResult r{-1, ""};
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int st = pclose(p);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

inline std::string binary(const std::string& name) { return std::string(REDDIFF_BINARY_DIR) + "/" + name; }

// Sets an environment variable for a scope (e.g. REDDIFF_CONV_DIRECT=1 for one test) and unsets it after.
struct ScopedEnv {
  std::string name;
  ScopedEnv(const std::string& n, const std::string& value) : name(n) { setenv(n.c_str(), value.c_str(), 1); }
  ~ScopedEnv() { unsetenv(name.c_str()); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
};

}  // namespace reddiff_test
