"""README's Quickstart, followed word for word in a new project: ``startproject``, then each Python block
of the section applied to the file its first line names, then the project's own server, a plain
WebSocket client and a push from the project's view. The blocks are read from README.md itself, so the
Quickstart cannot drift from what works."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.support.processes import REPO_ROOT, answers_http
from tests.support.redis_server import free_port
from tests.support.wheel import InstalledWheel

pytestmark = pytest.mark.integration

BLOCK = re.compile(r"```python\n(.*?)```", re.S)
TARGET = re.compile(r"# (\S+): (add at the end|the whole file|a new file)")


def quickstart_blocks() -> list[tuple[str, str, str]]:
    """(path, how, code) of each Python block of README's Quickstart."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = []
    for code in BLOCK.findall(section):
        match = TARGET.match(code)
        assert match, f"a Quickstart block that names no file: {code[:60]!r}"
        blocks.append((match[1], match[2], code))
    return blocks


def test_the_quickstart_blocks_name_their_files() -> None:
    assert [(path, how) for path, how, _ in quickstart_blocks()] == [
        ("mysite/settings.py", "add at the end"),
        ("mysite/asgi.py", "the whole file"),
        ("mysite/views.py", "a new file"),
        ("mysite/urls.py", "add at the end"),
    ]


def test_the_quickstart_works_in_a_new_project(
    tmp_path: Path, redis_url: str, installed_wheel: InstalledWheel
) -> None:
    """In a virtualenv where only the built wheel is installed, as ``pip install`` gives it to a user."""
    env = installed_wheel.env(REDIS_URL=redis_url)
    python = str(installed_wheel.python)
    subprocess.run([python, "-m", "django", "startproject", "mysite"], cwd=tmp_path, check=True, env=env)
    project = tmp_path / "mysite"
    for path, how, code in quickstart_blocks():
        target = project / path
        if how == "add at the end":
            target.write_text(target.read_text(encoding="utf-8") + "\n" + code, encoding="utf-8")
        else:
            target.write_text(code, encoding="utf-8")
    manage = [python, "manage.py"]
    subprocess.run([*manage, "check"], cwd=project, env=env, check=True, capture_output=True)
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=project, env=env, check=True)
    token = subprocess.run(
        [*manage, "shell", "-c", "from pushapp.tokens import issue_token; print(issue_token(42))"],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]  # after whatever else the shell prints (Django 5.2 lists its automatic imports)
    port = free_port()
    server = subprocess.Popen(
        [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert answers_http(port, time.monotonic() + 30, server), "the project's server did not start"
        with connect(f"ws://127.0.0.1:{port}/ws/push/", origin=f"http://127.0.0.1:{port}") as ws:  # type: ignore[arg-type]
            ws.send(json.dumps({"type": "auth", "token": token}))
            assert json.loads(ws.recv(timeout=10))["uid"] == "42"
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/orders/7/ship/?customer=42", timeout=10
            ) as r:
                assert json.loads(r.read()) == {"ok": True}
            assert json.loads(ws.recv(timeout=10)) == {
                "type": "push",
                "data": {"type": "order.shipped", "id": 7},
            }
    finally:
        server.kill()
        server.wait(10)
        assert server.stdout is not None
        server.stdout.close()
