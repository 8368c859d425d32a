"""The pushserve supervisor: one listening socket, N workers on it, kept running.

- A worker that dies is started again (and the log says so); one that dies soon after starting is
  restarted after a growing pause, so a broken deploy does not spin.
- A worker whose event loop is stuck (a blocking call, a deadlock) is alive but serves nobody: each
  worker writes a heartbeat to its pipe from its loop, and one silent for ``worker_timeout`` seconds
  (``WORKER_TIMEOUT``), or not ready within READY_TIMEOUT, is killed and so replaced.
- SIGHUP reloads: a new generation of workers starts on the same socket, and only once every one of
  them serves are the old ones told to drain. There is never a moment with nobody accepting.
- SIGTERM or SIGINT shuts down: every worker drains (``--drain`` seconds) and exits; a second one makes
  them close what is left at once. Workers still running ``drain + GRACE`` seconds later are killed.

Signals reach the loop through a wake-up pipe (:func:`signal.set_wakeup_fd`), so the handlers do nothing
but wake it; readiness and heartbeats come from a pipe per worker.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

logger = logging.getLogger("pushapp.pushserve")

GRACE = 10.0  # seconds after the drain time before a worker that did not exit is killed
READY_TIMEOUT = 60.0  # seconds a new worker has to start serving, or it is killed
QUICK_DEATH = 5.0  # a worker dying this soon after its start is restarted after a backoff
MAX_BACKOFF = 30.0

#: The worker's command line, given its slot, generation, socket and ready pipe.
Command = Callable[[int, int, int, int], Sequence[str]]


@dataclass
class Worker:
    slot: int
    generation: int
    process: subprocess.Popen[bytes]
    ready_fd: int
    started: float = field(default_factory=time.monotonic)
    ready: bool = False
    draining: bool = False
    beat: float = 0.0  # when its pipe last said something
    killed: bool = False  # by the watchdog

    @property
    def pid(self) -> int:
        return self.process.pid

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)


def _describe(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


class Supervisor:
    def __init__(
        self, sock: socket.socket, workers: int, drain: float, command: Command, worker_timeout: float = 0.0
    ) -> None:
        """``worker_timeout``: seconds a ready worker may go without a heartbeat (0: no watchdog)."""
        self.sock = sock
        self.count = workers
        self.drain = drain
        self.command = command
        self.worker_timeout = worker_timeout
        self.generation = 1
        self.workers: list[Worker] = []
        self.selector = selectors.DefaultSelector()
        self.reload_to: int | None = None  # the generation being started by a reload
        self.stopping = False
        self.kill_at: float | None = None
        self._backoff: dict[int, float] = {}
        self._restart_at: dict[int, float] = {}

    # -- the loop ----------------------------------------------------------------------------------

    def run(self) -> int:
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        previous = signal.set_wakeup_fd(wake_write)
        handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD)
        saved = {signum: signal.signal(signum, lambda *_: None) for signum in handled}
        self.selector.register(wake_read, selectors.EVENT_READ, None)
        try:
            logger.info("pushserve: starting %d workers on %s", self.count, _address(self.sock))
            for slot in range(self.count):
                self._spawn(slot, self.generation)
            while self.workers or not self.stopping:
                for key, _ in self.selector.select(timeout=0.5):
                    if key.data is None:
                        for signum in os.read(wake_read, 512):
                            self._on_signal(signum)
                    else:
                        self._on_ready_pipe(key.data)
                self._watch()
                self._reap()
                self._restart_due()
                self._reload_progress()
                if self.kill_at is not None and time.monotonic() > self.kill_at:
                    for worker in self.workers:
                        logger.warning(
                            "pushserve: worker pid %d did not exit in time; killing it", worker.pid
                        )
                        worker.signal(signal.SIGKILL)
                    self.kill_at = None
            logger.info("pushserve: stopped")
            return 0
        finally:
            signal.set_wakeup_fd(previous)
            for signum, handler in saved.items():
                signal.signal(signum, handler)
            os.close(wake_read)
            os.close(wake_write)
            self.sock.close()

    def _on_signal(self, signum: int) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            self._shutdown(signal.Signals(signum).name)
        elif signum == signal.SIGHUP and not self.stopping:
            self._reload()

    # -- workers -----------------------------------------------------------------------------------

    def _spawn(self, slot: int, generation: int) -> None:
        ready_read, ready_write = os.pipe()
        fd = self.sock.fileno()
        try:
            process = subprocess.Popen(
                list(self.command(slot, generation, fd, ready_write)),
                pass_fds=(fd, ready_write),
                stdin=subprocess.DEVNULL,
            )
        finally:
            os.close(ready_write)
        worker = Worker(slot, generation, process, ready_read)
        self.workers.append(worker)
        self.selector.register(ready_read, selectors.EVENT_READ, worker)
        logger.info("pushserve: worker %d (generation %d) started, pid %d", slot, generation, worker.pid)

    def _on_ready_pipe(self, worker: Worker) -> None:
        data = os.read(worker.ready_fd, 4096)
        if not data:
            self._close_pipe(worker)
            return
        worker.beat = time.monotonic()
        if not worker.ready and b"ready" in data:
            worker.ready = True
            logger.info(
                "pushserve: worker %d (generation %d) pid %d ready",
                worker.slot,
                worker.generation,
                worker.pid,
            )

    def _close_pipe(self, worker: Worker) -> None:
        if worker.ready_fd >= 0:
            self.selector.unregister(worker.ready_fd)
            os.close(worker.ready_fd)
            worker.ready_fd = -1

    def _watch(self) -> None:
        """Kill the workers whose event loop is stuck; :meth:`_reap` then replaces them. SIGKILL at once: a
        stuck loop cannot drain, and SIGTERM would only wait behind what blocks it."""
        now = time.monotonic()
        for worker in self.workers:
            if worker.killed:
                continue
            if worker.ready:
                silent = now - worker.beat
                if not self.worker_timeout or silent <= self.worker_timeout:
                    continue
                logger.error(
                    "pushserve: worker %d pid %d sent no heartbeat for %.1f s (its event loop is stuck); "
                    "killing it",
                    worker.slot,
                    worker.pid,
                    silent,
                )
            elif now - worker.started > READY_TIMEOUT:
                logger.error(
                    "pushserve: worker %d pid %d is not ready after %.0f s; killing it",
                    worker.slot,
                    worker.pid,
                    READY_TIMEOUT,
                )
            else:
                continue
            worker.killed = True
            worker.signal(signal.SIGKILL)

    def _reap(self) -> None:
        for worker in list(self.workers):
            code = worker.process.poll()
            if code is None:
                continue
            self.workers.remove(worker)
            self._close_pipe(worker)
            if worker.draining or self.stopping:
                logger.info(
                    "pushserve: worker %d pid %d exited (%s)", worker.slot, worker.pid, _describe(code)
                )
            elif self.reload_to == worker.generation:
                logger.error(
                    "pushserve: reload failed: new worker pid %d died (%s); keeping the old workers",
                    worker.pid,
                    _describe(code),
                )
                for new in [w for w in self.workers if w.generation == self.reload_to]:
                    new.draining = True
                    new.signal(signal.SIGTERM)
                self.reload_to = None
            else:
                delay = 0.0
                if time.monotonic() - worker.started < QUICK_DEATH:
                    delay = self._backoff[worker.slot] = min(
                        MAX_BACKOFF, self._backoff.get(worker.slot, 0.5) * 2
                    )
                logger.warning(
                    "pushserve: worker %d pid %d died (%s); restarting it%s",
                    worker.slot,
                    worker.pid,
                    _describe(code),
                    f" in {delay:.0f} s" if delay else "",
                )
                self._restart_at[worker.slot] = time.monotonic() + delay

    def _restart_due(self) -> None:
        now = time.monotonic()
        for slot, at in list(self._restart_at.items()):
            if self.stopping:
                del self._restart_at[slot]
            elif at <= now:
                del self._restart_at[slot]
                self._spawn(slot, self.generation)

    # -- reload and shutdown -----------------------------------------------------------------------

    def _reload(self) -> None:
        if self.reload_to is not None:
            logger.info("pushserve: a reload is already under way")
            return
        self.reload_to = self.generation + 1
        logger.info("pushserve: SIGHUP: starting generation %d", self.reload_to)
        for slot in range(self.count):
            self._spawn(slot, self.reload_to)

    def _reload_progress(self) -> None:
        new = [w for w in self.workers if w.generation == self.reload_to]
        if self.reload_to is None or len(new) < self.count or not all(w.ready for w in new):
            return
        old = [w for w in self.workers if w.generation != self.reload_to and not w.draining]
        logger.info("pushserve: generation %d serves; draining %d old workers", self.reload_to, len(old))
        self.generation, self.reload_to = self.reload_to, None
        self._restart_at.clear()  # slots of the old generation are taken by the new one
        for worker in old:
            worker.draining = True
            worker.signal(signal.SIGTERM)

    def _shutdown(self, why: str) -> None:
        if self.stopping:
            logger.info("pushserve: %s again: workers close their connections now", why)
        else:
            logger.info("pushserve: %s: draining %d workers over %.1f s", why, len(self.workers), self.drain)
            self.stopping = True
            self.kill_at = time.monotonic() + self.drain + GRACE
            self.sock.close()  # once the workers stopped listening too, new connections are refused
        for worker in self.workers:
            worker.draining = True
            worker.signal(signal.SIGTERM)


def _address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def worker_command(drain: float, service: str, bind: str, options: Sequence[str] = ()) -> Command:
    """The command line of a worker: this interpreter running :mod:`pushapp.pushserve.worker`."""

    def command(slot: int, generation: int, fd: int, ready_fd: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "pushapp.pushserve.worker",
            f"--fd={fd}",
            f"--ready-fd={ready_fd}",
            f"--drain={drain}",
            f"--service={service}",
            f"--worker={slot}",
            f"--generation={generation}",
            f"--bind={bind}",
            f"--supervisor={os.getpid()}",
            *options,
        ]

    return command
