"""A local HTTP server that speaks the OpenAI embeddings wire format, for tests.

The real ``openai`` client talks to it, so its retries, base64 decoding and error
classes run for real. Usage::

    with FakeOpenAI() as fake:
        settings.OPENAI_BASE_URL = fake.base_url
        settings.OPENAI_API_KEY = fake.api_key
        fake.fail_next(2, status=429)
        ...
        assert fake.request_count == 3

It enforces the API's limits (≤ 2,048 inputs, ≤ 300,000 tokens per request, no empty
input) so batching bugs fail loudly. Vectors are deterministic per text
(``FakeOpenAI.vector_for``), so tests can check which vector belongs to which input.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL_DIMS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


@dataclass
class RecordedRequest:
    path: str
    authorization: str
    body: dict[str, Any]
    status: int = 0  # what the fake answered

    @property
    def inputs(self) -> list[str]:
        value = self.body.get("input", [])
        return [value] if isinstance(value, str) else list(value)

    @property
    def encoding_format(self) -> str:
        return str(self.body.get("encoding_format", "float"))


@dataclass
class _Failure:
    status: int
    headers: dict[str, str]
    error: dict[str, Any]


@dataclass
class FakeOpenAI:
    api_key: str = "test-key"
    shuffle: bool = False  # answer with data in reverse order, as the API is allowed to
    # Extra models the fake serves, name -> dimension: small vectors keep big batches cheap.
    models: dict[str, int] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- scripting ----------------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 429,
        message: str | None = None,
        code: str | None = None,
        retry_after_ms: int | None = 1,
    ) -> None:
        """Answer the next ``count`` embedding requests with ``status``.

        ``retry_after_ms`` is sent as ``retry-after-ms`` (the client honours it over its own
        back-off, so tests stay fast); ``Retry-After: 0`` is sent too, as the API does.
        """
        headers = {"Retry-After": "0"}
        if retry_after_ms is not None:
            headers["retry-after-ms"] = str(retry_after_ms)
        error_type = {
            400: "invalid_request_error",
            401: "invalid_request_error",
            404: "invalid_request_error",
            429: "requests",
        }.get(status, "server_error")
        error = {
            "message": message or f"Injected failure ({status})",
            "type": error_type,
            "param": None,
            "code": code or ("rate_limit_exceeded" if status == 429 else None),
        }
        with self._lock:
            self._failures.extend(_Failure(status, dict(headers), error) for _ in range(count))

    @property
    def request_count(self) -> int:
        return len(self.requests)

    @staticmethod
    def tokens_for(text: str) -> int:
        """The usage the fake bills for one input (about one token per four characters)."""
        return max(1, len(text) // 4)

    @staticmethod
    def vector_for(text: str, dim: int = 1536) -> list[float]:
        """The deterministic vector the fake returns for ``text`` (float32-exact)."""
        return list(_vector(text, dim))

    # --- lifecycle ----------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeOpenAI is not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # so stop() is quick
            name="fake-openai",
            daemon=True,
        )
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

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- request handling (called from server threads) -----------------------------

    def _answer(self, record: RecordedRequest) -> _Answer:
        if record.path.rstrip("/") != "/v1/embeddings":
            return _reject(404, f"Unknown path {record.path}", "invalid_request_error", None)
        if record.authorization != f"Bearer {self.api_key}":
            # The real API quotes a masked key; never the key itself.
            return _reject(
                401,
                "Incorrect API key provided: sk-****. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            return failure.status, failure.headers, {"error": failure.error}

        body = record.body
        model = body.get("model")
        dims = {**MODEL_DIMS, **self.models}
        if model not in dims:
            return _reject(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            )
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if (
            not isinstance(inputs, list)
            or not inputs
            or not all(isinstance(t, str) for t in inputs)
        ):
            return _reject(
                400,
                "'input' must be a string or a non-empty list of strings",
                "invalid_request_error",
                None,
            )
        if len(inputs) > 2048:
            return _reject(
                400, "'input' must have at most 2048 items", "invalid_request_error", None
            )
        if any(text == "" for text in inputs):
            return _reject(
                400, "'input' cannot contain an empty string", "invalid_request_error", None
            )
        tokens = [self.tokens_for(text) for text in inputs]
        if any(count > 8192 for count in tokens):
            return _reject(400, "An input exceeds 8192 tokens", "invalid_request_error", None)
        if sum(tokens) > 300_000:
            return _reject(
                400,
                "Requested 300001 or more tokens, max 300000 tokens per request",
                "invalid_request_error",
                "max_tokens_per_request",
            )
        dim = int(body.get("dimensions") or dims[model])
        encoding = body.get("encoding_format", "float")
        data = []
        for index, text in enumerate(inputs):
            vector = self.vector_for(text, dim)
            embedding: Any
            if encoding == "base64":
                embedding = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode("ascii")
            else:
                embedding = vector
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        if self.shuffle:
            data.reverse()
        total = sum(tokens)
        return (
            200,
            {},
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": total, "total_tokens": total},
            },
        )


@functools.lru_cache(maxsize=4096)
def _vector(text: str, dim: int) -> tuple[float, ...]:
    raw = b""
    counter = 0
    while len(raw) < dim * 2:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    values = [(v - 32768) / 32768 for v in struct.unpack(f"<{dim}H", raw[: dim * 2])]
    # Round-trip through float32 so base64 and float answers decode to equal lists.
    return struct.unpack(f"<{dim}f", struct.pack(f"<{dim}f", *values))


_Answer = tuple[int, dict[str, str], dict[str, Any]]


def _reject(status: int, message: str, error_type: str, code: str | None) -> _Answer:
    error = {"message": message, "type": error_type, "param": None, "code": code}
    return status, {}, {"error": error}


class _Handler(BaseHTTPRequestHandler):
    owner: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {}
        record = RecordedRequest(
            path=self.path, authorization=self.headers.get("Authorization", ""), body=body
        )
        status, headers, payload = self.owner._answer(record)
        record.status = status
        with self.owner._lock:
            self.owner.requests.append(record)
        encoded = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(encoded)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(encoded)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr
        pass

