// The project's error type: every user-facing failure is one line naming the problem.
// Tools catch reddiff::Error at the top, print "reddiff: <message>" and exit with its code.
#pragma once
#include <stdexcept>
#include <string>

namespace reddiff {

// Exit codes: 1 = runtime failure, 2 = bad input (file, option, model mismatch).
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg, int exit_code = 2) : std::runtime_error(msg), code_(exit_code) {}
  int exit_code() const { return code_; }

 private:
  int code_;
};

// An output that could not be written (disk full, read-only file system, I/O error): exit status 1. A batch
// stops at the first one rather than failing every remaining image the same way; the outputs already
// written stay whole (they are written to a temporary name and renamed into place).
class WriteError : public Error {
 public:
  explicit WriteError(const std::string& msg) : Error(msg, 1) {}
};

}  // namespace reddiff
