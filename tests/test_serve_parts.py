"""pushserve's parts on their own: the GC policy's decisions, and the supervisor with stand-in workers.

The supervisor runs in a real child process (it owns signals), with tiny Python workers that say "ready"
or die on cue, so a crash loop and a failed reload are shown without starting Django.
"""

from __future__ import annotations

import gc
import re
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from pushapp.pushserve import gcpolicy
from pushapp.pushserve.gcpolicy import GcPolicy
from tests.support.processes import REPO_ROOT, _Drain, _end


@pytest.fixture
def gc_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    calls: list[str] = []
    monkeypatch.setattr(gc, "collect", lambda *a: calls.append("collect") or 0)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "unfreeze", lambda: calls.append("unfreeze"))
    monkeypatch.setattr(gc, "set_threshold", lambda *a: calls.append(f"threshold {a}"))
    yield calls


def test_gc_policy_freezes_after_start_up_and_after_each_wave_never_during_one(gc_calls: list[str]) -> None:
    counts = iter([0, 300, 900, 900, 950, 950, 3000, 3000, 1400, 1400, 1400])
    policy = GcPolicy(lambda: next(counts))
    policy.start()
    assert gc_calls == [f"threshold {gcpolicy.THRESHOLDS}", "collect", "freeze"]
    gc_calls.clear()

    def tick() -> list[str]:
        policy.tick()
        done = list(gc_calls)
        gc_calls.clear()
        return done

    assert tick() == []  # 0: nothing yet
    assert tick() == []  # 300: growing
    assert tick() == []  # 900: still growing
    assert tick() == ["freeze"]  # 900 again: the wave is over: frozen, no collection (no pause)
    assert tick() == []  # 950: moving
    assert tick() == []  # 950 steady, but only 50 more than frozen
    assert tick() == []  # 3000: a wave under way
    assert tick() == ["freeze"]  # 3000 steady
    assert tick() == []  # 1400: falling
    assert tick() == ["unfreeze", "collect", "freeze"]  # 1400 steady, under half of 3000: thaw
    assert tick() == []  # nothing new


SUPERVISE = textwrap.dedent(
    """
    import logging, sys
    from pushapp.pushserve.listener import open_listener
    from pushapp.pushserve.supervisor import Supervisor

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    worker, timeout = sys.argv[1], float(sys.argv[2])

    def command(slot, generation, fd, ready_fd):
        return [sys.executable, "-c", worker, str(generation), str(ready_fd)]

    sys.exit(Supervisor(open_listener("127.0.0.1", 0), 1, 0.0, command, timeout).run())
    """
)


class Supervised:
    """The supervisor in a child process, with ``worker`` (Python source) as each worker's program;
    ``worker_timeout``: its watchdog's."""

    def __init__(self, worker: str, worker_timeout: float = 0.0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", SUPERVISE, textwrap.dedent(worker), str(worker_timeout)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert self.process.stdout is not None
        self.out = _Drain(self.process.stdout, "supervisor")

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        match = self.out.wait_for(re.compile(pattern), timeout)
        if match is None:
            raise AssertionError(f"never logged {pattern!r}:\n{self.out.text()}")
        return match

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            return _end(self.process, kill=True)


def test_a_worker_that_keeps_dying_at_start_is_restarted_after_a_growing_pause() -> None:
    supervised = Supervised("import sys; sys.exit(3)")
    try:
        supervised.wait_for(r"worker 0 pid \d+ died \(exit code 3\); restarting it in 1 s")
        supervised.wait_for(r"worker 0 pid \d+ died \(exit code 3\); restarting it in 2 s")
    finally:
        assert supervised.stop() == 0


SERVES_UNLESS_GENERATION_2 = """
    import os, signal, sys
    generation, ready_fd = int(sys.argv[1]), int(sys.argv[2])
    if generation == 2:
        sys.exit(5)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # before "ready": sigwait takes it
    os.write(ready_fd, b"ready")
    signal.sigwait({signal.SIGTERM})
"""


def test_a_reload_whose_new_workers_fail_keeps_the_old_ones() -> None:
    supervised = Supervised(SERVES_UNLESS_GENERATION_2)
    try:
        supervised.wait_for(r"worker 0 \(generation 1\) pid \d+ ready")
        supervised.process.send_signal(signal.SIGHUP)
        supervised.wait_for(r"SIGHUP: starting generation 2")
        supervised.wait_for(
            r"reload failed: new worker pid \d+ died \(exit code 5\); keeping the old workers"
        )
        assert "draining" not in supervised.out.text()  # the old worker was never told to go
    finally:
        assert supervised.stop() == 0
    supervised.wait_for(r"worker 0 pid \d+ exited \(exit code 0\)")
    supervised.wait_for(r"pushserve: stopped")


STUCK_AFTER_READY = """
    import os, sys, time
    ready_fd = int(sys.argv[2])
    os.write(ready_fd, b"ready")
    time.sleep(3600)  # a stuck event loop: alive, and no heartbeat
"""


def test_a_worker_whose_loop_is_stuck_is_killed_and_replaced() -> None:
    supervised = Supervised(STUCK_AFTER_READY, worker_timeout=0.5)
    try:
        pid = supervised.wait_for(r"worker 0 \(generation 1\) pid (\d+) ready").group(1)
        supervised.wait_for(rf"worker 0 pid {pid} sent no heartbeat for [\d.]+ s \(its event loop is stuck\)")
        supervised.wait_for(rf"worker 0 pid {pid} died \(killed by SIGKILL\); restarting it")
        supervised.wait_for(rf"worker 0 \(generation 1\) started, pid (?!{pid}\b)\d+")
    finally:
        assert supervised.stop() == 0


BEATS_THEN_EXITS = """
    import os, sys, time
    ready_fd = int(sys.argv[2])
    os.write(ready_fd, b"ready")
    for _ in range(20):  # 2 s of heartbeats, 4 times the watchdog's timeout
        time.sleep(0.1)
        os.write(ready_fd, b".")
    sys.exit(7)
"""


def test_a_worker_that_sends_heartbeats_is_left_alone() -> None:
    supervised = Supervised(BEATS_THEN_EXITS, worker_timeout=0.5)
    try:
        supervised.wait_for(r"worker 0 pid \d+ died \(exit code 7\)")
        assert "no heartbeat" not in supervised.out.text()
    finally:
        assert supervised.stop() == 0


def test_pushserve_refuses_bad_options_and_a_port_it_cannot_listen_on() -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--workers"):
        call_command("pushserve", "--workers", "0", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="--drain"):
        call_command("pushserve", "--drain", "-1", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="--worker-timeout"):
        call_command("pushserve", "--worker-timeout", "-1", stdout=StringIO(), stderr=StringIO())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CommandError, match="cannot listen"):
            call_command(
                "pushserve", "--workers", "1", "--port", str(port), stdout=StringIO(), stderr=StringIO()
            )
