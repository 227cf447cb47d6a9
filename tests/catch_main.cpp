// Shared Catch2 main for every test area (GPU areas use their own main in tests/cuda).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
