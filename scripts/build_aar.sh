#!/usr/bin/env bash
# Package the Java binding as an Android library: build/wrx.aar with classes.jar (ai.wrx),
# jni/arm64-v8a/{libwrx_jni,libwrx,libexecutorch*,libc++_shared}.so and the R8 keep rules.
#   scripts/build_aar.sh
# Needs the android-arm64 build (scripts/build_runtime.sh --target android-arm64, which needs
# ANDROID_NDK and EXECUTORCH_ANDROID_PREFIX) and the host build for the jar. UNTESTED on the
# WRX development machines, which have neither the NDK nor the Android SDK (README, "Android").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
die() { echo "error: $1" >&2; [ -n "${2:-}" ] && echo "HINT: $2" >&2; exit 2; }
LIBS=build/android-arm64/bundle/lib
JAR=build/host/java/wrx.jar
[ -f "$LIBS/libwrx_jni.so" ] || die "$LIBS/libwrx_jni.so is missing" "scripts/build_runtime.sh --target android-arm64"
[ -f "$JAR" ] || die "$JAR is missing" "scripts/build_runtime.sh --target host"
[ -n "${ANDROID_NDK:-}" ] || die "ANDROID_NDK is not set (libc++_shared.so comes from it)" "export ANDROID_NDK=/path/to/ndk"
CXX_SHARED="$(find "$ANDROID_NDK" -path '*aarch64-linux-android/libc++_shared.so' | head -n1)"
[ -n "$CXX_SHARED" ] || die "libc++_shared.so for aarch64 not found under $ANDROID_NDK"
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/jni/arm64-v8a"
cp "$JAR" "$STAGE/classes.jar"
cp "$LIBS"/*.so "$CXX_SHARED" "$STAGE/jni/arm64-v8a/"
cp android_runtime/java/proguard-rules.pro "$STAGE/proguard.txt"
cat > "$STAGE/AndroidManifest.xml" <<'XML'
<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="ai.wrx">
  <uses-sdk android:minSdkVersion="29" />
</manifest>
XML
touch "$STAGE/R.txt"
(cd "$STAGE" && python3 -c 'import shutil; shutil.make_archive("wrx", "zip", ".")' && mv wrx.zip "$ROOT/build/wrx.aar.tmp")
mv build/wrx.aar.tmp build/wrx.aar
echo "build/wrx.aar ($(du -h build/wrx.aar | cut -f1)); untested on a device here"
