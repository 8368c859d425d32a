"""``manage.py pushserve`` as real processes on a real Redis: workers on one port, restarts, drain, reload.

Every wait is for something a process shows (a log line, presence, a frame, an exit), with a deadline.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from pushapp.protocol.names import node_of
from tests.support.processes import SERVERS, ProcessConfig, Producer
from tests.support.pushserve import PushServe, pushstats
from tests.support.waiting import wait_until
from tests.support.wsclients import ORIGIN, PushSocket

pytestmark = pytest.mark.integration

Serve = Callable[..., PushServe]


@pytest.fixture
def config(redis_url: str, prefix: str, migrated_db: Path, tmp_path: Path) -> ProcessConfig:
    db = tmp_path / "db.sqlite3"
    shutil.copyfile(migrated_db, db)
    return ProcessConfig(redis_url, layer="pubsub", prefix=prefix, db_path=str(db))


@pytest.fixture
def serve(config: ProcessConfig) -> Iterator[Serve]:
    started: list[PushServe] = []

    def start(**kwargs: Any) -> PushServe:
        server = PushServe(config, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(params=SERVERS)
def push_server(request: pytest.FixtureRequest) -> str:
    """``--push-server``: daphne on the push path, or pushapp's own server in front of it."""
    kind: str = request.param
    return kind


@pytest.fixture
def producer(config: ProcessConfig) -> Iterator[Producer]:
    with Producer(config) as started:
        yield started


def _missed(frame: Any) -> bool:
    return isinstance(frame, dict) and frame.get("type") == "missed"


def server_frame(sock: PushSocket) -> Any:
    """The next frame that is not a ``missed``: a hub on a loaded machine whose liveness probe came back
    late tells its connections they may have missed pushes, which is beside the point here."""
    frame = sock.recv()
    while _missed(frame):
        frame = sock.recv()
    return frame


def until_closed(sock: PushSocket) -> tuple[list[Any], int | None]:
    """``recv_until_closed`` without ``missed`` frames (see :func:`server_frame`)."""
    messages, code = sock.recv_until_closed()
    return [m for m in messages if not _missed(m)], code


def processes(config: ProcessConfig, count: int, generation: int | None = None) -> list[dict[str, Any]]:
    """Wait until presence shows ``count`` server processes (of ``generation``); return them."""

    def shown() -> list[dict[str, Any]] | None:
        found: list[dict[str, Any]] = pushstats(config)["processes"]  # type: ignore[assignment]
        if generation is not None:
            found = [p for p in found if p.get("generation") == generation]
        return found if len(found) == count else None

    return wait_until(shown, f"{count} processes in presence", timeout=20)


def scrape(server: PushServe, token: str) -> dict[str, list[dict[str, str]]]:
    """GET /pushapp/metrics/ with the token; each metric's samples' labels, by sample name."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", "/pushapp/metrics/", headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        body = response.read().decode()
    finally:
        connection.close()
    assert response.status == 200, body
    found: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample.labels)
    return found


def test_workers_share_one_port_and_pushstats_and_metrics_show_one_service(
    serve: Serve, config: ProcessConfig, producer: Producer, push_server: str
) -> None:
    server = serve(
        workers=2,
        extra_env={"PUSHAPP_TEST_SETTINGS": json.dumps({"METRICS_TOKEN": "t0ken"})},
        push_server=push_server,
    )
    workers = processes(config, 2)
    data = pushstats(config)
    (service,) = data["services"]  # type: ignore[misc]
    assert service["workers"] == 2
    assert service["listen"] == f"127.0.0.1:{server.port}"
    assert service["supervisor"] == server.pid
    assert {p["service"] for p in workers} == {service["service"]}
    assert sorted(p["worker"] for p in workers) == [0, 1]
    assert {p["pid"] for p in workers}.isdisjoint({server.pid})

    # Whichever worker answers the scrape, it lists both, labelled as workers of the one service.
    nodes = scrape(server, "t0ken")["pushapp_node_info"]
    assert {(n["node"], n["service"], n["worker"]) for n in nodes} == {
        (p["node"], service["service"], str(p["worker"])) for p in workers
    }

    # Both workers accept on the one socket: connect until clients of both nodes are seen.
    by_node: dict[str, PushSocket] = {}
    extra: list[PushSocket] = []

    def both_nodes_accept() -> bool:
        sock = PushSocket(server.ws_url(), uid="u")
        node = node_of(sock.client_id)
        if node in by_node:
            extra.append(sock)
        else:
            by_node[node] = sock
        return len(by_node) == 2

    wait_until(both_nodes_accept, "connections accepted by both workers", interval=0)
    for sock in extra:
        sock.close()
    assert set(by_node) == {p["node"] for p in workers}
    producer.call("send_to_all", "to every worker")
    assert [server_frame(sock) for sock in by_node.values()] == ["to every worker"] * 2
    for sock in by_node.values():
        sock.close()


def test_a_worker_that_dies_is_restarted_and_the_log_says_so(serve: Serve, config: ProcessConfig) -> None:
    server = serve(workers=2)
    victim = processes(config, 2)[0]
    os.kill(victim["pid"], signal.SIGKILL)
    server.wait_for(
        rf"worker {victim['worker']} pid {victim['pid']} died \(killed by SIGKILL\); restarting it"
    )
    started = server.wait_for(
        rf"worker {victim['worker']} \(generation 1\) started, pid (?!{victim['pid']})(\d+)"
    )
    new_pid = int(started.group(1))

    def replaced() -> bool:
        pids = {p["pid"] for p in pushstats(config)["processes"]}  # type: ignore[attr-defined]
        return new_pid in pids  # the killed one lingers until PRESENCE_TTL: a crash bound, not a drain

    wait_until(replaced, "the new worker in presence", timeout=20)
    sock = PushSocket(server.ws_url(), uid="after")
    assert sock.welcome["type"] == "welcome"
    sock.close()


def test_a_worker_whose_event_loop_is_stuck_is_replaced_and_its_clients_served_again(
    serve: Serve, config: ProcessConfig, producer: Producer, push_server: str
) -> None:
    """A stopped event loop (SIGSTOP: alive, silent) is found by the supervisor's watchdog after
    WORKER_TIMEOUT and killed: its clients see their connection end, reconnect and get their pushes,
    all within WORKER_TIMEOUT + 5 s; a new worker takes its slot."""
    timeout = 2
    settings = json.dumps({"WORKER_TIMEOUT": timeout})
    server = serve(workers=2, extra_env={"PUSHAPP_TEST_SETTINGS": settings}, push_server=push_server)
    victim = processes(config, 2)[0]
    others: list[PushSocket] = []

    def on_the_victim() -> PushSocket | None:
        sock = PushSocket(server.ws_url(), uid="stuck")
        if node_of(sock.client_id) == victim["node"]:
            return sock
        others.append(sock)
        return None

    client = wait_until(on_the_victim, "a client on the victim worker", interval=0)
    for sock in others:
        sock.close()
    os.kill(victim["pid"], signal.SIGSTOP)
    deadline = time.monotonic() + timeout + 5
    try:
        _, code = client.recv_until_closed(timeout=deadline - time.monotonic())
        assert code is None  # killed: the kernel ends the connection, no close frame
        again = PushSocket(server.ws_url(), uid="stuck")  # what its client does next
        producer.call("send_to_uid", "stuck", "served again")
        assert server_frame(again) == "served again"
        assert time.monotonic() < deadline, "not served again within WORKER_TIMEOUT + 5 s"
        again.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim["pid"], signal.SIGCONT)  # a failed test must not leave it stopped for ever
    slot, pid = victim["worker"], victim["pid"]
    server.wait_for(rf"worker {slot} pid {pid} sent no heartbeat for [\d.]+ s \(its event loop is stuck\)")
    server.wait_for(rf"worker {slot} pid {pid} died \(killed by SIGKILL\); restarting it")
    new_pid = server.wait_for(rf"worker {slot} \(generation 1\) started, pid (?!{pid}\b)(\d+)").group(1)
    server.wait_for(rf"\[pid {new_pid}\] pushapp.pushserve: pushserve worker {slot} \(generation 1\) serving")


def test_sigterm_tells_clients_when_to_reconnect_spread_over_the_drain_then_exits(
    serve: Serve, config: ProcessConfig, producer: Producer, push_server: str
) -> None:
    server = serve(workers=1, drain=20, push_server=push_server)
    processes(config, 1)
    sockets = [PushSocket(server.ws_url(), uid=f"u{i}") for i in range(4)]
    server.signal(signal.SIGTERM)

    frames = [server_frame(sock) for sock in sockets]
    assert {frame["type"] for frame in frames} == {"reconnect"}
    assert sorted(frame["delay"] for frame in frames) == [0.0, 5.0, 10.0, 15.0]  # evenly over 20 s

    # New connections are refused at once (the supervisor closed its socket, the worker stopped listening).
    def refused() -> bool:
        try:
            with connect(server.ws_url(), origin=ORIGIN, open_timeout=5):  # type: ignore[arg-type]
                return False
        except ConnectionRefusedError:
            return True
        except Exception:
            return False  # accepted into the queue as the last listener closed, then reset: not yet

    wait_until(refused, "new connections refused")

    # Until its turn a connection keeps being served; the first one's turn came at once.
    order = sorted(range(4), key=lambda i: frames[i]["delay"])
    first, last = sockets[order[0]], sockets[order[-1]]
    assert until_closed(first) == ([], 1012)
    producer.call("send_to_uid", f"u{order[-1]}", "still served while draining")
    assert server_frame(last) == "still served while draining"

    server.signal(signal.SIGTERM)  # a second one: the rest are closed now
    for index in order[1:]:
        assert until_closed(sockets[index]) == ([], 1012)
    assert server.wait() == 0
    assert pushstats(config)["processes"] == []  # presence removed on the way out, not by expiry
    server.wait_for(r"worker 0: draining 4 connections over 20\.0 s")
    server.wait_for(r"pushserve: stopped")


class Prober(threading.Thread):
    """Opens (and closes) a welcomed connection after another until stopped; records every failure."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.served = 0
        self.failures: list[str] = []
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            try:
                PushSocket(self.url, uid="prober").close()
                self.served += 1
            except Exception as err:
                self.failures.append(repr(err))

    def stop(self) -> None:
        self._done.set()
        self.join(30)


def test_sighup_reloads_new_workers_first_and_no_connection_finds_nobody(
    serve: Serve, config: ProcessConfig, producer: Producer, push_server: str
) -> None:
    server = serve(workers=2, drain=2, push_server=push_server)
    old = {p["node"] for p in processes(config, 2, generation=1)}
    clients = [PushSocket(server.ws_url(), uid=f"c{i}") for i in range(4)]
    prober = Prober(server.ws_url())
    prober.start()
    wait_until(lambda: prober.served > 0, "the prober's first connection")

    server.signal(signal.SIGHUP)
    server.wait_serving(generation=2)
    server.wait_for(r"generation 2 serves; draining 2 old workers")
    new = {p["node"] for p in processes(config, 2, generation=2)}
    assert new.isdisjoint(old)

    # Each client does what pushapp.js does: reconnect at the time the server said, not before.
    reconnected = []
    for index, sock in enumerate(clients):
        frame = server_frame(sock)
        told = time.monotonic()
        assert frame["type"] == "reconnect", frame
        assert until_closed(sock) == ([], 1012)
        time.sleep(max(0.0, told + frame["delay"] - time.monotonic()))  # the protocol's delay, not luck
        again = PushSocket(server.ws_url(), uid=f"c{index}")  # the first attempt: no backoff needed
        assert node_of(again.client_id) in new
        reconnected.append(again)
    for pid_line in range(2):
        server.wait_for(rf"worker {pid_line} pid \d+ exited \(exit code 0\)")
    prober.stop()
    assert prober.failures == []
    assert prober.served > 0
    producer.call("send_to_uid", "c3", "after the reload")
    assert server_frame(reconnected[3]) == "after the reload"
    for sock in reconnected:
        sock.close()


def test_the_demo_runs_on_two_workers_with_its_static_files(redis_url: str) -> None:
    """``manage.py pushserve --workers 2`` on the demo project (REDIS_URL set, as the README says)."""
    config = ProcessConfig(redis_url, settings="demo_project.settings")
    server = PushServe(config, workers=2)
    try:
        for path in ("/static/pushapp/pushapp.js", "/accounts/login/"):  # DEBUG: static files as runserver
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            connection.request("GET", path)
            assert connection.getresponse().status == 200, path
            connection.close()
        workers = [p for p in processes(config, 2) if p.get("service")]
        assert len({p["service"] for p in workers}) == 1
    finally:
        server.stop()


# Enough to cover what is pushed while a client moves, even on a loaded machine: the claim is about the
# drain, not about the size of the history.
HISTORY = {"HISTORY": {"uid": {"size": 20000, "ttl": 600}}}


class Follower(threading.Thread):
    """A client of one uid doing what pushapp.js does across a reload, in its own thread: it keeps its
    position, waits the server's delay after a ``reconnect`` frame, and reconnects asking for what it
    missed. It reads until told how many pushes there were, and has them all (or fails)."""

    def __init__(self, url: str, uid: str) -> None:
        super().__init__(daemon=True)
        self.url, self.uid = url, uid
        self.socket = PushSocket(url, uid=uid)
        self.position = self.socket.welcome["streams"][f"uid:{uid}"]
        self.seen: list[int] = []
        self.moves = 0
        self.recovered: list[dict[str, bool]] = []
        self.expected: int | None = None  # set once the pushing is over
        self.error: BaseException | None = None

    def done(self) -> bool:
        return (
            self.expected is not None
            and len(self.seen) >= self.expected
            and len(self.recovered) >= self.moves
        )

    def run(self) -> None:
        try:
            self._follow()
        except BaseException as err:
            self.error = err

    def _follow(self) -> None:
        told_at: float | None = None
        delay = 0.0
        quiet_since = time.monotonic()
        while not self.done():
            try:
                frame = self.socket.recv_frame(timeout=0.2)
            except TimeoutError:
                if self.expected is not None and time.monotonic() - quiet_since > 15:
                    raise AssertionError(
                        f"{self.uid}: {len(self.seen)} of {self.expected} pushes, last {self.seen[-3:]}, "
                        f"{self.moves} moves, recovered {self.recovered}"
                    ) from None
                continue
            except ConnectionClosed:
                if told_at is not None:
                    time.sleep(max(0.0, told_at + delay - time.monotonic()))  # the protocol's delay
                recover = {f"uid:{self.uid}": self.position}
                self.socket = PushSocket(self.url, uid=self.uid, recover=recover)  # the first attempt
                self.moves += 1
                told_at = None
                continue
            quiet_since = time.monotonic()
            if frame["type"] == "push":
                self.seen.append(frame["data"])
                self.position = {"offset": frame["offset"], "epoch": frame["epoch"]}
            elif frame["type"] == "reconnect":
                told_at, delay = time.monotonic(), frame["delay"]
            elif frame["type"] == "recovered":
                self.recovered.append(frame["streams"])


def test_a_reload_loses_nothing_pushed_with_history_on(serve: Serve, config: ProcessConfig) -> None:
    settings = {"PUSHAPP_TEST_SETTINGS": json.dumps(HISTORY)}
    server = serve(workers=2, drain=2, extra_env=settings)
    followers = [Follower(server.ws_url(), f"h{i}") for i in range(3)]
    for follower in followers:
        follower.start()
    sent = 0
    with Producer(config, settings) as producer:

        def push() -> None:
            nonlocal sent
            sent += 1
            for follower in followers:
                producer.call("send_to_uid", follower.uid, sent)

        for _ in range(10):
            push()
        server.signal(signal.SIGHUP)
        # Keep pushing through the reload until every old worker has drained and exited.
        deadline = time.monotonic() + 60
        while server.output().count("exited (exit code 0)") < 2:
            assert time.monotonic() < deadline, f"the old workers did not exit:\n{server.output()[-6000:]}"
            push()
        for _ in range(10):
            push()
        producer.call("flush")
    for follower in followers:
        follower.expected = sent
    for follower in followers:
        follower.join(60)
        assert follower.error is None, follower.error
        assert follower.seen == list(range(1, sent + 1)), follower.uid  # each once, in order
        assert follower.moves == 1
        assert follower.recovered == [{f"uid:{follower.uid}": True}]
        follower.socket.close()


def test_ctrl_c_drains_once_workers_leave_sigint_to_the_supervisor(
    serve: Serve, config: ProcessConfig
) -> None:
    server = serve(workers=2, drain=1)
    workers = processes(config, 2)
    for pid in [server.pid, *(p["pid"] for p in workers)]:  # what Ctrl-C does: the whole process group
        os.kill(pid, signal.SIGINT)
    assert server.wait() == 0
    log = server.output()
    assert "pushserve: SIGINT: draining 2 workers" in log
    assert log.count(": draining 0 connections over 1.0 s") == 2
    assert "second SIGTERM" not in log  # SIGINT reached each worker only as the supervisor's SIGTERM
    assert pushstats(config)["processes"] == []


def test_workers_drain_and_exit_when_the_supervisor_is_killed(serve: Serve, config: ProcessConfig) -> None:
    server = serve(workers=2, drain=1)
    pids = [p["pid"] for p in processes(config, 2)]
    server.kill()  # SIGKILL: nothing relays; Linux sends each worker SIGTERM (PR_SET_PDEATHSIG)

    def all_gone() -> bool:
        return not any(_alive(pid) for pid in pids)

    wait_until(all_gone, "the orphaned workers to exit", timeout=30)
    wait_until(lambda: pushstats(config)["processes"] == [], "their presence removed")


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent that is gone (init reaps it soon)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
