"""`manage.py kb_serve` (what `make run` runs): gunicorn + a real worker, end to end.

The command runs against a database of its own on the embedded server (through
DATABASE_URL) and a KB_DATA_DIR of its own, as a fresh install would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
DB_NAME = "test_kb_serve"

pytestmark = pytest.mark.worker


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _admin_conn(settings_dict: dict[str, Any]) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=settings_dict["HOST"], port=settings_dict.get("PORT") or None,
        user=settings_dict["USER"], dbname="postgres", autocommit=True,
    )


@pytest.fixture
def serve_db(django_db_setup: Any, django_db_blocker: Any) -> Iterator[str]:
    """A DATABASE_URL for an empty database on the embedded server, dropped afterwards."""
    from django.db import connection

    with django_db_blocker.unblock():
        connection.ensure_connection()  # the embedded server is running, its socket known
        settings_dict = dict(connection.settings_dict)
    with _admin_conn(settings_dict) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    host = settings_dict["HOST"]
    yield f"postgresql://{settings_dict['USER']}@/{DB_NAME}?host={host}"
    with _admin_conn(settings_dict) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def _get(url: str, *, key: str = "", body: dict[str, Any] | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    if data:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - localhost
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _sandbox_is_offered(base: str, *, password: str, log: str) -> None:
    """No KB_MS_CLIENT_ID: kb_serve started the Microsoft sandbox and handed it to the web
    process, whose Connect button leads to the sandbox's authorize endpoint."""
    import httpx

    assert "Sandbox Microsoft account: dana@brightsmile.example at http://127.0.0.1:" in log
    sandbox = log.split("Sandbox Microsoft account: dana@brightsmile.example at ", 1)[1].split()[0]
    assert httpx.get(f"{sandbox}/_sandbox/items").json()["count"] > 5
    with httpx.Client(base_url=base) as client:
        client.get("/accounts/login/")
        token = client.cookies["csrftoken"]
        client.post("/accounts/login/", data={"username": "demo-admin", "password": password,
                                              "csrfmiddlewaretoken": token})
        page = client.get("/kb/connections/")
        assert "Microsoft 365 (Sandbox)" in page.text, page.text[:2000]
        connect = client.post("/kb/connections/connect/microsoft", headers={"X-CSRFToken": client.cookies["csrftoken"]})
        assert connect.status_code == 302 and connect.headers["Location"].startswith(f"{sandbox}/common/oauth2/v2.0/authorize?")


def test_kb_serve_runs_web_and_worker_with_the_demo_tenant_and_stops_cleanly(
    serve_db: str, tmp_path: Path
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "kbsite.settings", "DATABASE_URL": serve_db,
        "KB_DATA_DIR": str(tmp_path), "KB_EMBEDDING_PROVIDER": "hash", "KB_RETRIEVAL_ENABLED": "1",
        "KB_WORKERS": "1", "KB_WEB_WORKERS": "1", "DEBUG": "0",
    }
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "kb_serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        status = 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, _ = _get(f"{base}/api/v1/health")
            except OSError:
                status = 0
            if status == 200:
                break
            time.sleep(0.5)
        assert status == 200, (tmp_path / "serve.log").read_text()[-3000:]
        creds = json.loads((tmp_path / "demo-credentials.json").read_text())
        # The worker ingests the demo documents; the voice router's call then finds them.
        knowledge: list[Any] = []
        while time.monotonic() < deadline and not knowledge:
            code, body = _get(
                f"{base}/api/v1/retrieve", key=creds["api_key"], body={"query": "are you open on saturday"}
            )
            assert code == 200, body[:500]
            knowledge = json.loads(body)["knowledge"]
            time.sleep(0.5)
        assert knowledge, "the worker never made the demo documents searchable"
        # gunicorn (not the development server) serves the API, static files (WhiteNoise)
        # and the login page.
        with urllib.request.urlopen(f"{base}/api/v1/health", timeout=10) as response:  # noqa: S310
            assert response.headers["Server"].startswith("gunicorn")
        assert _get(f"{base}/static/kb/kb.css")[0] == 200
        assert _get(f"{base}/accounts/login/")[0] == 200
        assert _get(f"{base}/api/v1/retrieve", key="kb_wrong_key", body={"query": "x"})[0] == 401
        _sandbox_is_offered(base, password=creds["password"], log=(tmp_path / "serve.log").read_text())
        # The supervisor reaps on its own timer, outside the cluster it watches.
        with psycopg.connect(serve_db) as conn:
            runners = {r[0] for r in conn.execute("SELECT runner FROM knowledge_taskrun WHERE name = 'ingest-reaper'")}
        assert "kb_serve" in runners
        # The rest of the demo documents drain; health then reports an idle, live worker.
        health: dict[str, Any] = {}
        while time.monotonic() < deadline:
            health = json.loads(_get(f"{base}/api/v1/health")[1])
            if health["worker"]["queued_jobs"] == 0:
                break
            time.sleep(0.5)
        assert health["worker"]["liveness"] == "ok" and health["worker"]["queued_jobs"] == 0, health
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        finally:
            log.close()
    assert proc.returncode == 0, (tmp_path / "serve.log").read_text()[-3000:]
    with pytest.raises(OSError):  # nothing listens on the port any more
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
