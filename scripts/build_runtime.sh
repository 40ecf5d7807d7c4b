#!/usr/bin/env bash
# Build the wrx-loader deploy bundle: build/<target>/bundle/{wrx-loader, lib/*.so}.
#   scripts/build_runtime.sh [--target host] [--sanitize] [--clean]
# The loader links the ExecuTorch C++ runtime shipped in the executorch wheel of .venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET=host
SANITIZE=OFF
CLEAN=0
while [ $# -gt 0 ]; do
  case "$1" in
    --target) TARGET="$2"; shift 2 ;;
    --sanitize) SANITIZE=ON; shift ;;
    --clean) CLEAN=1; shift ;;
    -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
    *) echo "error: unknown argument $1" >&2; echo "HINT: $0 --help" >&2; exit 2 ;;
  esac
done
PY="$ROOT/.venv/bin/python"
CMAKE="$ROOT/.venv/bin/cmake"
if [ ! -x "$PY" ] || [ ! -x "$CMAKE" ]; then
  echo "error: .venv with cmake is missing" >&2
  echo "HINT: run scripts/setup.sh first" >&2
  exit 2
fi
case "$TARGET" in
  host)
    ET_DIR="$("$PY" -c 'import executorch; print(list(executorch.__path__)[0])')"
    BUILD="build/host"
    [ "$SANITIZE" = ON ] && BUILD="build/host-asan"
    ;;
  *)
    echo "error: unknown target '$TARGET' (this build knows: host)" >&2
    exit 2
    ;;
esac
[ "$CLEAN" = 1 ] && rm -rf "$BUILD"
mkdir -p build
BUILD_TYPE=Release
[ "$SANITIZE" = ON ] && BUILD_TYPE=RelWithDebInfo
"$CMAKE" -S android_runtime -B "$BUILD" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" \
  -DCMAKE_PREFIX_PATH="$ET_DIR/share/cmake" -DWRX_SANITIZE="$SANITIZE" > "$BUILD.configure.log" 2>&1 || {
  cat "$BUILD.configure.log" >&2
  echo "error: cmake configure failed (log: $BUILD.configure.log)" >&2
  exit 1
}
"$CMAKE" --build "$BUILD" -j "$(nproc)"
echo "bundle: $ROOT/$BUILD/bundle ($(du -sh "$BUILD/bundle" | cut -f1))"
