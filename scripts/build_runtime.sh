#!/usr/bin/env bash
# Build the wrx-loader deploy bundle for a target: build/<target>/bundle/{wrx-loader, lib/*.so}.
#   scripts/build_runtime.sh [--target host|aarch64-linux|android-arm64] [--sanitize|--tsan] [--clean]
# host:          links the ExecuTorch runtime of the executorch wheel in .venv.
# aarch64-linux: cross-compiles with Debian's g++-aarch64-linux-gnu against the aarch64
#                executorch 1.5.1 wheel, fetched once with pip download into the cache; the
#                bundle is self-contained (its own dynamic loader, libc and libstdc++, a
#                launcher per tool), so it also runs on an Android phone over adb.
# android-arm64: needs ANDROID_NDK and EXECUTORCH_ANDROID_PREFIX (untested here; see README).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET=host
SANITIZE=OFF
TSAN=OFF
CLEAN=0
ET_VERSION=1.5.1
while [ $# -gt 0 ]; do
  case "$1" in
    --target) TARGET="$2"; shift 2 ;;
    --sanitize) SANITIZE=ON; shift ;;
    --tsan) TSAN=ON; shift ;;
    --clean) CLEAN=1; shift ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "error: unknown argument $1" >&2; echo "HINT: $0 --help" >&2; exit 2 ;;
  esac
done
die() { echo "error: $1" >&2; [ -n "${2:-}" ] && echo "HINT: $2" >&2; exit 2; }
PY="$ROOT/.venv/bin/python"
CMAKE="$ROOT/.venv/bin/cmake"
[ -x "$PY" ] && [ -x "$CMAKE" ] || die ".venv with cmake is missing" "run scripts/setup.sh first"
CACHE="${WRX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wrx}"
EXTRA=()
case "$TARGET" in
  host)
    ET_DIR="$("$PY" -c 'import executorch; print(list(executorch.__path__)[0])')"
    BUILD="build/host"
    if [ "$SANITIZE" = ON ]; then
      # ASan with clang's UBSan (float-cast-overflow and the integer checks GCC lacks).
      command -v clang++ >/dev/null || die "clang++ is not installed (the sanitizer build needs clang's UBSan)" \
        "run scripts/setup.sh (it installs clang)"
      export CC=clang CXX=clang++
      BUILD="build/host-asan"
      # A build directory configured with GCC keeps GCC (CMake caches the compiler).
      if [ -f "$BUILD/CMakeCache.txt" ] && ! grep -q '^CMAKE_CXX_COMPILER:.*clang' "$BUILD/CMakeCache.txt"; then
        rm -rf "$BUILD"
      fi
    fi
    [ "$TSAN" = ON ] && BUILD="build/host-tsan"
    ;;
  aarch64-linux)
    command -v aarch64-linux-gnu-g++ >/dev/null ||
      die "aarch64-linux-gnu-g++ is not installed" "apt-get install g++-aarch64-linux-gnu (scripts/setup.sh --arm does it)"
    ET_ROOT="$CACHE/executorch-$ET_VERSION-aarch64"
    if [ ! -f "$ET_ROOT/executorch/share/cmake/executorch-config.cmake" ]; then
      echo "==> fetching the aarch64 executorch $ET_VERSION wheel into $CACHE/wheels"
      "$PY" -m pip download --disable-pip-version-check -q --no-deps --only-binary=:all: \
        --platform manylinux_2_28_aarch64 --python-version 3.11 "executorch==$ET_VERSION" -d "$CACHE/wheels" \
        2> >(grep -v "is ignored: it is neither" >&2) ||
        die "cannot download the aarch64 executorch wheel" "check that PyPI is reachable, then re-run"
      rm -rf "$ET_ROOT.tmp" && mkdir -p "$ET_ROOT.tmp"
      "$PY" - "$CACHE/wheels/executorch-$ET_VERSION-cp311-cp311-manylinux_2_28_aarch64.whl" "$ET_ROOT.tmp" <<'PYEOF'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
z.extractall(sys.argv[2], [n for n in z.namelist() if n.startswith(("executorch/lib/", "executorch/include/", "executorch/share/"))])
PYEOF
      rm -rf "$ET_ROOT" && mv "$ET_ROOT.tmp" "$ET_ROOT"
    fi
    ET_DIR="$ET_ROOT/executorch"
    BUILD="build/aarch64-linux"
    EXTRA=(-DCMAKE_TOOLCHAIN_FILE="$ROOT/android_runtime/toolchains/aarch64-linux-gnu.cmake" -DWRX_SELF_CONTAINED=ON)
    ;;
  android-arm64)
    [ -n "${ANDROID_NDK:-}" ] && [ -d "${ANDROID_NDK:-}" ] ||
      die "ANDROID_NDK is not set to an Android NDK directory" \
          "install the NDK (r26+) and export ANDROID_NDK=/path/to/ndk; this path is untested on the WRX machines"
    [ -n "${EXECUTORCH_ANDROID_PREFIX:-}" ] && [ -d "${EXECUTORCH_ANDROID_PREFIX:-}" ] ||
      die "EXECUTORCH_ANDROID_PREFIX is not set to an ExecuTorch $ET_VERSION install built for Android arm64" \
          "build ExecuTorch for Android (see README, 'Android arm64') and export EXECUTORCH_ANDROID_PREFIX=/path/to/install"
    ET_DIR="$EXECUTORCH_ANDROID_PREFIX"
    BUILD="build/android-arm64"
    EXTRA=(-DCMAKE_TOOLCHAIN_FILE="$ROOT/android_runtime/toolchains/android-arm64.cmake")
    ;;
  *)
    die "unknown target '$TARGET'" "use --target host, aarch64-linux or android-arm64"
    ;;
esac
[ "$CLEAN" = 1 ] && rm -rf "$BUILD"
mkdir -p build
BUILD_TYPE=Release
[ "$SANITIZE" = ON ] || [ "$TSAN" = ON ] && BUILD_TYPE=RelWithDebInfo
PREFIX="$ET_DIR/share/cmake"
[ -d "$PREFIX" ] || PREFIX="$ET_DIR"
"$CMAKE" -S android_runtime -B "$BUILD" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DCMAKE_PREFIX_PATH="$PREFIX" \
  -DWRX_SANITIZE="$SANITIZE" -DWRX_SANITIZE_THREAD="$TSAN" "${EXTRA[@]}" > "$BUILD.configure.log" 2>&1 || {
  cat "$BUILD.configure.log" >&2
  die "cmake configure failed (log: $BUILD.configure.log)"
}
"$CMAKE" --build "$BUILD" -j "$(nproc)"
if [ "$TARGET" = aarch64-linux ]; then
  # Self-contained: launchers, the bundled dynamic loader, libc and libstdc++ (README, "Phones").
  "$PY" scripts/self_contained_bundle.py "$BUILD/bundle" /usr/aarch64-linux-gnu/lib ||
    die "could not make the aarch64 bundle self-contained" "see the message above"
fi
echo "bundle: $ROOT/$BUILD/bundle ($(du -sh "$BUILD/bundle" | cut -f1))"
