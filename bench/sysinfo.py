"""What /proc says about a process (CPU time, resident memory) and about this machine."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK")
PACKAGES = ("Django", "channels", "channels-redis", "daphne", "redis", "Twisted", "autobahn", "uvicorn")


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system (kernel) CPU seconds of ``pid``, all its threads, from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may contain spaces
    return int(fields[11]) / _TICKS, int(fields[12]) / _TICKS  # utime and stime: fields 14, 15 of proc(5)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid``."""
    return sum(cpu_times(pid))


def rss_kb(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (VmRSS of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def fd_count(pid: int) -> int:
    """Open file descriptors of ``pid`` (sockets included): a leak shows here first."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_total_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _redis_version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return "unknown"
    return next((part[2:] for part in out.split() if part.startswith("v=")), out.strip())


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages: other work on the machine would skew a run."""
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def machine(redis_binary: str) -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": _mem_total_gb(),
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "redis": _redis_version(redis_binary),
        "packages": {name: _version(name) for name in PACKAGES},
        "load_average_at_start": load_average(),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        # pushapp measured as it was in the working tree: uncommitted changes are listed here
        "pushapp_uncommitted": (_git("status", "--porcelain", "--", "pushapp") or "").splitlines(),
    }
