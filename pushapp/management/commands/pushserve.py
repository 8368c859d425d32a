"""``manage.py pushserve``: the project's ASGI application on daphne workers, like ``php start.php start``."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...conf import push_settings
from ...pushserve.listener import DEFAULT_BACKLOG, open_listener, raise_nofile_limit
from ...pushserve.supervisor import Supervisor, worker_command
from ...runtime.layer import layer_kind


class Command(BaseCommand):
    help = (
        "Serve the ASGI application (the push WebSocket and Django's views) on daphne worker processes "
        "sharing one listening socket. SIGTERM/SIGINT drain and stop, SIGHUP reloads without a gap."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--workers", type=int, default=_cores(), help="worker processes (default: the cores it may use)"
        )
        parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000; 0: any free one)")
        parser.add_argument(
            "--drain",
            type=float,
            default=10.0,
            metavar="SECONDS",
            help="on SIGTERM or a reload, spread the clients' reconnects over this long (default 10)",
        )
        parser.add_argument(
            "--worker-timeout",
            type=float,
            metavar="SECONDS",
            help="kill and replace a worker whose event loop sent no heartbeat for this long (default: "
            'PUSHAPP["WORKER_TIMEOUT"], 30; 0: never)',
        )
        parser.add_argument("--backlog", type=int, default=DEFAULT_BACKLOG, help="listen backlog")
        parser.add_argument(
            "--access-log", metavar="FILE", help="daphne's access log: a file, or - for stdout"
        )
        parser.add_argument(
            "--proxy-headers", action="store_true", help="trust X-Forwarded-For/-Port/-Proto (behind a proxy)"
        )
        parser.add_argument(
            "--push-server",
            choices=("native", "daphne"),
            default="native",
            help="who serves the push WebSocket: pushapp's own server (native, the default: less than "
            "half of daphne's memory per connection; every other request goes to daphne), or daphne",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1")
        if options["drain"] < 0:
            raise CommandError("--drain cannot be negative")
        timeout = options["worker_timeout"]
        if timeout is None:
            timeout = push_settings.WORKER_TIMEOUT
        if timeout < 0:
            raise CommandError("--worker-timeout cannot be negative")
        if not getattr(settings, "ASGI_APPLICATION", None):
            raise CommandError("settings.ASGI_APPLICATION is not set: pushserve serves that application")
        if options["workers"] > 1 and layer_kind() == "memory":
            self.stderr.write(
                "pushserve: with the in-memory channel layer each worker reaches only its own connections, "
                "and nothing outside the workers can push: use channels-redis (docs/deployment.md)."
            )
        verbosity = options["verbosity"]
        logging.basicConfig(
            level=logging.INFO if verbosity >= 1 else logging.WARNING,
            format="%(asctime)s %(levelname)s [pid %(process)d] %(name)s: %(message)s",
        )
        soft, hard = raise_nofile_limit()
        try:
            sock = open_listener(options["bind"], options["port"], options["backlog"])
        except OSError as err:
            raise CommandError(f"cannot listen on {options['bind']}:{options['port']}: {err}") from err
        bind = _address(sock)
        self.stdout.write(f"pushserve: listening on {bind} (open-file limit {soft}, hard {hard})")
        self.stdout.flush()
        worker_options = [f"--verbosity={verbosity}", f"--worker-timeout={timeout}"]
        if options["access_log"]:
            worker_options.append(f"--access-log={options['access_log']}")
        if options["proxy_headers"]:
            worker_options.append("--proxy-headers")
        worker_options.append(f"--push-server={options['push_server']}")
        service = secrets.token_hex(4)  # names this run of pushserve in presence: pushstats groups by it
        _export_project_path()
        supervisor = Supervisor(
            sock,
            options["workers"],
            options["drain"],
            worker_command(options["drain"], service, bind, worker_options),
            timeout,
        )
        sys.exit(supervisor.run())


def _cores() -> int:
    """The cores this process may run on (a container's or taskset's share), not the machine's."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _export_project_path() -> None:
    """Let the workers (``python -m …``) import the project as this process does: manage.py's directory
    and the current one on PYTHONPATH. DJANGO_SETTINGS_MODULE is already in the environment."""
    paths = [p for p in (sys.path[0] or os.getcwd(), os.getcwd()) if p]
    existing = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([*dict.fromkeys(paths), *([existing] if existing else [])])
