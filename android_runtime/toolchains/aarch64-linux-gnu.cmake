# Cross-compile wrx-loader for aarch64 Linux boards with Debian's g++-aarch64-linux-gnu,
# against the ExecuTorch libraries of the aarch64 executorch wheel (unpacked by
# scripts/build_runtime.sh --target aarch64-linux; pass its share/cmake as CMAKE_PREFIX_PATH).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(WRX_TARGET "aarch64-linux" CACHE STRING "target label for reports")
