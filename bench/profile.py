"""py-spy on a server process during a workload, and a plain-text summary of where its time went.

py-spy samples the stacks of another process without touching its code. We record "raw" (collapsed
stacks: one line per distinct stack with its sample count) so the summary can be computed here, and a
flame graph SVG for people.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

RATE = 100  # samples per second
STOP_TIMEOUT = 60.0
ATTACH_TIMEOUT = 20.0
POLL = 0.05
_LINE = re.compile(r":\d+\)$")  # "function (file.py:123)" -> "function (file.py)"


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Recording:
    """``py-spy record`` attached to ``pid`` until :meth:`stop` (SIGINT makes it write its output)."""

    def __init__(self, pid: int, output: Path, fmt: str, log: Path) -> None:
        binary = py_spy()
        if binary is None:
            raise FileNotFoundError("py-spy is not installed (pip install py-spy)")
        self.output = output
        output.unlink(missing_ok=True)  # an earlier run's file must not pass for this one's
        self.log = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [binary, "record", "--pid", str(pid), "--rate", str(RATE), "--format", fmt, "-o", str(output)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_sampling(self) -> bool:
        """Wait until py-spy says it samples (it attaches asynchronously); False if it exited first."""
        deadline = time.monotonic() + ATTACH_TIMEOUT
        while self.process.poll() is None and time.monotonic() < deadline:
            if b"Sampling process" in self.log.read_bytes():
                return True
            time.sleep(POLL)
        return False

    def stop(self) -> bool:
        """Stop sampling and wait for the file; False if py-spy failed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
        return self.output.exists()


def _function(frame: str) -> str:
    """Drop the line number: a function's samples are counted together."""
    return _LINE.sub(")", frame)


#: Leaf frames of threads that are waiting, not working, which py-spy does not always recognise as idle:
#: the event loop in epoll, and the idle worker threads of the default executor.
WAITING = ("EpollSelector.select (selectors.py)", "_worker (concurrent/futures/thread.py)")


def _read(raw: Path) -> tuple[list[tuple[list[str], int]], int]:
    """Busy stacks (root first, with line numbers) and their sample counts; and the waiting samples."""
    stacks: list[tuple[list[str], int]] = []
    waiting = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        if _function(frames[-1]).startswith(WAITING):
            waiting += int(count_text)
        else:
            stacks.append((frames, int(count_text)))
    return stacks, waiting


def _common_prefix(stacks: list[tuple[list[str], int]]) -> int:
    """How many outer frames every busy stack shares (the process's main chain down to the event loop)."""
    functions = [[_function(f) for f in frames] for frames, _ in stacks]
    depth = 0
    while functions and all(len(f) > depth + 1 and f[depth] == functions[0][depth] for f in functions):
        depth += 1
    return depth


def summarize(raw: Path, top: int = 15) -> dict[str, Any]:
    """Where the busy samples were, in % of them: by line where the time was spent ("self", so a C call
    such as a socket send shows as the Python line making it), and by function including its callees
    ("total"), leaving out the outer frames that every sample shares.

    Samples whose leaf is a wait (WAITING) are counted apart as ``waiting_samples``.
    """
    stacks, waiting = _read(raw)
    skip = _common_prefix(stacks)
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for frames, count in stacks:
        samples += count
        own[frames[-1]] += count
        for function in {_function(f) for f in frames[skip:]}:
            total[function] += count

    def pct(n: int) -> float:
        return round(100 * n / samples, 1) if samples else 0.0

    return {
        "samples": samples,
        "waiting_samples": waiting,
        "rate": RATE,
        "self": [{"where": f, "percent": pct(n)} for f, n in own.most_common(top)],
        "total": [{"function": f, "percent": pct(n)} for f, n in total.most_common(top)],
    }
