"""What every local provider server shares (Microsoft, Google, ClickUp — in tests and in the
sandbox of ``make run``): the HTTP plumbing (a threaded server on 127.0.0.1, started and
stopped, usable as a context manager), the request handler that hands each request to the
fake's ``handle`` and keeps ``/_sandbox/`` control endpoints local, and the pickled state a
sandbox account keeps across restarts.

A fake is a dataclass that mixes in ``LocalServer``, calls ``_local_init()`` from its
``__post_init__``, and provides ``port``, ``state_path``, ``_lock`` and
``handle(method, target, headers, body) -> (status, headers, body)``; it overrides
``_state``/``_restore`` to say what its sandbox keeps.
"""

from __future__ import annotations

import pickle
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol, Self

Answer = tuple[int, dict[str, str], bytes]


class Handles(Protocol):
    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer: ...


class Handler(BaseHTTPRequestHandler):
    owner: Handles
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        if self.path.startswith("/_sandbox/") and self.client_address[0] not in ("127.0.0.1", "::1"):
            status, out_headers, payload = 403, {"Content-Type": "text/plain"}, b"local only"
        else:
            status, out_headers, payload = self.owner.handle(self.command, self.path, headers, body)
        self.send_response(status)
        for name, value in out_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _serve  # noqa: N815 - http.server naming
    do_POST = _serve  # noqa: N815
    do_PUT = _serve  # noqa: N815
    do_DELETE = _serve  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr
        pass


class LocalServer:
    """Start/stop, ``base_url`` and persistence for a fake provider (see the module doc)."""

    port: int
    state_path: Path | None
    _lock: threading.RLock
    thread_name = "fake-provider"

    def _local_init(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, f"{type(self).__name__} is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Self:
        fake = self

        class Bound(Handler):
            owner = fake  # type: ignore[assignment]

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Bound)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- persistence (the sandbox) -------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        """What the sandbox keeps across restarts."""
        raise NotImplementedError

    def _restore(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def _load(self) -> bool:
        """The state saved by ``save``, if any: True when restored."""
        if self.state_path is None or not self.state_path.exists():
            return False
        try:
            # Our own file under KB_DATA_DIR, written by save(); never data from elsewhere.
            state = pickle.loads(self.state_path.read_bytes())  # noqa: S301
            self._restore(state)
        except Exception:  # a state from an older version: start afresh
            return False
        return True

    def save(self) -> None:
        if self.state_path is None:
            return
        with self._lock:
            data = pickle.dumps(self._state())
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.chmod(0o600)
        tmp.replace(self.state_path)
