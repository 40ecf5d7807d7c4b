#!/usr/bin/env bash
# Fuzz the device-side readers with libFuzzer (clang, ASan, clang's UBSan):
#   scripts/fuzz.sh [SECONDS] [HARNESS...]
# Harnesses (android_runtime/fuzz): json, plan, data, store, manifest, tokenizer; default all,
# SECONDS each (default 30). Each starts from its corpus, tests/fuzz/corpus/<harness>/, seeded
# from the golden files (tests/golden) on every run; what libFuzzer finds new is kept there
# under build/fuzz/corpus, not in git. A crash, a hang (-timeout=10) or a sanitizer report
# fails the run and leaves the input in build/fuzz/artifacts/<harness>/; make it a golden
# case (scripts/make_golden.py) before fixing it. The last line per harness is libFuzzer's
# "Done N runs" and the coverage it reached: the figures docs/RESULTS.md records.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_EACH="${1:-30}"
shift || true
HARNESSES=("$@")
[ ${#HARNESSES[@]} -eq 0 ] && HARNESSES=(json plan data store manifest tokenizer)
die() { echo "error: $1" >&2; [ -n "${2:-}" ] && echo "HINT: $2" >&2; exit 2; }
[[ "$SECONDS_EACH" =~ ^[0-9]+$ ]] || die "SECONDS must be a whole number, got '$SECONDS_EACH'" "scripts/fuzz.sh 60"
command -v clang++ >/dev/null || die "clang++ is not installed" "re-run scripts/setup.sh (it installs clang)"
CMAKE="$ROOT/.venv/bin/cmake"
[ -x "$CMAKE" ] || die ".venv with cmake is missing" "run scripts/setup.sh first"
BUILD=build/fuzz
"$CMAKE" -S android_runtime -B "$BUILD" -DWRX_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null ||
  die "cannot configure the fuzz build" "libFuzzer needs Debian's libclang-rt-dev: re-run scripts/setup.sh"
"$CMAKE" --build "$BUILD" -j "$(nproc)" >/dev/null || die "the fuzz build failed" "see: $CMAKE --build $BUILD"

GOLDEN="$ROOT/tests/golden"
seed() {  # harness -> the golden files it starts from
  case "$1" in
    json) ls "$GOLDEN"/pkg/*.json "$GOLDEN"/broken/*.json ;;
    plan) ls "$GOLDEN"/broken/plan_*.json ;;
    data) ls "$GOLDEN"/pkg/data/*.bin "$GOLDEN"/broken/data_*.bin ;;
    store) ls "$GOLDEN"/pkg/store.wrx "$GOLDEN"/broken/*.wrx ;;
    manifest) ls "$GOLDEN"/pkg/manifest.json "$GOLDEN"/broken/manifest_*.json ;;
    tokenizer) printf '%s\n' "$GOLDEN"/pkg/tokenizer.json ;;
  esac
}
status=0
for h in "${HARNESSES[@]}"; do
  [ -x "$BUILD/fuzz_$h" ] || die "no harness '$h'" "choose from: json plan data store manifest tokenizer"
  corpus="$BUILD/corpus/$h"
  art="$BUILD/artifacts/$h"
  mkdir -p "$corpus" "$art"
  seed "$h" | while read -r f; do cp -f "$f" "$corpus/"; done
  [ -d "tests/fuzz/corpus/$h" ] && cp -f tests/fuzz/corpus/"$h"/* "$corpus/" 2>/dev/null || true
  log="$BUILD/fuzz_$h.log"
  echo "==> fuzz_$h for ${SECONDS_EACH}s"
  if WRX_GOLDEN="$GOLDEN" ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$BUILD/fuzz_$h" "$corpus" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$art/" >"$log" 2>&1; then
    runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    echo "    ok: $runs, $cov ($(ls "$corpus" | wc -l) corpus files)"
  else
    status=1
    echo "    FAILED: see $log; the input is in $art/" >&2
    grep -m5 -E 'ERROR|runtime error|SUMMARY|Test unit written' "$log" >&2 || tail -20 "$log" >&2
  fi
done
exit $status
