"""What the three network emulators share: a threaded HTTP server on loopback, the world's
clock, injected faults, request stats, and the admin endpoints tests and benchmarks drive them
through (`GET <admin>/stats`, `GET|POST <admin>/state`).

Each emulator subclasses EmulatorServer (its Faults and Stats dataclasses, its request
handler) and EmulatorHandler (its routes); the network's own protocol stays in its server
module. Nothing here knows a network.
"""

from __future__ import annotations

import copy
import datetime
import json
import random
import threading
from collections import deque
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar


class EmulatorServer:
    """A network emulator's lifecycle, clock, faults and stats.

    A subclass sets faults_type and stats_type (dataclasses; faults with from_dict and to_dict,
    stats with to_dict and an `abandoned` counter) and returns its handler from handler_class.
    """

    faults_type: ClassVar[type[Any]]  # with from_dict, which `type` does not promise
    stats_type: ClassVar[type]

    def __init__(self, world: Any, *, host: str, port: int):
        self.world = world
        self.host, self.port = host, port
        self._date: date = world.start
        self._faults = self.faults_type()
        self._rng = random.Random(0)
        self._stats = self.stats_type()
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    # lifecycle
    def start(self):
        self._server = ThreadingHTTPServer((self.host, self.port), self.handler_class())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        # a short poll interval keeps stop() (and a test's teardown) fast
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None  # start() made both
            self._thread.join()
            self._server = None

    def wait(self) -> None:
        """Block until the server stops (for the CLI)."""
        if self._thread is not None:
            self._thread.join()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # clock, faults, stats
    @property
    def date(self) -> date:
        return self._date

    def set_date(self, d: datetime.date) -> None:  # `date` here is the property above
        """Serve the world's state as of date d."""
        if d < self.world.start:
            raise ValueError(f"{d} is before the world's start {self.world.start}")
        self._date = d

    @property
    def faults(self):
        return self._faults

    @faults.setter
    def faults(self, faults) -> None:
        if not isinstance(faults, self.faults_type):
            faults = self.faults_type.from_dict(faults)
        with self._lock:
            self._faults = faults
            self._faults_changed(faults)

    def _faults_changed(self, faults) -> None:
        """Under the lock, after new faults are set: restart their random draws."""
        self._rng = random.Random(getattr(faults, "seed", 0))

    @property
    def stats(self):
        with self._lock:
            return copy.deepcopy(self._stats)

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = self.stats_type()
            self._hits.clear()

    def _count_abandoned(self) -> None:
        with self._lock:
            self._stats.abandoned += 1

    # the admin endpoints
    def apply_state(self, data: dict) -> None:
        """An admin state update: {"date": "YYYY-MM-DD", "faults": {...}, "reset_stats": true}
        (an emulator may accept more keys: apply_more_state)."""
        if "date" in data:
            self.set_date(date.fromisoformat(data["date"]))
        if "faults" in data:
            self.faults = self.faults_type.from_dict(data["faults"])
        self.apply_more_state(data)
        if data.get("reset_stats"):
            self.reset_stats()

    def apply_more_state(self, data: dict) -> None:
        """The emulator's own keys of an admin state update (none here)."""

    def state(self) -> dict:
        """What `GET <admin>/state` answers."""
        return {"date": self.date.isoformat(), "faults": self.faults.to_dict()}


class EmulatorHandler(BaseHTTPRequestHandler):
    """One request to an emulator: GET and POST go to route(body); admin() answers the admin
    endpoints; send_bytes counts a client that hung up as abandoned. A subclass sets
    `emulator` and writes route()."""

    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: without this a client waits 40 ms for the body
    disable_nagle_algorithm = True
    emulator: ClassVar[EmulatorServer]
    json_content_type: ClassVar[str] = "application/json; charset=utf-8"

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self.route(b"")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self.route(self.rfile.read(length) if length else b"")

    def route(self, body: bytes) -> None:
        raise NotImplementedError

    def admin(self, action: str, body: bytes) -> None:
        emulator = self.emulator
        if action == "stats" and self.command == "GET":
            return self.send_json(200, emulator.stats.to_dict())
        if action == "state":
            if self.command == "POST":
                try:
                    emulator.apply_state(json.loads(body or b"{}"))
                except (ValueError, TypeError) as exc:
                    return self.send_json(400, {"error": str(exc)})
            return self.send_json(200, emulator.state())
        self.send_json(404, {"error": f"unknown admin endpoint {action}"})

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        """A JSON answer; None as payload is an injected 5xx: an HTML page, as a failing proxy
        sends."""
        if payload is None:
            data = f"<html><body><h1>{status}</h1></body></html>".encode()
            return self.send_bytes(status, data, "text/html", headers)
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_bytes(status, data, self.json_content_type, headers)

    def send_bytes(
        self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # the client gave up waiting (its timeout, e.g. under the `delay` fault), as a real
            # client does with a slow network; the emulator just counts it
            self.emulator._count_abandoned()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # access logs would carry tokens and signed query strings and drown test output
