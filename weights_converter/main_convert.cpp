// reddiff-convert: the standalone converter (the same code as `reddiff convert`).
#include <cstdio>
#include <exception>
#include <new>

#include "base/error.h"
#include "weights_converter/cli.h"

int main(int argc, char** argv) {
  static char prog[] = "reddiff-convert";
  if (argc > 0) argv[0] = prog;
  try {
    return reddiff::convert_main(argc, argv);
  } catch (const reddiff::Error& e) {
    std::fprintf(stderr, "reddiff-convert: %s\n", e.what());
    return e.exit_code();
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "reddiff-convert: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "reddiff-convert: %s\n", e.what());
    return 1;
  }
}
