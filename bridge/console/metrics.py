"""The console's metrics, on the app's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class ConsoleMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.clients = Gauge(
            "bridge_console_stream_clients",
            "Event stream clients connected (GET /api/events)",
            registry=registry,
        )
        self.messages = Counter(
            "bridge_console_stream_messages_total",
            "Messages published to the event stream, by type",
            ["type"],
            registry=registry,
        )
        self.cut = Counter(
            "bridge_console_stream_cut_total",
            "Stream clients cut because their queue was full (console.queue_size): a slow client",
            registry=registry,
        )
        self.joins = Counter(
            "bridge_console_stream_joins_total",
            "Stream connections, by how they began: new, resumed (Last-Event-ID within the ring),"
            " reload (told to read everything again), refused (console.max_clients)",
            ["outcome"],
            registry=registry,
        )
