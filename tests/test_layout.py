"""The layout's promises (docs/ARCHITECTURE.md): one home per contract, no standard-library
names, every runtime import declared. The layering itself is checked by ``lint-imports``
(scripts/test.sh, contracts in pyproject.toml)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import tomllib

from wrx_sdk.formats.plan import KB_RANGE, LANES_RANGE, Knobs

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "wrx_sdk"


def test_no_module_shadows_a_standard_library_name():
    clashes = sorted(
        str(p.relative_to(ROOT))
        for p in PKG.rglob("*.py")
        if p.stem != "__init__" and p.stem in sys.stdlib_module_names
    )
    clashes += sorted(
        str(p.relative_to(ROOT)) for p in PKG.rglob("*") if p.is_dir() and p.name in sys.stdlib_module_names
    )
    assert clashes == []


def _third_party_imports() -> set[str]:
    names: set[str] = set()
    for p in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "wrx_sdk"}


def _requirement_name(req: str) -> str:
    for sep in "[=<>!~ ;":
        req = req.split(sep)[0]
    return req.lower().replace("_", "-")


def test_every_runtime_import_is_declared_in_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_requirement_name(r) for r in project["dependencies"]}
    for extra in ("usb", "ray"):  # imported only where their feature is used
        declared |= {_requirement_name(r) for r in project["optional-dependencies"][extra]}
    declared.add("libusb1")  # adb-shell[usb] brings it
    # usb1 is imported only with the usb extra, so it may not be installed here
    dist_of = {"usb1": ["libusb1"], **packages_distributions()}
    missing = {}
    for mod in sorted(_third_party_imports()):
        dists = {d.lower().replace("_", "-") for d in dist_of.get(mod, [mod])}
        if not dists & declared:
            missing[mod] = sorted(dists)
    assert missing == {}


def test_py_typed_is_shipped_when_declared():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for name in data.get("wrx_sdk", []):
        assert (PKG / name).is_file(), name


def test_loader_knob_defaults_equal_the_python_ones(host_build):
    out = subprocess.run(
        [str(host_build / "bundle" / "wrx-loader"), "--print-defaults"],
        capture_output=True,
        text=True,
        check=True,
    )
    cpp = json.loads(out.stdout)
    want = Knobs().to_json() | {"kb_range": list(KB_RANGE), "lanes_range": list(LANES_RANGE)}
    assert cpp == want


def test_readme_links_only_to_files_in_the_repository():
    import re

    text = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    targets += re.findall(r"`((?:\.\./|docs/|scripts/|configs/)[^`\s]+\.(?:md|sh|py|yaml))`", text)
    assert targets, "the README links to nothing?"
    outside = [t for t in targets if t.startswith("../") or t.startswith("/")]
    assert outside == [], "someone who clones the repository does not have these"
    missing = [t for t in targets if not t.startswith("http") and not (ROOT / t).exists()]
    assert missing == []


def test_no_source_file_is_ignored_by_git_or_ruff():
    """A package directory named like a build output (``build/``) is skipped by .gitignore
    and by ruff's default excludes: a clean clone would lack its files, and lint would
    silently skip them."""
    srcs = [
        str(p.relative_to(ROOT)) for d in ("wrx_sdk", "tests", "scripts") for p in (ROOT / d).rglob("*.py")
    ]
    srcs = [s for s in srcs if "__pycache__" not in s]
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *srcs], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    assert ignored == []
    linted = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "ruff"),
            "check",
            "--no-cache",
            "--show-files",
            "wrx_sdk",
            "tests",
            "scripts",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    skipped = [s for s in srcs if s not in linted]
    assert skipped == []
