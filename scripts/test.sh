#!/usr/bin/env bash
# The test command: lint, a fuzz smoke run, then the whole pytest suite (tiny models for plumbing, the real
# fine-tuned MiniLM for accuracy and parity; the fine-tune is cached under $WRX_CACHE).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ ! -x .venv/bin/python ]; then
  echo "error: .venv is missing" >&2
  echo "HINT: run scripts/setup.sh first" >&2
  exit 2
fi
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
echo "==> ruff"
.venv/bin/ruff check wrx_sdk tests scripts
.venv/bin/ruff format --check wrx_sdk tests scripts
echo "==> clang-format (.clang-format)"
git ls-files 'android_runtime/*.cpp' 'android_runtime/*.h' 'android_runtime/*.c' | xargs clang-format --dry-run -Werror
echo "==> import layering (lint-imports; contracts in pyproject.toml)"
.venv/bin/lint-imports --no-cache
echo "==> fuzz smoke (scripts/fuzz.sh: every harness builds and runs clean for a few seconds)"
scripts/fuzz.sh "${WRX_FUZZ_SMOKE_SECONDS:-5}"
echo "==> pytest"
exec .venv/bin/python -m pytest -q --durations=10 "$@"
