"""Prometheus metrics of the whole cluster, read from presence, in one scrape (docs/metrics.md).

Every server process's hub reports its counters in its presence info (``Hub.info_pairs``: refreshed by
each presence heartbeat, ``PRESENCE_TTL / 3``), so whichever process answers the scrape exports every
node, labelled by ``node``, and the cluster's totals. The sending side (control-call latency, the sync-send
queue, messages nobody could take) is counted per process: the scrape shows the answering process's own,
labelled by ``process``. Needs the ``metrics`` extra (prometheus-client).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)

from .. import queries
from ..presence import get_backend
from ..presence.base import NodeInfo
from ..runtime import telemetry

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Per-node numbers: (presence field, metric name, kind, help).
_NODE_NUMBERS = [
    ("clients", "pushapp_connections", "gauge", "Open push connections of the node."),
    ("uids", "pushapp_uids", "gauge", "Distinct uids bound to the node's connections."),
    ("groups", "pushapp_groups", "gauge", "Groups with at least one of the node's connections."),
    ("delivered", "pushapp_deliveries", "counter", "Pushes written to the node's connections."),
    ("client_messages", "pushapp_client_messages", "counter", '"message" frames received from clients.'),
    ("control_handled", "pushapp_control_handled", "counter", "Per-connection operations the node answered."),
    (
        "control_seconds",
        "pushapp_control_handle_seconds",
        "counter",
        "Seconds the node spent answering per-connection operations.",
    ),
    ("layer_lag", "pushapp_layer_lag_seconds", "gauge", "Age of the node's last probe through the layer."),
    ("replayed", "pushapp_replayed", "counter", "Pushes replayed from history to reconnecting clients."),
    (
        "dropped_bytes",
        "pushapp_dropped_bytes",
        "counter",
        "Bytes lost with the pushes slow clients did not take.",
    ),
    ("started", "pushapp_node_start_time_seconds", "gauge", "When the node started (Unix time)."),
]

#: Per-node counters by one label: (presence field prefix, metric name, label, help).
_NODE_LABELLED = [
    ("drops", "pushapp_dropped", "reason", "Pushes lost by the node: slow, closed or error."),
    ("closes", "pushapp_closes", "code", "Connections the node closed, by close code."),
    ("auth_failures", "pushapp_auth_failures", "reason", "Refused authentications, by reason."),
    (
        "refused",
        "pushapp_refused",
        "reason",
        "Connections or frames refused by a limit (PUSHAPP limits), by reason.",
    ),
    (
        "recoveries",
        "pushapp_recoveries",
        "result",
        "Streams asked back after a reconnect (recovered, failed) and connections told they missed pushes.",
    ),
]

_INFO_LABELS = ("host", "pid", "service", "bind", "worker", "generation")


def _number(value: str | None) -> float:
    try:
        return float(value) if value is not None else 0.0
    except ValueError:
        return 0.0


def _family(kind: str, name: str, doc: str, labels: list[str]) -> Any:
    cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
    return cls(name, doc, labels=labels)


class ClusterCollector:
    """Every node in presence, and the cluster's totals."""

    def collect(self) -> Iterator[Metric]:
        nodes: list[NodeInfo] = get_backend().nodes()
        info = InfoMetricFamily("pushapp_node", "A server process of the cluster.", labels=["node"])
        age = GaugeMetricFamily(
            "pushapp_node_heartbeat_age_seconds",
            "Seconds since the node's last presence heartbeat.",
            labels=["node"],
        )
        numbers = [(field, _family(kind, name, doc, ["node"])) for field, name, kind, doc in _NODE_NUMBERS]
        labelled = [
            (prefix, CounterMetricFamily(name, doc, labels=["node", label]))
            for prefix, name, label, doc in _NODE_LABELLED
        ]
        for node in nodes:
            info.add_metric([node.node], {key: node.info.get(key, "") for key in _INFO_LABELS})
            age.add_metric([node.node], node.heartbeat_age)
            for field, family in numbers:
                family.add_metric([node.node], _number(node.info.get(field)))
            for prefix, family in labelled:
                for key, value in sorted(node.info.items()):
                    if key.startswith(prefix + "."):
                        family.add_metric([node.node, key[len(prefix) + 1 :]], _number(value))
        yield info
        yield age
        for _, family in [*numbers, *labelled]:
            yield family
        totals: list[tuple[str, str, float]] = [
            ("pushapp_cluster_nodes", "Server processes in presence.", len(nodes)),
            (
                "pushapp_cluster_connections",
                "Open push connections, all nodes.",
                queries.get_all_client_count(),
            ),
            ("pushapp_cluster_uids", "Distinct uids online, all nodes.", queries.get_all_uid_count()),
            (
                "pushapp_cluster_groups",
                "Groups with members, all nodes.",
                len(queries.get_all_group_id_list()),
            ),
        ]
        for name, doc, total in totals:
            yield GaugeMetricFamily(name, doc, value=total)


class ProcessCollector:
    """The sending side, as counted by the process answering the scrape."""

    def collect(self) -> Iterator[Metric]:
        process = f"{socket.gethostname()}:{os.getpid()}"
        stats = telemetry.stats
        calls = stats.control_calls
        histogram = HistogramMetricFamily(
            "pushapp_control_call_seconds",
            "Latency of per-connection operations this process asked for (join, bind, session, close).",
            labels=["process"],
        )
        cumulative, buckets = 0, []
        for bound, count in zip([*map(str, calls.bounds), "+Inf"], calls.counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        histogram.add_metric([process], buckets, calls.total)
        yield histogram
        depth = GaugeMetricFamily(
            "pushapp_sync_send_queue_depth", "Sync sends queued for the sender thread.", labels=["process"]
        )
        depth.add_metric([process], telemetry.sync_queue_depth())
        yield depth
        failures = CounterMetricFamily(
            "pushapp_sync_send_failures", "Sync sends that could not be written to Redis.", labels=["process"]
        )
        failures.add_metric([process], stats.sync_send_failures)
        yield failures
        dropped = CounterMetricFamily(
            "pushapp_send_dropped",
            "Sends dropped: the target channel was full (limit), a repeated idempotency key (duplicate), a "
            "stale version (version).",
            labels=["process", "reason"],
        )
        for reason in ("limit", "duplicate", "version"):
            dropped.add_metric([process, reason], stats.drops.get(reason, 0))
        yield dropped


def exposition() -> bytes:
    """The scrape's body, in Prometheus's text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ClusterCollector())
    registry.register(ProcessCollector())
    return generate_latest(registry)
