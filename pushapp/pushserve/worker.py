"""One pushserve worker: daphne on the listening socket its supervisor handed down, with its own hub.

``python -m pushapp.pushserve.worker --fd N --ready-fd M …`` (the supervisor starts it; DJANGO_SETTINGS_MODULE
comes from the environment). It writes ``ready`` to the ready pipe once it serves, then a heartbeat
from its event loop (``--worker-timeout``). SIGTERM drains
(:mod:`pushapp.server.hub.drain`) and exits; a second SIGTERM closes what is left at once. SIGINT is ignored:
Ctrl-C reaches the whole process group and the supervisor relays it. If the supervisor dies, Linux sends
the worker SIGTERM, so it drains instead of lingering.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import signal
import socket
import sys
from typing import Any

_PR_SET_PDEATHSIG = 1
logger = logging.getLogger("pushapp.pushserve")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pushapp.pushserve.worker")
    parser.add_argument("--fd", type=int, required=True, help="the inherited listening socket")
    parser.add_argument("--ready-fd", type=int, required=True, help="pipe to write 'ready' to")
    parser.add_argument(
        "--worker-timeout",
        type=float,
        default=0.0,
        help="the supervisor's watchdog: write heartbeats to the ready pipe (0: none, close it once ready)",
    )
    parser.add_argument("--drain", type=float, default=10.0)
    parser.add_argument("--service", default="")
    parser.add_argument("--worker", default="0")
    parser.add_argument("--generation", default="1")
    parser.add_argument("--bind", default="")
    parser.add_argument("--supervisor", type=int, default=0, help="the supervisor's pid")
    parser.add_argument("--access-log", default=None, help="file for daphne's access log, - for stdout")
    parser.add_argument("--proxy-headers", action="store_true")
    parser.add_argument("--push-server", choices=("native", "daphne"), default="native")
    parser.add_argument("--verbosity", type=int, default=1)
    return parser.parse_args(argv)


def die_with_parent(parent: int) -> None:
    """Have Linux send SIGTERM when the supervisor dies (and notice if it already has)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if parent and os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str]) -> int:
    args = parse(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(args.supervisor)
    logging.basicConfig(
        level=logging.INFO if args.verbosity >= 1 else logging.WARNING,
        format="%(asctime)s %(levelname)s [pid %(process)d] %(name)s: %(message)s",
    )
    import daphne.server  # noqa: F401  (installs Twisted's asyncio reactor: before anything imports Twisted)
    import django
    from django.apps import apps
    from django.conf import settings
    from django.utils.module_loading import import_string

    django.setup(set_prefix=False)
    from ..runtime import telemetry
    from .process import WorkerProcess

    telemetry.set_labels(
        service=args.service,
        bind=args.bind,
        supervisor=str(args.supervisor),
        worker=str(args.worker),
        generation=str(args.generation),
    )
    application: Any = import_string(settings.ASGI_APPLICATION)
    if settings.DEBUG and apps.is_installed("django.contrib.staticfiles"):
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

        application = ASGIStaticFilesHandler(application)  # as runserver does; in production: nginx
    family = _family(args.fd)
    WorkerProcess(application, args, family).run()
    return 0


def _family(fd: int) -> socket.AddressFamily:
    sock = socket.socket(fileno=fd)
    try:
        return sock.family
    finally:
        sock.detach()  # the descriptor stays open: Twisted adopts it


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
