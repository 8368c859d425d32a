"""Where an idle connection's memory goes: Python allocations per connection, by package.

``python -m bench.membreakdown [--system pushapp|baseline] [--server daphne|native] [--n 5000]`` starts
one server with tracemalloc on (BENCH_TRACEMALLOC=1, see bench/serve.py), takes a reference snapshot
after a warm-up, opens ``n`` idle connections, and prints how much each package's allocations grew,
divided by ``n``.
Tracing slows the server and adds its own memory, so the RSS figure printed here is larger than
workload d's; the per-package split is what this is for. Malloc overhead and kernel socket buffers are
not Python allocations and do not appear.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import time
from collections import Counter
from pathlib import Path

from bench import workloads
from bench.options import DEFAULT_OUT
from bench.pool import ClientPool
from bench.procs import Environment, Server, kill_all
from bench.senders import SYSTEMS
from bench.serve import TRACE_PREFIX
from bench.sysinfo import rss_kb
from tests.support.redis_server import RedisServer

_STAT = re.compile(re.escape(TRACE_PREFIX) + r" (\d+) (-?\d+) (.*)$")
SNAPSHOT_TIMEOUT = 120.0


def package(filename: str) -> str:
    """A source file's owner: the installed package, the repository path, or the stdlib module."""
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    root = str(Path(__file__).resolve().parent.parent) + "/"
    if filename.startswith(root):
        return filename[len(root) :]
    return "stdlib " + filename.rsplit("/", 1)[-1]


def _wait_for(log: Path, text: str) -> None:
    deadline = time.monotonic() + SNAPSHOT_TIMEOUT
    while text not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {text!r} in {log}")
        time.sleep(0.1)


def breakdown(log: Path, n: int, lines: bool = False) -> tuple[float, list[tuple[str, float]]]:
    """Bytes per connection in all, and per package (or source line), from the server's second
    tracemalloc report."""
    per_package: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        match = _STAT.match(line.strip())
        if match:
            where = match.group(3)
            if lines:
                source, line_number = where.rsplit(":", 1)
                name = f"{package(source)}:{line_number}"
            else:
                name = package(where)
            per_package[name] += int(match.group(1))
    total = sum(per_package.values()) / n
    return total, [(name, size / n) for name, size in per_package.most_common()]


def run(system: str, n: int, out: Path, lines: bool = False, server_kind: str = "daphne") -> None:
    os.environ["BENCH_TRACEMALLOC"] = "lineno" if lines else "1"
    with RedisServer() as redis:
        try:
            environment = Environment(redis.url, system, log_dir=out / "logs")
            server = Server(environment, server_kind)
            pool = ClientPool(environment, 2)
            pool.grow(10, server.port, workloads.GROUP, 32, 60)
            pool.close()
            workloads.wait_quiet(server.pid)
            os.kill(server.pid, signal.SIGUSR1)
            _wait_for(server.log_path, "reference snapshot taken")
            before = rss_kb(server.pid)
            pool.grow(n, server.port, workloads.GROUP, 32, max(60.0, n / 20))
            workloads.wait_quiet(server.pid)
            after = rss_kb(server.pid)
            os.kill(server.pid, signal.SIGUSR1)
            _wait_for(server.log_path, f"{TRACE_PREFIX} end")
        finally:
            kill_all()
    total, packages = breakdown(server.log_path, n, lines)
    grown = (after - before) / n
    print(f"{system} on {server_kind}, {n:,} idle connections, under tracemalloc: {grown:.1f} KB RSS each")
    print(f"Python allocations per connection: {total / 1024:.1f} KB")
    for name, size in packages[: 40 if lines else 25]:
        print(f"{size:8.0f} B  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", choices=SYSTEMS, default="pushapp")
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--lines", action="store_true", help="per source line instead of per package")
    parser.add_argument(
        "--server", choices=("daphne", "native"), default="daphne", help="native: pushapp's own server"
    )
    args = parser.parse_args()
    run(args.system, args.n, args.out, args.lines, args.server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
