#!/usr/bin/env bash
# build_test_adbd.sh [CACHE_DIR]
#
# Builds AOSP adbd ("host adbd": the daemon compiled for plain Linux, i.e.
# ADB_HOST=0 without __ANDROID__) from Debian bookworm's source package
# android-platform-tools (29.0.6-28), so tests can talk adb to 127.0.0.1.
#
# Result: CACHE_DIR/adbd   (default CACHE_DIR: ${WRX_CACHE:-$HOME/.cache/wrx}/adbd)
# Idempotent: if CACHE_DIR/adbd exists, CACHE_DIR/.stamp holds this script's
# sha256 and the binary runs (--version), it exits 0 at once.
#
# Local patches (test-only):
#   1. adbd_auth.cpp : if $ADB_KEYS_FILE is set, read authorized public keys from
#                      that file ONLY (otherwise /adb_keys, /data/misc/adb/adb_keys).
#   2. daemon/main.cpp: port from $ADBD_PORT, listen on tcp:localhost:PORT only
#                      (no 0.0.0.0, no vsock). Without ADBD_PORT: 127.0.0.1:5555.
#   3. transport_local.cpp: server_socket_thread only looks at errno when the
#                      listen call failed (a stale errno left by a *successful*
#                      loopback listen made it drop the fresh listener).
#   4. daemon/shell_service.cpp: shells keep $HOME / $TMPDIR from adbd's own
#                      environment (upstream forces HOME=pw_dir, TMPDIR=/data/local/tmp).
#
# Running it (as an unprivileged user; adbd runs shell commands as whoever
# starts it and does not confine file paths):
#   cd "$ROOT"    # adbd's cwd = cwd of every shell command; must be usable by that user
#   env -i PATH=/usr/bin:/bin HOME="$ROOT/home" TMPDIR="$ROOT/tmp" ADBD_PORT=$PORT \
#       ADB_KEYS_FILE="$ROOT/adb_keys" \
#       setpriv --reuid=65534 --regid=65534 --clear-groups -- CACHE_DIR/adbd 2>"$ROOT.log" &
#   ADBD_PID=$!      # setpriv execs, so this is adbd's PID  ->  kill "$ADBD_PID"
#   (start it as a separate statement: "a && b &" backgrounds a subshell, $! is then wrong)
set -Eeuo pipefail

SCRIPT_PATH="$(readlink -f "${BASH_SOURCE[0]}")"
CACHE_DIR="${1:-${WRX_CACHE:-$HOME/.cache/wrx}/adbd}"
SRC_PKG=android-platform-tools
BUILD_DEPS=(dpkg-dev clang make android-libbase-dev android-libcutils-dev
            android-liblog-dev android-libboringssl-dev libcap-dev)
LIBDIR=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)/android

STEP="init"
step() { STEP="$*"; echo "[build_test_adbd] ==> $*" >&2; }
die() { echo "[build_test_adbd] ERROR in step '$STEP': $*" >&2; exit 1; }
trap 'rc=$?; echo "[build_test_adbd] FAILED in step: $STEP (exit $rc, line $LINENO)" >&2' ERR

SCRIPT_HASH="$(sha256sum "$SCRIPT_PATH" | cut -d' ' -f1)"

# ---------------------------------------------------------------- cache check
step "check cache in $CACHE_DIR"
if [[ -x "$CACHE_DIR/adbd" && -f "$CACHE_DIR/.stamp" ]] \
   && [[ "$(cat "$CACHE_DIR/.stamp")" == "$SCRIPT_HASH" ]] \
   && "$CACHE_DIR/adbd" --version >/dev/null 2>&1; then
    echo "[build_test_adbd] cached adbd is up to date: $CACHE_DIR/adbd" >&2
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"
    elif command -v sudo >/dev/null; then sudo -E "$@"
    else die "need root (or sudo) to run: $*"; fi
}

# ------------------------------------------------------------- deb-src entry
step "ensure a deb-src entry for Debian $SRC_PKG"
codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
have_debsrc() {
    grep -Rqs -E '^[[:space:]]*(deb-src[[:space:]]|Types:.*deb-src)' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources
}
if ! have_debsrc; then
    # Reuse the mirror of the existing main "deb" entry when there is one.
    mirror="$(grep -hs -m1 -E '^URIs:.*debian/?[[:space:]]*$' /etc/apt/sources.list.d/*.sources \
              | awk '{print $2}' | head -n1 || true)"
    [[ -n "$mirror" ]] || mirror="http://deb.debian.org/debian"
    echo "[build_test_adbd]     adding /etc/apt/sources.list.d/wrx-debsrc.sources ($mirror $codename)" >&2
    printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$mirror" "$codename" | as_root tee /etc/apt/sources.list.d/wrx-debsrc.sources >/dev/null
    NEED_UPDATE=1
fi

# ---------------------------------------------------------------- build deps
step "install build dependencies: ${BUILD_DEPS[*]}"
missing=()
for p in "${BUILD_DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 || -n "${NEED_UPDATE:-}" ]]; then
    as_root apt-get update -qq || die "apt-get update failed"
fi
if [[ ${#missing[@]} -gt 0 ]]; then
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
fi
[[ -d "$LIBDIR" ]] || die "$LIBDIR missing (android-lib*-dev not installed?)"

# ------------------------------------------------------------- fetch source
mkdir -p "$(dirname "$CACHE_DIR")"
WORK="$(mktemp -d "$(dirname "$CACHE_DIR")/.adbd-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
step "fetch source package $SRC_PKG into $WORK"
fetch_src() { ( cd "$WORK" && apt-get source --download-only -qq "$SRC_PKG" >/dev/null 2>"$WORK/apt-source.log" ); }
if ! fetch_src; then
    echo "[build_test_adbd]     apt-get source failed; running apt-get update and retrying" >&2
    as_root apt-get update -qq || die "apt-get update failed"
    fetch_src || { cat "$WORK/apt-source.log" >&2; die "apt-get source $SRC_PKG failed (deb-src entry? network?)"; }
fi
dsc="$(ls "$WORK"/${SRC_PKG}_*.dsc | head -n1)"
echo "[build_test_adbd]     $(basename "$dsc")" >&2
step "unpack source (dpkg-source -x, applies Debian patches)"
dpkg-source -x "$dsc" "$WORK/src" >"$WORK/dpkg-source.log" 2>&1 \
    || { cat "$WORK/dpkg-source.log" >&2; die "dpkg-source -x failed"; }
S="$WORK/src"
A="$S/system/core/adb"

# ------------------------------------------------------------------- patches
# perl is Essential in Debian; each patch checks that it applied (or was
# already applied) and fails loudly otherwise.
step "patch 1: ADB_KEYS_FILE (frameworks/native/libs/adbd_auth/adbd_auth.cpp)"
f="$S/frameworks/native/libs/adbd_auth/adbd_auth.cpp"
if ! grep -q 'ADB_KEYS_FILE' "$f"; then
    perl -0pi -e '
      s#static constexpr const char\* key_paths\[\] = \{"/adb_keys", "/data/misc/adb/adb_keys"\};\n(\s*)void IteratePublicKeys\(bool \(\*callback\)\(const char\*, size_t, void\*\), void\* arg\) \{\n(\s*)for \(const auto& path : key_paths\) \{\n(\s*)if \(access\(path, R_OK\) == 0\) \{#void IteratePublicKeys(bool (*callback)(const char*, size_t, void*), void* arg) {\n$2// wrx test patch: \$ADB_KEYS_FILE (if set) is the only key file.\n$2std::vector<std::string> key_paths;\n$2if (const char* env_keys = getenv("ADB_KEYS_FILE"); env_keys && *env_keys) {\n$2    key_paths.emplace_back(env_keys);\n$2} else {\n$2    key_paths.emplace_back("/adb_keys");\n$2    key_paths.emplace_back("/data/misc/adb/adb_keys");\n$2}\n$2for (const auto& path : key_paths) {\n$3if (access(path.c_str(), R_OK) == 0) {#' "$f"
    grep -q 'getenv("ADB_KEYS_FILE")' "$f" || die "could not apply ADB_KEYS_FILE patch to $f"
fi

step "patch 2: ADBD_PORT -> tcp:localhost:PORT only (system/core/adb/daemon/main.cpp)"
f="$A/daemon/main.cpp"
if ! grep -q 'wrx test patch' "$f"; then
    perl -0pi -e '
      s#addrs\.push_back\(android::base::StringPrintf\("tcp:%d", port\)\);\n\s*addrs\.push_back\(android::base::StringPrintf\("vsock:%d", port\)\);#// wrx test patch: loopback only, no vsock.\n            addrs.push_back(android::base::StringPrintf("tcp:localhost:%d", port));#g;
      s#addrs\.push_back\(\n\s*android::base::StringPrintf\("tcp:%d", DEFAULT_ADB_LOCAL_TRANSPORT_PORT\)\);\n\s*addrs\.push_back\(\n\s*android::base::StringPrintf\("vsock:%d", DEFAULT_ADB_LOCAL_TRANSPORT_PORT\)\);#addrs.push_back(android::base::StringPrintf("tcp:localhost:%d", DEFAULT_ADB_LOCAL_TRANSPORT_PORT));#g;
    ' "$f"
    [[ $(grep -c 'tcp:localhost:%d' "$f") -eq 2 ]] || die "could not apply listen-address patch to $f"
    grep -q 'getenv("ADBD_PORT")' "$f" || die "$f does not read ADBD_PORT (unexpected source version)"
fi
grep -q '"vsock:%d"' "$f" && die "vsock listener still present in $f"

step "patch 3: stale errno in server_socket_thread (system/core/adb/transport_local.cpp)"
f="$A/transport_local.cpp"
if ! grep -q 'if (serverfd < 0 && (errno == EAFNOSUPPORT' "$f"; then
    perl -0pi -e '
      s#(\n(\s*)errno = 0;\n\s*serverfd = listen_func\(addr, &error\);\n\s*)if \(errno == EAFNOSUPPORT \|\| errno == EINVAL \|\| errno == EPROTONOSUPPORT\) \{#$1if (serverfd < 0 && (errno == EAFNOSUPPORT || errno == EINVAL || errno == EPROTONOSUPPORT)) {#' "$f"
    grep -q 'if (serverfd < 0 && (errno == EAFNOSUPPORT' "$f" || die "could not apply errno patch to $f"
fi

step "patch 4: keep HOME/TMPDIR from adbd's environment (system/core/adb/daemon/shell_service.cpp)"
f="$A/daemon/shell_service.cpp"
if ! grep -q 'env.emplace("HOME"' "$f"; then
    perl -pi -e 's#env\["HOME"\] = pw->pw_dir;#env.emplace("HOME", pw->pw_dir);  // wrx test patch: keep \$HOME if set#;
                 s#env\["TMPDIR"\] = "/data/local/tmp";#env.emplace("TMPDIR", "/data/local/tmp");  // wrx test patch: keep \$TMPDIR if set#;' "$f"
    grep -q 'env.emplace("HOME", pw->pw_dir)' "$f" && grep -q 'env.emplace("TMPDIR"' "$f" \
        || die "could not apply HOME/TMPDIR patch to $f"
fi

# --------------------------------------------------------------------- build
step "compile adbd (make -j$(nproc))"
cat >"$WORK/Makefile" <<EOF
S := $S
A := \$(S)/system/core/adb
ADB_SRCS := adb.cpp adb_io.cpp adb_listeners.cpp adb_trace.cpp adb_unique_fd.cpp adb_utils.cpp \\
  fdevent/fdevent.cpp fdevent/fdevent_poll.cpp fdevent/fdevent_epoll.cpp services.cpp sockets.cpp \\
  socket_spec.cpp sysdeps/errno.cpp transport.cpp transport_fd.cpp transport_local.cpp \\
  transport_usb.cpp types.cpp sysdeps_unix.cpp sysdeps/posix/network.cpp \\
  daemon/auth.cpp daemon/jdwp_service.cpp daemon/usb_dummy.cpp daemon/file_sync_service.cpp \\
  daemon/services.cpp daemon/shell_service.cpp daemon/main.cpp shell_service_protocol.cpp \\
  adbconnection/adbconnection_server.cpp
CXX_SRCS := \$(addprefix \$(A)/,\$(ADB_SRCS)) \\
  \$(S)/system/core/diagnose_usb/diagnose_usb.cpp \\
  \$(S)/frameworks/native/libs/adbd_auth/adbd_auth.cpp \\
  \$(S)/system/core/libasyncio/AsyncIO.cpp
C_SRCS := \$(S)/system/core/libcrypto_utils/android_pubkey.c
OBJS := \$(patsubst \$(S)/%,obj/%.o,\$(CXX_SRCS) \$(C_SRCS))

CPPFLAGS := -D_GNU_SOURCE -DADB_HOST=0 -DALLOW_ADBD_ROOT=1 \\
  -DANDROID_BASE_UNIQUE_FD_DISABLE_IMPLICIT_CONVERSION=1 \\
  '-DPLATFORM_TOOLS_VERSION="29.0.6"' '-DADB_VERSION="29.0.6-debian-wrx"' \\
  -I/usr/include/android -I\$(A) -I\$(A)/daemon/include -I\$(A)/adbconnection/include \\
  -I\$(S)/system/core/base/include -I\$(S)/system/core/diagnose_usb/include \\
  -I\$(S)/system/core/include -I\$(S)/system/core/libcrypto_utils/include \\
  -I\$(S)/system/core/libcutils/include -I\$(S)/system/core/libasyncio/include \\
  -I\$(S)/frameworks/native/libs/adbd_auth/include
CXXFLAGS := -O2 -g0 -w -std=gnu++2a -include atomic -include optional
CFLAGS := -O2 -g0 -w
LDFLAGS := -L$LIBDIR -Wl,-rpath=$LIBDIR
LDLIBS := -lbase -lcutils -llog -lcrypto -lresolv -lutil -lpthread -lcap

adbd: \$(OBJS)
	clang++ -o \$@ \$^ \$(LDFLAGS) \$(LDLIBS)
obj/%.cpp.o: \$(S)/%.cpp
	@mkdir -p \$(dir \$@)
	clang++ -c -o \$@ \$< \$(CPPFLAGS) \$(CXXFLAGS)
obj/%.c.o: \$(S)/%.c
	@mkdir -p \$(dir \$@)
	clang -c -o \$@ \$< \$(CPPFLAGS) \$(CFLAGS)
EOF
t0=$SECONDS
make -C "$WORK" -j"$(nproc)" adbd >"$WORK/build.log" 2>&1 \
    || { tail -n 60 "$WORK/build.log" >&2; die "compilation failed (log above)"; }
echo "[build_test_adbd]     compiled in $((SECONDS - t0))s" >&2

step "smoke test built binary"
"$WORK/adbd" --version >/dev/null 2>&1 || die "built adbd does not run (--version)"

# ------------------------------------------------------------------- install
step "install atomically into $CACHE_DIR"
STAGE="$WORK/out"
mkdir -p "$STAGE"
cp "$WORK/adbd" "$STAGE/adbd"
strip "$STAGE/adbd" 2>/dev/null || true
echo "$SCRIPT_HASH" >"$STAGE/.stamp"
if [[ -e "$CACHE_DIR" ]]; then
    OLD="$(mktemp -d "$(dirname "$CACHE_DIR")/.adbd-old.XXXXXX")"
    mv -T "$CACHE_DIR" "$OLD/x"
    mv -T "$STAGE" "$CACHE_DIR"
    rm -rf "$OLD"
else
    mv -T "$STAGE" "$CACHE_DIR"
fi
step "done"
echo "[build_test_adbd] built $CACHE_DIR/adbd ($("$CACHE_DIR/adbd" --version | head -n1))" >&2
