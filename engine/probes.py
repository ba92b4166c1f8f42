"""`/healthz` and `/readyz` beside `/metrics`, for Kubernetes probes, on the metrics port.

* `/healthz` (liveness): 200 while the event loop runs, 503 once it has not beaten for `STALL` seconds
  (a wedged process: restart it). It answers during a slow start too, so a large store is not killed
  while it opens.
* `/readyz` (readiness): 200 once the engine has started and its last health report said `ok` (NATS
  with JetStream and the store both answer), 503 with the report's `unreachable` parts otherwise.
* Anything else is the Prometheus exposition (`/metrics`).

The HTTP server runs in its own thread (prometheus_client's WSGI app behind a small router); it reads
what the loop's `watch` task last wrote, so a probe never waits for the loop or the store.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable
    from wsgiref.types import StartResponse, WSGIEnvironment

#: Seconds without a beat of the event loop after which the process is reported not alive.
STALL = 10.0
#: Seconds between two readiness checks.
EVERY = 1.0


class Probes:
    def __init__(self) -> None:
        self.beat = time.monotonic()
        self.ready = False
        self.detail: dict[str, Any] = {"status": "starting"}

    async def watch(self, health: Callable[[], Awaitable[dict[str, Any]] | None]) -> None:
        """Beat and check readiness every `EVERY` seconds until cancelled; `health()` returns None (or an
        awaitable) until the engine has started."""
        while True:
            self.beat = time.monotonic()
            check = health()
            if check is not None:
                try:
                    report = await check
                except Exception as error:  # readiness says why; the loop goes on
                    report = {"status": "degraded", "error": f"{type(error).__name__}: {error}"}
                self.ready = report.get("status") == "ok"
                self.detail = {key: report.get(key) for key in ("status", "unreachable", "error") if key in report}
            await asyncio.sleep(EVERY)

    def app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            stalled = time.monotonic() - self.beat
            alive = stalled < STALL
            return _json(start_response, alive, {"alive": alive, "since_beat_s": round(stalled, 3)})
        if path == "/readyz":
            return _json(start_response, self.ready, {"ready": self.ready, **self.detail})
        exposition: Iterable[bytes] = _metrics(environ, start_response)
        return exposition


_metrics = make_wsgi_app()


def _json(start_response: StartResponse, ok: bool, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    status = "200 OK" if ok else "503 Service Unavailable"
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(probes: Probes, port: int) -> int:
    """Serve /healthz, /readyz and /metrics on `port` (0 picks a free one) in a daemon thread; the bound port."""
    server = make_server("127.0.0.1" if port == 0 else "0.0.0.0", port, probes.app, _Server, _Quiet)
    threading.Thread(target=server.serve_forever, name="probes", daemon=True).start()
    return int(server.server_port)
