"""What one benchmark run does: the sizes, counts and switches, with the full and the quick presets."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

WORKLOADS = ("fanout", "throughput", "unicast", "memory", "sync", "presence")
#: Run only when asked for with --only: a soak takes minutes and measures stability, not speed.
EXTRA_WORKLOADS = ("soak",)
SYSTEMS = ("pushapp", "baseline")
HISTORY = ("off", "on", "both")
#: PUSHAPP["HISTORY"] of the pushapp server when history is on (docs/performance.md).
HISTORY_SETTING = {"uid": {"size": 100, "ttl": 600}, "group": {"size": 100, "ttl": 600}}
SERVERS = ("daphne", "uvicorn")
DEFAULT_OUT = Path(__file__).resolve().parent / "results"


@dataclass
class Options:
    ns: list[int] = field(default_factory=lambda: [1000, 5000, 10000])
    only: list[str] = field(default_factory=lambda: list(WORKLOADS))
    systems: list[str] = field(default_factory=lambda: list(SYSTEMS))
    server: str = "daphne"
    layer: str = "pubsub"
    out: Path = DEFAULT_OUT
    quick: bool = False
    client_processes: int = 3
    connect_concurrency: int = 32  # handshakes in flight per client process
    repeats: int = 5  # fan-out repetitions per N (the median is reported)
    throughput_ns: list[int] = field(default_factory=lambda: [1000, 5000])
    burst_count: int = 200
    message_size: int = 100
    unicast_count: int = 20000
    unicast_clients: int = 1000
    sync_calls: int = 10000  # timed calls per context (workload e)
    sync_connection_calls: int = 100000  # calls before the Redis connections are counted again
    baseline_sync_calls: int = 1000  # async_to_sync costs milliseconds per call: fewer of them
    settle: float = 5.0  # seconds without a new delivery after which a run counts as finished
    min_rate: float = 500.0  # deliveries/s below which a run is abandoned (its deadline)
    warmup: int = 10  # connections used once, before the idle-memory reference is taken
    profile: bool = True  # py-spy on the pushapp server during an extra workload b run
    docs_chart: bool = True  # also write docs/performance.png (full runs only)
    render: Path | None = None  # print the table of this earlier run's JSON instead of running
    history: str = "off"  # pushapp with PUSHAPP["HISTORY"] off, on, or both one after the other
    recovery_missed: int = 100  # pushes a client misses before it reconnects (history on)
    recovery_repeats: int = 5  # recoveries timed (the median is reported)
    soak_connections: int = 2000
    duration: float = 600.0  # seconds of the soak
    soak_rate: float = 20.0  # pushes per second to the group of every soak connection
    churn_fraction: float = 0.1  # of the soak connections, the ones that reconnect continuously
    churn_lifetime: float = 5.0  # mean seconds a churning connection lives before it reconnects
    sample_interval: float = 10.0  # seconds between the soak's RSS and fd samples

    @classmethod
    def quick_preset(cls) -> Options:
        """Tiny sizes: checks that everything works end to end in seconds, measures nothing useful."""
        return cls(
            ns=[5],
            quick=True,
            client_processes=2,
            repeats=2,
            throughput_ns=[5],
            burst_count=3,
            unicast_count=20,
            unicast_clients=5,
            sync_calls=200,
            sync_connection_calls=500,
            baseline_sync_calls=20,
            settle=2.0,
            warmup=2,
            profile=False,
            docs_chart=False,
            recovery_missed=20,
            recovery_repeats=2,
            soak_connections=20,
            duration=4.0,
            soak_rate=5.0,
            churn_lifetime=0.5,
            sample_interval=1.0,
        )

    def variants(self) -> list[tuple[str, str, bool]]:
        """What runs, in order: (result key, system, history on) for each system and history setting."""
        found = []
        for system in self.systems:
            if system == "pushapp" and self.history in ("off", "both"):
                found.append(("pushapp", "pushapp", False))
            if system == "pushapp" and self.history in ("on", "both"):
                found.append(("pushapp" if self.history == "on" else "pushapp+history", "pushapp", True))
            if system != "pushapp":
                found.append((system, system, False))
        return found

    def is_full(self) -> bool:
        """A run whose chart may replace docs/performance.png: every workload, both systems, default N."""
        return (
            not self.quick
            and sorted(self.only) == sorted(WORKLOADS)
            and sorted(self.systems) == sorted(SYSTEMS)
            and self.ns == [1000, 5000, 10000]
            and self.history != "on"
        )
