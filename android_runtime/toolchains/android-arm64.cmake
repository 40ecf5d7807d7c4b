# Build wrx-loader for Android arm64-v8a with the Android NDK. UNTESTED on the WRX
# development machines, which cannot download the NDK.
#
# Needs: ANDROID_NDK (the NDK root) and EXECUTORCH_ANDROID_PREFIX, an ExecuTorch 1.5.1
# install prefix built for Android arm64 (ExecuTorch's own Android build with
# -DEXECUTORCH_BUILD_XNNPACK=ON -DEXECUTORCH_BUILD_EXTENSION_DATA_LOADER=ON, then
# cmake --install), containing lib/cmake or share/cmake with executorch-config.cmake.
# scripts/build_runtime.sh --target android-arm64 checks both and passes them on.
if(NOT DEFINED ENV{ANDROID_NDK})
  message(FATAL_ERROR "set ANDROID_NDK to the Android NDK root (r26 or newer)")
endif()
set(ANDROID_ABI arm64-v8a)
set(ANDROID_PLATFORM android-29 CACHE STRING "minimum Android API level")
set(ANDROID_STL c++_shared)
include($ENV{ANDROID_NDK}/build/cmake/android.toolchain.cmake)
set(WRX_TARGET "android-arm64" CACHE STRING "target label for reports")
