"""``manage.py pushserve`` as a real process tree for the tests: a supervisor and its daphne workers.

Its log (the supervisor's and every worker's, on one pipe) is drained into memory; tests wait for lines
of it, for presence to show the workers (``manage.py pushstats --json``), or for the process to exit.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Mapping

from tests.support.processes import REPO_ROOT, START_TIMEOUT, STOP_TIMEOUT, ProcessConfig, _Drain, _end, _live

_LISTENING = re.compile(r"pushserve: listening on 127\.0\.0\.1:(\d+)")
_SERVING = re.compile(r"pushserve worker (\d+) \(generation (\d+)\) serving")
STARTED = re.compile(r"worker (\d+) \(generation (\d+)\) started, pid (\d+)")


class PushServe:
    """``python -m django pushserve --port 0 …`` with the cluster's settings; waits until every worker
    serves."""

    def __init__(
        self,
        config: ProcessConfig,
        workers: int = 2,
        drain: float = 2.0,
        extra_env: Mapping[str, str] | None = None,
        push_server: str = "native",
    ) -> None:
        self.workers = workers
        args = [
            sys.executable,
            "-m",
            "django",
            "pushserve",
            f"--workers={workers}",
            "--port=0",
            f"--drain={drain}",
            f"--push-server={push_server}",
        ]
        self.process = subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            env=config.env(extra_env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert self.process.stdout is not None
        self._out = _Drain(self.process.stdout, f"pushserve-{self.process.pid}")
        self.config = config
        _live.add(self)
        match = self._out.wait_for(_LISTENING, START_TIMEOUT)
        if match is None:
            raise RuntimeError(f"pushserve did not listen (exit {self.kill()}):\n{self.output()}")
        self.port = int(match.group(1))
        self.wait_serving(generation=1)

    def wait_serving(self, generation: int, timeout: float = START_TIMEOUT) -> None:
        """Block until each worker slot of ``generation`` logged that it serves."""
        for slot in range(self.workers):
            pattern = re.compile(rf"pushserve worker {slot} \(generation {generation}\) serving")
            if self._out.wait_for(pattern, timeout) is None:
                raise AssertionError(
                    f"worker {slot} of generation {generation} did not serve:\n{self.output()}"
                )

    def wait_for(self, pattern: str, timeout: float = START_TIMEOUT) -> re.Match[str]:
        match = self._out.wait_for(re.compile(pattern), timeout)
        if match is None:
            raise AssertionError(f"pushserve never logged {pattern!r}:\n{self.output()}")
        return match

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/push/"

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        code = self.process.wait(timeout)
        _live.discard(self)
        return code

    def output(self) -> str:
        return self._out.text()

    def stop(self) -> int:
        """Two SIGTERMs: drain, and close what is left at once; SIGKILL if it still does not exit."""
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
            self.signal(signal.SIGTERM)
        try:
            return self.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            return self.kill()

    def kill(self) -> int:
        """SIGKILL the supervisor; its workers get SIGTERM from Linux (PDEATHSIG) and drain away."""
        _live.discard(self)
        return _end(self.process, kill=True)


def pushstats(config: ProcessConfig) -> dict[str, object]:
    """``manage.py pushstats --json`` run against the cluster's Redis."""
    result = subprocess.run(
        [sys.executable, "-m", "django", "pushstats", "--json"],
        cwd=REPO_ROOT,
        env=config.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data
