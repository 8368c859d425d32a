"""pushapp.js without a browser: a syntax check, and its behaviour under Node with a fake WebSocket."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CLIENT = REPO / "pushapp" / "static" / "pushapp" / "pushapp.js"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


def _node(*args: str) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    return subprocess.run([NODE, *args], cwd=REPO, capture_output=True, text=True, timeout=60)


def test_client_parses() -> None:
    result = _node("--check", str(CLIENT))
    assert result.returncode == 0, result.stderr


def test_client_behaviour() -> None:
    result = _node("--test", str(REPO / "tests" / "js" / "pushapp.test.js"))
    assert result.returncode == 0, result.stdout + result.stderr
