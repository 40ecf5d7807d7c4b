"""The Java binding (android_runtime/java, ai.wrx) on a desktop JVM: JUnit 5 from Debian's
junit5, the host-built libwrx_jni.so, the same package the C API tests use."""

from __future__ import annotations

import re
import shutil
import subprocess

JUNIT = "/usr/share/java/junit-platform-console-standalone.jar"


def test_junit5_suite(host_build, tiny_pkg, tmp_path):
    java = shutil.which("java")
    assert java, "java is missing: scripts/setup.sh installs openjdk-17-jdk-headless"
    jars = host_build / "java"
    assert (jars / "wrx.jar").is_file() and (jars / "wrx-tests.jar").is_file(), "the Java build did not run"
    bad = tmp_path / "bad"
    shutil.copytree(tiny_pkg, bad)
    with open(bad / "store.wrx", "r+b") as f:
        f.write(b"NOTASTOR")
    r = subprocess.run(
        [
            java,
            f"-Djava.library.path={host_build / 'bundle' / 'lib'}",
            f"-Dwrx.test.package={tiny_pkg}",
            f"-Dwrx.test.corrupt={bad}",
            "-jar",
            JUNIT,
            "-cp",
            f"{jars / 'wrx.jar'}:{jars / 'wrx-tests.jar'}",
            "--scan-classpath",
            str(jars / "wrx-tests.jar"),
            "--disable-banner",
            "--disable-ansi-colors",
            "--details=summary",
        ],
        capture_output=True,
        text=True,
    )
    found = re.search(r"(\d+) tests found", r.stdout)
    ok = re.search(r"(\d+) tests successful", r.stdout)
    failed = re.search(r"(\d+) tests failed", r.stdout)
    assert r.returncode == 0 and found and ok and failed, r.stdout[-4000:] + r.stderr[-2000:]
    assert int(found.group(1)) >= 6 and ok.group(1) == found.group(1) and failed.group(1) == "0", r.stdout
