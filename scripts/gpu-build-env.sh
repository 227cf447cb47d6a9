# Sourced by the GPU scripts after `scripts/gpu-check` has configured "$build" (build-gpu/): sets up the
# same environment gpu-check builds with (its dependency folder, cuDNN's directory, nvcc, pkg-config),
# so that `cmake --build "$build"` and the binaries it makes work in this shell.
cache_val() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt" | head -1; }
cudnn_lib=$(cache_val CUDNN_LIBRARY)
nvcc_bin=$(cache_val CMAKE_CUDA_COMPILER)
if [ -n "$nvcc_bin" ]; then PATH="$(dirname "$nvcc_bin"):$PATH"; export PATH; fi
[ -d "$build/deps/bin" ] && export PATH="$build/deps/bin:$PATH"
if [ -d "$build/deps" ]; then
  export PKG_CONFIG_PATH="$build/deps/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export CMAKE_PREFIX_PATH="$build/deps${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  export CPATH="$build/deps/include${CPATH:+:$CPATH}"
  export LIBRARY_PATH="$build/deps/lib:$build/deps/fallback${LIBRARY_PATH:+:$LIBRARY_PATH}"
  export LD_LIBRARY_PATH="$build/deps/lib:$build/deps/fallback${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
if [ -n "$cudnn_lib" ] && [ -e "$cudnn_lib" ]; then
  LD_LIBRARY_PATH="$(dirname "$cudnn_lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export LD_LIBRARY_PATH
fi
