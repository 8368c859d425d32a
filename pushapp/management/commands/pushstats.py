"""``manage.py pushstats``: the live state of every server process, like ``php start.php status``."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...exceptions import PushappError
from ...observe.stats import render, snapshot


class Command(BaseCommand):
    help = "Show connected clients, uids and groups, and each server process, across the whole cluster."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the snapshot as JSON (schema: docs)")
        parser.add_argument(
            "--watch", type=float, metavar="SECONDS", help="refresh every SECONDS until Ctrl-C"
        )
        parser.add_argument("--group", metavar="NAME", help="also list the members of group NAME")
        parser.add_argument("--top", type=int, default=10, help="how many of the largest groups to show")

    def handle(self, *args: Any, **options: Any) -> None:
        watch = options["watch"]
        if watch is not None and watch <= 0:
            raise CommandError("--watch takes a positive number of seconds")
        try:
            while True:
                self._show(options)
                if watch is None:
                    return
                time.sleep(watch)  # a refresh interval, not a wait for a condition
        except KeyboardInterrupt:
            self.stdout.write("")

    def _show(self, options: dict[str, Any]) -> None:
        try:
            data = snapshot(top=options["top"], group=options["group"])
        except PushappError as err:
            raise CommandError(str(err)) from err
        except Exception as err:  # the backend (Redis) cannot be reached or answered nonsense
            raise CommandError(f"cannot read pushapp presence: {err}") from err
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2, sort_keys=True))
        else:
            if options["watch"] is not None:
                self.stdout.write("\x1b[2J\x1b[H", ending="")  # clear the screen between refreshes
            self.stdout.write(render(data), ending="")
