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

}  // namespace reddiff
