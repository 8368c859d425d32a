"""Small process-level helpers every bench child uses: more sockets, and dying with the parent."""

from __future__ import annotations

import ctypes
import resource
import signal
import sys

_PR_SET_PDEATHSIG = 1


def raise_nofile_limit() -> int:
    """Raise the open-file soft limit to the hard limit (10,000 sockets need it); return the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies, so a killed orchestrator leaves nothing."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
