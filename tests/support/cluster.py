"""A cluster: N daphne servers and a producer on one Redis, one channel-layer prefix and one database."""

from __future__ import annotations

from collections.abc import Mapping

from tests.support.processes import DaphneProcess, ProcessConfig, Producer

LAYERS = ("core", "pubsub")


class Cluster:
    """Processes started together and torn down together (killed: tests should not wait on shutdowns)."""

    def __init__(
        self, config: ProcessConfig, extra_env: Mapping[str, str] | None = None, server: str = "daphne"
    ) -> None:
        if config.layer not in LAYERS:
            raise ValueError(f"layer must be one of {LAYERS}, not {config.layer!r}")
        self.config = config
        self.extra_env = dict(extra_env or {})
        self.server = server  # what serves the push path: see DaphneProcess
        self.servers: list[DaphneProcess] = []
        self._producer: Producer | None = None

    def start(self, servers: int, producer: bool) -> Cluster:
        """Spawn everything first, then wait for each: the processes boot in parallel."""
        try:
            spawned = [self.add_server(wait=False) for _ in range(servers)]
            if producer:
                self._producer = Producer(self.config, self.extra_env, wait=False)
            for server in spawned:
                server.wait_ready()
            if self._producer is not None:
                self._producer.wait_ready()
        except BaseException:
            self.kill()
            raise
        return self

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            raise RuntimeError("this cluster was started with producer=False")
        return self._producer

    def add_server(
        self, extra_env: Mapping[str, str] | None = None, wait: bool = True, port: int = 0
    ) -> DaphneProcess:
        """One more daphne on the same Redis, prefix and database (e.g. replacing a dead one, on its port)."""
        server = DaphneProcess(
            self.config, {**self.extra_env, **(extra_env or {})}, wait=wait, port=port, server=self.server
        )
        self.servers.append(server)
        return server

    def kill(self) -> None:
        for server in self.servers:
            server.kill()
        if self._producer is not None:
            self._producer.kill()

    def output(self) -> str:
        """Every process's log, labelled, for assertion messages."""
        parts = [f"--- daphne pid {s.pid} ---\n{s.output()}" for s in self.servers]
        if self._producer is not None:
            parts.append(f"--- producer pid {self._producer.pid} ---\n{self._producer.output()}")
        return "\n".join(parts)
