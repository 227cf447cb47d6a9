// `reddiff --version` and the installed layout (issue 13). --version is checked against independent sources:
// git (run here) for the commit, /proc/cpuinfo for the CPU, the build's own configuration for the backends;
// cmake/version_info.cmake is run on a scratch git repository to show that the commit follows new commits and
// edits, and falls back to cmake/commit.txt (git archive) and to "unknown". `cmake --install` into a scratch
// prefix that is then moved elsewhere gives a reddiff that finds its bundled model from its own location
// (REDDIFF_MODEL unset) and restores a photo with it.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/backend.h"
#include "test_util.h"

namespace fs = std::filesystem;
using reddiff_test::run_command;
using reddiff_test::RunResult;

namespace {

std::string quote(const std::string& s) { return "'" + s + "'"; }

std::string read_file(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\n"), b = s.find_last_not_of(" \t\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// A fresh, empty scratch folder under the test data folder (canonical: reddiff resolves its own path).
fs::path scratch(const std::string& name) {
  const fs::path p = reddiff_test::testdata(name);
  fs::remove_all(p);
  fs::create_directories(p);
  return fs::canonical(p);
}

// Runs cmake/version_info.cmake on SRC and returns the commit it wrote.
std::string version_info_commit(const fs::path& src, const fs::path& out) {
  const RunResult r = run_command(std::string(REDDIFF_CMAKE_COMMAND) + " -DSRC=" + quote(src) + " -DOUT=" + quote(out) +
                                  " -P " + REDDIFF_SOURCE_DIR + "/cmake/version_info.cmake");
  REQUIRE(r.exit_code == 0);
  const std::string text = read_file(out);
  const size_t a = text.find("return \"");
  REQUIRE(a != std::string::npos);
  return text.substr(a + 8, text.find('"', a + 8) - a - 8);
}

}  // namespace

TEST_CASE("reddiff --version names the version, the commit, the backends, the CPU and CUDA") {
  const RunResult r = run_command(reddiff_test::binary("reddiff") + " --version");
  REQUIRE(r.exit_code == 0);
  const auto lines = lines_of(r.output);
  REQUIRE(lines.size() == 5);
  CHECK(lines[0] == std::string("reddiff ") + REDDIFF_PROJECT_VERSION);

  // The commit: git's own answer for the source tree (the build refreshes it; edits since only add -dirty).
  REQUIRE(lines[1].rfind("commit: ", 0) == 0);
  const RunResult head =
      run_command("git -c safe.directory='*' -C " + quote(REDDIFF_SOURCE_DIR) + " rev-parse --short=12 HEAD");
  if (head.exit_code == 0) {
    INFO("the source tree is at " << trim(head.output) << " (after a new commit, build again before testing)");
    CHECK(lines[1].find(trim(head.output)) != std::string::npos);
  } else {  // not a git checkout: the commit git archive wrote, or "unknown"
    CHECK(lines[1].size() >= 8 + 12);
  }

#ifdef REDDIFF_HAVE_CUDA
  CHECK(lines[2] == "backends: cpu, cuda");
#else
  CHECK(lines[2] == "backends: cpu");
#endif

  // The CPU as the kernel names it (/proc/cpuinfo "model name"), and a kernel set.
  std::string model;
  for (const auto& l : lines_of(read_file("/proc/cpuinfo")))
    if (l.rfind("model name", 0) == 0) {
      model = trim(l.substr(l.find(':') + 1));
      break;
    }
  REQUIRE(lines[3].rfind("cpu: ", 0) == 0);
  if (!model.empty()) CHECK(lines[3].find("cpu: " + model + ", kernels: ") == 0);
  CHECK(lines[3].size() > lines[3].find("kernels: ") + 9);

  REQUIRE(lines[4].rfind("cuda: ", 0) == 0);
#ifdef REDDIFF_HAVE_CUDA
  CHECK(lines[4].find("driver ") != std::string::npos);
  CHECK(lines[4].find(", runtime ") != std::string::npos);
  CHECK(lines[4].find(", cuDNN ") != std::string::npos);
  if (!reddiff::cuda_available())
    CHECK(lines[4].find("no usable CUDA device") != std::string::npos);
  else
    CHECK(lines[4].find("device 0 of ") != std::string::npos);
#else
  CHECK(lines[4].find("not built in") != std::string::npos);
#endif
}

// The CPU's flags, from /proc/cpuinfo (independent of oneDNN's and OpenBLAS's own detection).
std::string cpu_flags() {
  for (const auto& l : lines_of(read_file("/proc/cpuinfo")))
    if (l.rfind("flags", 0) == 0) return " " + trim(l.substr(l.find(':') + 1)) + " ";
  return "";
}

TEST_CASE("the CPU kernel set follows the CPU, and forced kernel sets the CPU lacks are refused in one line") {
  const std::string flags = cpu_flags();
  const auto has = [&](const char* f) { return flags.find(std::string(" ") + f + " ") != std::string::npos; };
  const std::string bin = reddiff_test::binary("reddiff");
  const auto kernels = [&](const std::string& env) {
    const RunResult r = run_command(env + " " + bin + " --version");
    REQUIRE(r.exit_code == 0);
    const std::string l = lines_of(r.output).at(3);
    return l.substr(l.find("kernels: ") + 9);
  };
  const auto refused = [&](const std::string& env, const std::string& cmd, const std::string& names) {
    const RunResult r = run_command(env + " " + bin + " " + cmd);
    INFO(env << " " << cmd << ": " << r.output);
    CHECK(r.exit_code == 2);
    CHECK(lines_of(r.output).size() == 1);
    CHECK(r.output.find(names) != std::string::npos);
  };
  // Where oneDNN has AVX-512 kernels (avx512_core: F, BW, VL, DQ) it runs the convolutions; forced paths.
  if (has("avx512f") && has("avx512bw") && has("avx512vl") && has("avx512dq"))
    CHECK(kernels("").rfind("oneDNN ", 0) == 0);
  CHECK(kernels("REDDIFF_CPU_CONV=onednn").rfind("oneDNN ", 0) == 0);
  CHECK(kernels("REDDIFF_CPU_CONV=blas").rfind("im2col + OpenBLAS ", 0) == 0);
  if (has("avx2") && has("fma")) {
    // Capped at AVX2, with OpenBLAS on an AVX2 core: OpenBLAS's GEMMs (the faster there), oneDNN at avx2.
    const std::string k = kernels("REDDIFF_CPU_ISA=avx2 OPENBLAS_CORETYPE=Haswell");
    CHECK(k.rfind("im2col + OpenBLAS ", 0) == 0);
    CHECK(k.find("(Haswell)") != std::string::npos);
    CHECK(k.find("(avx2)") != std::string::npos);
    // OpenBLAS on its generic SSE core (what it falls back to on CPUs it does not know): oneDNN instead.
    CHECK(kernels("REDDIFF_CPU_ISA=avx2 OPENBLAS_CORETYPE=Prescott") ==
          kernels("REDDIFF_CPU_CONV=onednn REDDIFF_CPU_ISA=avx2"));
  }
  refused("REDDIFF_CPU_CONV=cublas", "--version", "REDDIFF_CPU_CONV=cublas");
  refused("REDDIFF_CPU_ISA=avx1024", "--version", "REDDIFF_CPU_ISA=avx1024: unknown instruction set");
  if (!has("amx_tile")) {
    refused("REDDIFF_CPU_ISA=avx512_core_amx", "--version", "does not have it");
    // A restoration is refused before anything is written.
    const fs::path dir = scratch("cpu_isa_refused");
    const std::string out = (dir / "out.png").string();
    refused("REDDIFF_CPU_ISA=avx512_core_amx",
            "denoise --steps 1 --device cpu " + quote(std::string(REDDIFF_SOURCE_DIR) + "/examples/dandelion.png") +
                " " + quote(out),
            "REDDIFF_CPU_ISA=avx512_core_amx");
    CHECK(fs::is_empty(dir));
  }
}

TEST_CASE("cmake/version_info.cmake follows commits and edits, and falls back to git archive's commit, then unknown") {
  const fs::path dir = scratch("cli_install/version_repo");
  const fs::path out = dir.parent_path() / "version_info.cpp";
  const std::string git = "git -C " + quote(dir) + " -c user.name=t -c user.email=t@t -c commit.gpgsign=false ";
  auto rev = [&] {
    const RunResult r = run_command("git -C " + quote(dir) + " rev-parse --short=12 HEAD");
    REQUIRE(r.exit_code == 0);
    return trim(r.output);
  };
  REQUIRE(run_command("git init -q " + quote(dir)).exit_code == 0);
  std::ofstream(dir / "a.txt") << "one\n";
  REQUIRE(run_command(git + "add a.txt && " + git + "commit -q -m one").exit_code == 0);
  const std::string first = rev();
  CHECK(version_info_commit(dir, out) == first);

  // Unchanged: the generated file is not rewritten (so nothing recompiles).
  struct stat before, after;
  REQUIRE(stat(out.c_str(), &before) == 0);
  CHECK(version_info_commit(dir, out) == first);
  REQUIRE(stat(out.c_str(), &after) == 0);
  CHECK(before.st_mtim.tv_sec == after.st_mtim.tv_sec);
  CHECK(before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);

  std::ofstream(dir / "a.txt") << "two\n";
  CHECK(version_info_commit(dir, out) == first + "-dirty");
  REQUIRE(run_command(git + "commit -q -am two").exit_code == 0);
  const std::string second = rev();
  CHECK(second != first);
  CHECK(version_info_commit(dir, out) == second);

  // An exported tree: no .git. cmake/commit.txt as git archive leaves it (export-subst), then as in the repository.
  fs::remove_all(dir / ".git");
  fs::create_directories(dir / "cmake");
  std::ofstream(dir / "cmake/commit.txt") << "# the commit\n0123456789abcdef0123456789abcdef01234567\n";
  CHECK(version_info_commit(dir, out) == "0123456789ab");
  std::ofstream(dir / "cmake/commit.txt") << "# the commit\n$Format:%H$\n";
  CHECK(version_info_commit(dir, out) == "unknown");
}

TEST_CASE("cmake --install: a moved prefix's reddiff finds its bundled model and restores a photo") {
  const fs::path base = scratch("cli_install/prefix");
  const fs::path prefix = base / "installed";
  const RunResult inst = run_command(std::string(REDDIFF_CMAKE_COMMAND) + " --install " + quote(REDDIFF_BINARY_DIR) +
                                     " --prefix " + quote(prefix));
  INFO(inst.output);
  REQUIRE(inst.exit_code == 0);
  for (const char* f :
       {"bin/reddiff", "bin/reddiff-convert", "share/reddiff/models/reddiff-default.safetensors",
        "share/reddiff/examples/dandelion.png", "share/reddiff/examples/storm.png", "share/doc/reddiff/README.md",
        "share/doc/reddiff/copyright", "share/doc/reddiff/docs/usage.md"}) {
    INFO(f);
    CHECK(fs::is_regular_file(prefix / f));
  }
  CHECK(fs::file_size(prefix / "share/reddiff/models/reddiff-default.safetensors") ==
        fs::file_size(fs::path(REDDIFF_SOURCE_DIR) / "models/reddiff-default.safetensors"));

  // Move the whole prefix: nothing may point back at where it was installed, nor need REDDIFF_MODEL.
  const fs::path moved = base / "moved/elsewhere";
  fs::create_directories(moved.parent_path());
  fs::rename(prefix, moved);
  const fs::path photos = base / "photos";
  fs::create_directories(photos);
  fs::copy_file(moved / "share/reddiff/examples/storm.png", photos / "storm.png");
  const RunResult r =
      run_command("cd " + quote(base) + " && env -u REDDIFF_MODEL " + quote(moved / "bin/reddiff") +
                  " inpaint --mask box --steps 2 --device cpu --json report.json photos/storm.png out.png");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(fs::file_size(base / "out.png") > 1000);
  const auto report = nlohmann::json::parse(read_file(base / "report.json"));
  const fs::path used = report["model"]["path"].get<std::string>();
  CHECK(fs::canonical(used) == moved / "share/reddiff/models/reddiff-default.safetensors");

  // --model and $REDDIFF_MODEL still win over the bundled model.
  const std::string missing = (base / "no-such-model.safetensors").string();
  const RunResult env =
      run_command("cd " + quote(base) + " && REDDIFF_MODEL=" + quote(missing) + " " + quote(moved / "bin/reddiff") +
                  " inpaint --mask box --steps 2 photos/storm.png out2.png");
  CHECK(env.exit_code != 0);
  CHECK(env.output.find(missing) != std::string::npos);
  const RunResult opt =
      run_command("cd " + quote(base) + " && env -u REDDIFF_MODEL " + quote(moved / "bin/reddiff") +
                  " inpaint --model " + quote(missing) + " --mask box --steps 2 photos/storm.png out3.png");
  CHECK(opt.exit_code != 0);
  CHECK(opt.output.find(missing) != std::string::npos);
  CHECK_FALSE(fs::exists(base / "out2.png"));
  CHECK_FALSE(fs::exists(base / "out3.png"));
}
