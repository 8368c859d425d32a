"""``python -m bench``: run the side-by-side benchmark and print the comparison table.

See docs/performance.md for what each workload measures. Writes <out>/latest.json and <out>/latest.png
(and docs/performance.png after a full run). Exit code 1 if a system failed to run.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from bench import orchestrate, report
from bench.lifetime import raise_nofile_limit
from bench.options import DEFAULT_OUT, EXTRA_WORKLOADS, HISTORY, SERVERS, SYSTEMS, WORKLOADS, Options


def _int_list(text: str) -> list[int]:
    return sorted({int(part) for part in text.split(",") if part.strip()})


def _names(allowed: tuple[str, ...]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",") if part.strip()]
        unknown = [name for name in names if name not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)}")
        return names

    return parse


def parse_options(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run, not a measurement")
    every = WORKLOADS + EXTRA_WORKLOADS
    parser.add_argument("--only", type=_names(every), help=f"comma-separated: {','.join(every)}")
    parser.add_argument(
        "--history", choices=HISTORY, help='pushapp with PUSHAPP["HISTORY"] off (default), on, or both'
    )
    parser.add_argument("--duration", type=float, help="seconds of the soak (default 600)")
    parser.add_argument("--soak-connections", type=int, help="connections held by the soak (default 2000)")
    parser.add_argument("--systems", type=_names(SYSTEMS), help="comma-separated: pushapp,baseline")
    parser.add_argument("--n", type=_int_list, help="connection counts, e.g. 1000,5000,10000")
    parser.add_argument("--throughput-n", type=_int_list, help="the N of workload b (default 1000,5000)")
    parser.add_argument("--server", choices=SERVERS, help="ASGI server for both systems (default daphne)")
    parser.add_argument("--layer", choices=("pubsub", "core"), help="channels-redis layer (default pubsub)")
    parser.add_argument("--clients", type=int, help="client processes (default 3)")
    parser.add_argument("--repeats", type=int, help="fan-out repetitions per N (default 5)")
    parser.add_argument("--out", type=Path, help=f"results directory (default {DEFAULT_OUT})")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy runs")
    parser.add_argument("--no-docs-chart", action="store_true", help="never write docs/performance.png")
    parser.add_argument(
        "--render", type=Path, metavar="JSON", help="run nothing: print the table of an earlier run's JSON"
    )
    args = parser.parse_args(argv)
    options = Options.quick_preset() if args.quick else Options()
    for name, value in (
        ("only", args.only),
        ("systems", args.systems),
        ("ns", args.n),
        ("throughput_ns", args.throughput_n),
        ("server", args.server),
        ("layer", args.layer),
        ("client_processes", args.clients),
        ("repeats", args.repeats),
        ("out", args.out),
        ("history", args.history),
        ("duration", args.duration),
        ("soak_connections", args.soak_connections),
    ):
        if value is not None:
            setattr(options, name, value)
    if args.n is not None and args.throughput_n is None and args.quick:
        options.throughput_ns = list(args.n)
    options.profile = options.profile and not args.no_profile
    options.docs_chart = options.docs_chart and not args.no_docs_chart
    options.render = args.render
    return options


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # so the finally blocks kill every child


def main(argv: list[str]) -> int:
    options = parse_options(argv)
    if options.render is not None:
        print(report.markdown(json.loads(options.render.read_text())))
        return 0
    signal.signal(signal.SIGTERM, _interrupt)
    raise_nofile_limit()  # inherited by every child

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    results = orchestrate.run(options, say)
    json_path = report.write_json(results, options.out)
    chart_path = report.write_chart(results, options.out, docs=options.docs_chart and options.is_full())
    print(report.markdown(results))
    say(f"\nresults: {json_path}\nchart: {chart_path}\ntook {results['duration_s']} s")
    failed = [name for name, system in results["systems"].items() if system.get("error")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
