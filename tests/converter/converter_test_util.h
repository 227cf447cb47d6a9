// Helpers for the converter tests: the generated checkpoints, running the built tools, comparing model files.
#pragma once
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/safetensors.h"

namespace convtest {

// Written by tests/python/gen_checkpoints.py (ctest fixture converter_ckpts).
inline std::string ckpt(const std::string& name) { return std::string(REDDIFF_TESTDATA) + "/converter_ckpts/" + name; }

inline std::string out_dir() {
  std::string d = std::string(REDDIFF_TESTDATA) + "/converter_out";
  ::mkdir(d.c_str(), 0755);
  return d;
}
inline std::string out_path(const std::string& name) { return out_dir() + "/" + name; }

inline bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

inline std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

struct Run {
  int code = -1;
  std::string out, err;
  long maxrss_kb = 0;
};

// Runs a program (no shell) with stdout/stderr captured; returns its exit code and peak RSS.
inline Run run(const std::vector<std::string>& args) {
  std::string so = out_path("stdout.txt"), se = out_path("stderr.txt");
  pid_t pid = fork();
  if (pid == 0) {
    int o = ::open(so.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644),
        e = ::open(se.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    std::vector<char*> av;
    for (const auto& a : args) av.push_back(const_cast<char*>(a.c_str()));
    av.push_back(nullptr);
    execv(av[0], av.data());
    _exit(127);
  }
  int status = 0;
  struct rusage ru;
  std::memset(&ru, 0, sizeof ru);
  wait4(pid, &status, 0, &ru);
  Run r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(so);
  r.err = slurp(se);
  r.maxrss_kb = ru.ru_maxrss;
  return r;
}

inline std::string convert_bin() { return REDDIFF_CONVERT_BIN; }
inline std::string reddiff_bin() { return REDDIFF_MAIN_BIN; }

// Files in the output directory whose names start with `prefix` (leftover temporaries).
inline std::vector<std::string> files_starting_with(const std::string& prefix) {
  std::vector<std::string> r;
  DIR* d = opendir(out_dir().c_str());
  if (!d) return r;
  while (dirent* e = readdir(d))
    if (std::strncmp(e->d_name, prefix.c_str(), prefix.size()) == 0) r.push_back(e->d_name);
  closedir(d);
  return r;
}

// Same tensor names, dtypes, shapes and bytes.
inline void require_same_tensors(const std::string& got_path, const std::string& expected_path) {
  auto got = reddiff::SafeTensorsFile::open(got_path);
  auto exp = reddiff::SafeTensorsFile::open(expected_path);
  INFO(got_path << " vs " << expected_path);
  REQUIRE(got->tensors().size() == exp->tensors().size());
  for (const auto& e : exp->tensors()) {
    INFO("tensor " << e.name);
    const reddiff::SafeTensorInfo* g = got->find(e.name);
    REQUIRE(g != nullptr);
    REQUIRE(g->dtype == e.dtype);
    REQUIRE(g->shape == e.shape);
    REQUIRE(g->nbytes == e.nbytes);
    REQUIRE(std::memcmp(got->data(*g), exp->data(e), e.nbytes) == 0);
  }
}

}  // namespace convtest
