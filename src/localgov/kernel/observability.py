"""Structured JSON logs (structlog) and Prometheus metrics without a per-tenant label."""

from __future__ import annotations

import gc
import logging
import sys
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class _StdoutHandler(logging.StreamHandler[Any]):
    """Writes to whatever ``sys.stdout`` is now (test runners swap it), not to the one at set-up."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(level: str, json: bool = True) -> None:
    """Every line is one JSON object carrying the bound ``request_id`` and ``tenant``.

    Lines of the standard library's loggers (uvicorn, asyncio, alembic) go through the same
    processors, so the output stays one JSON object per line.
    """
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    handler = _StdoutHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level)),
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=False,
    )


class Metrics:
    """The application's metrics on a registry of its own (one per app instance)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "localgov_http_requests",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "localgov_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.tenants = Gauge("localgov_tenants", "Tenants in the in-memory catalog", registry=self.registry)
        self.catalog_version = Gauge(
            "localgov_catalog_reloads", "Times this process rebuilt its catalog map", registry=self.registry
        )
        self.pool_in_use = Gauge("localgov_db_pool_checked_out", "Pooled connections in use", registry=self.registry)


def tune_gc_for_serving() -> None:
    """Garbage collection for a long-running server process, once its application is built.

    Everything alive after start-up (modules, routes, metadata, compiled statements) is moved out of
    the collector's sight (``gc.freeze``), and the young generation is collected after 50,000
    allocations instead of 700: with the default thresholds, full collections walking the whole
    heap put getBill's p99 at 120-140 ms at 32 clients; with these it was 31-33 ms (bench/README.md
    "Peers"). Only the server calls this: tests build many applications in one process.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
