"""OpenTelemetry set up once per process: a tracer, a meter, a Prometheus endpoint, and traces over OTLP.

Traces leave the process when `JETFLOW_OTLP_ENDPOINT` (an OTLP/HTTP base URL such as
`http://collector:4318`) or the standard `OTEL_EXPORTER_OTLP_ENDPOINT` /
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set; the other `OTEL_*` variables (headers, timeout, sampler,
`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, batch sizes) are the SDK's and apply as documented there.

The engine's own instruments are created here, in one place, so the Grafana dashboards in deploy/
can name exactly what is exported. Metrics go through OpenTelemetry's Prometheus reader, which
registers on prometheus_client's default registry; engine/probes.py serves it over HTTP.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, propagate, trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

if TYPE_CHECKING:
    from collections.abc import Mapping

    from opentelemetry.context import Context
    from opentelemetry.metrics import Counter, Histogram, Meter
    from opentelemetry.trace import Tracer

SERVICE_NAME = "jetflow"
#: The resource attribute that names the peer (exported on every series as `service_namespace`).
PEER_ATTRIBUTE = "service.namespace"

#: Handler latencies in seconds: most handlers are a few store commands, a few are Kubernetes calls.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class Instruments:
    """Every metric the engine exports (Prometheus names in the docstrings of deploy/grafana)."""

    messages: Counter
    """jetflow_messages_handled_total{subject, outcome=ok|dead_lettered|retried}"""
    latency: Histogram
    """jetflow_handler_duration_seconds{subject}"""
    dead_letters: Counter
    """jetflow_dead_letters_total{subject, code}"""
    ctl_requests: Counter
    """jetflow_ctl_requests_total{endpoint, outcome}"""
    ctl_rejected: Counter
    """jetflow_ctl_rejected_total{endpoint, code}: bad requests, answered with an error, never dead-lettered"""
    redeliveries: Counter
    """jetflow_redeliveries_total{subject}: deliveries of a message after its first (a retry)"""


@dataclass(frozen=True, slots=True)
class Telemetry:
    tracer: Tracer
    meter: Meter
    instruments: Instruments
    tracer_provider: TracerProvider
    meter_provider: MeterProvider


_telemetry: Telemetry | None = None


_exporting: set[str] = set()


def export_traces(provider: TracerProvider, endpoint: str | None) -> str | None:
    """Send spans over OTLP/HTTP to `endpoint`, or to the one the standard `OTEL_*` variables name; once
    per destination and process. Returns where spans go, or None when nowhere is configured."""
    standard = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    where = endpoint or standard
    if not where or where in _exporting:
        return where or None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # JETFLOW_OTLP_ENDPOINT is a base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is; the exporter itself
    # reads the standard variables when it is given no endpoint.
    exporter = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces") if endpoint else OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    _exporting.add(where)
    return where


def carrier() -> dict[str, str]:
    """The current trace context as headers (`traceparent`), to store beside work that goes on later."""
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers


def context_of(headers: Mapping[str, Any] | None) -> Context:
    """The trace context a message's or a record's headers carry (a new trace when they carry none)."""
    return propagate.extract(dict(headers or {}))


def setup_telemetry(version: str, otlp_endpoint: str | None = None, *, peer: str = "local") -> Telemetry:
    """Install the global providers once; later calls return the same objects (tests start many engines).
    Traces are exported to `otlp_endpoint` (or the standard OTEL_* endpoint) from the first call naming one.

    The peer id is the resource's `service.namespace`, so every exported series carries
    `service_namespace="<peer>"` (the `peer` variable of deploy/grafana/jetflow.json), and every span too.
    One process runs one engine; in tests, which start many, the first engine's peer names them all."""
    global _telemetry
    if _telemetry is not None:
        export_traces(_telemetry.tracer_provider, otlp_endpoint)
        return _telemetry
    resource = Resource.create({"service.name": SERVICE_NAME, "service.version": version, PEER_ATTRIBUTE: peer})
    tracer_provider = TracerProvider(resource=resource)
    reader = PrometheusMetricReader(resource_attribute_filter=lambda key: key == PEER_ATTRIBUTE)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    export_traces(tracer_provider, otlp_endpoint)
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    meter = meter_provider.get_meter(SERVICE_NAME, version)
    instruments = Instruments(
        messages=meter.create_counter("jetflow.messages.handled", description="Messages handled, by outcome."),
        latency=meter.create_histogram(
            "jetflow.handler.duration",
            unit="s",
            description="Time from delivery to ack.",
            explicit_bucket_boundaries_advisory=LATENCY_BUCKETS,
        ),
        dead_letters=meter.create_counter("jetflow.dead_letters", description="Dead-letter records, by code."),
        ctl_requests=meter.create_counter("jetflow.ctl.requests", description="jetflow.ctl requests, by outcome."),
        ctl_rejected=meter.create_counter(
            "jetflow.ctl.rejected", description="jetflow.ctl requests refused as bad input, by endpoint and code."
        ),
        redeliveries=meter.create_counter(
            "jetflow.redeliveries", description="Messages delivered again after a failed or timed-out delivery."
        ),
    )
    _telemetry = Telemetry(
        tracer=tracer_provider.get_tracer(SERVICE_NAME, version),
        meter=meter,
        instruments=instruments,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )
    return _telemetry
