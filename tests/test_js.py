"""pushapp.js without a browser: a syntax check, its behaviour under Node with fakes, pushapp.mjs (the ES
module generated from it) and the TypeScript declarations, type-checked with ``tsc --strict``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import pushapp

REPO = Path(__file__).resolve().parent.parent
STATIC = REPO / "pushapp" / "static" / "pushapp"
CLIENT = STATIC / "pushapp.js"
NODE = shutil.which("node")
NPM = shutil.which("npm")
#: TypeScript, pinned; installed by the test itself into a cache directory (.ci/run needs node and npm).
TYPESCRIPT = "typescript@5.9.3"
NODE_CACHE = Path(os.environ.get("PUSHAPP_TEST_NODE_CACHE", REPO / ".ci" / "node"))

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


def _node(*args: str) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    return subprocess.run([NODE, *args], cwd=REPO, capture_output=True, text=True, timeout=60)


def test_client_parses() -> None:
    result = _node("--check", str(CLIENT))
    assert result.returncode == 0, result.stderr


def test_client_behaviour() -> None:
    tests = sorted(str(path) for path in (REPO / "tests" / "js").glob("*.test.*js"))
    result = _node("--test", *tests)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_module_is_generated_from_the_script() -> None:
    """pushapp.mjs is what tools/build-esm.mjs makes of pushapp.js: never a hand-maintained copy."""
    result = _node(str(REPO / "tools" / "build-esm.mjs"), "--check")
    assert result.returncode == 0, result.stderr


def test_package_json_is_publishable() -> None:
    package = json.loads((STATIC / "package.json").read_text())
    assert package["name"] == "django-pushapp"
    assert package["version"] == pushapp.__version__  # the client's version is the Python package's
    assert "private" not in package
    assert package["exports"]["."] == {"types": "./pushapp.d.ts", "default": "./pushapp.mjs"}
    for name in package["files"]:
        assert (STATIC / name).is_file(), name


def _typescript() -> Path:
    """tsc from the cache directory, installed there with npm when missing: never skipped for lack of it."""
    tsc = NODE_CACHE / "node_modules" / "typescript" / "bin" / "tsc"
    if not tsc.is_file():
        assert NPM is not None, "npm is missing (it comes with node; .ci/run installs both)"
        NODE_CACHE.mkdir(parents=True, exist_ok=True)
        install = subprocess.run(
            [NPM, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(NODE_CACHE), TYPESCRIPT],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert install.returncode == 0, install.stdout + install.stderr
    return tsc


@pytest.mark.parametrize("resolution", ["bundler", "nodenext"])
def test_the_types_check_an_application_strictly(tmp_path: Path, resolution: str) -> None:
    """tests/js/types/example.ts, importing the package by its npm name, passes ``tsc --strict``."""
    tsc = _typescript()
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "django-pushapp").symlink_to(STATIC, target_is_directory=True)
    (tmp_path / "package.json").write_text('{"type": "module", "private": true}')
    shutil.copy(REPO / "tests" / "js" / "types" / "example.ts", tmp_path / "example.ts")
    module = "esnext" if resolution == "bundler" else "nodenext"
    config = {
        "compilerOptions": {
            "strict": True,
            "noEmit": True,
            "target": "es2020",
            "module": module,
            "moduleResolution": resolution,
            "lib": ["es2020", "dom"],
            "types": [],
            "noUnusedLocals": True,
        },
        "files": ["example.ts"],
    }
    (tmp_path / "tsconfig.json").write_text(json.dumps(config))
    result = _node(str(tsc), "-p", str(tmp_path / "tsconfig.json"))
    assert result.returncode == 0, result.stdout + result.stderr
