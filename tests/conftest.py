"""Shared fixtures: tenants, members with roles, API keys, an API client, and a way to run
queued ingest jobs in-process (the real-worker tests start qcluster instead)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from kbsite import embedded_pg
from knowledge import ingestion, models, services

EVAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "eval"

# A valid one-page PDF without any text (an image-only scan, as far as extraction can tell).
EMPTY_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)

_started_embedded_db = False


def pytest_sessionstart(session: pytest.Session) -> None:
    global _started_embedded_db
    if settings.KB_EMBEDDED_DB:
        _started_embedded_db = not embedded_pg.is_running(Path(settings.KB_DATA_DIR))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Leave no server behind when this test run was the one that started it.
    if settings.KB_EMBEDDED_DB and _started_embedded_db:
        from django.db import connections

        connections.close_all()
        embedded_pg.stop(Path(settings.KB_DATA_DIR))


class ApiClient:
    """Django test client speaking JSON with an optional Bearer key."""

    def __init__(self, key: str | None = None, client: Client | None = None) -> None:
        self.client = client or Client()
        self.key = key

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.key is not None:
            headers["Authorization"] = f"Bearer {self.key}"
        return headers

    def get(self, path: str, data: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.get(path, data, headers=self._headers(headers))

    def post(self, path: str, json: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.post(
            path,
            json if json is not None else {},
            content_type="application/json",
            headers=self._headers(headers),
        )

    def delete(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return self.client.delete(path, headers=self._headers(headers))

    def upload(
        self,
        data: bytes,
        name: str = "notes.txt",
        kind: str = "knowledge",
        auto_ingest: bool = True,
        headers: dict[str, str] | None = None,
    ) -> Any:
        fh = io.BytesIO(data)
        fh.name = name
        return self.client.post(
            "/api/v1/kb/files",
            {"file": fh, "kind": kind, "auto_ingest": "true" if auto_ingest else "false"},
            headers=self._headers(headers),
        )


@pytest.fixture
def tenant(db: Any) -> models.Tenant:
    return services.tenant_create(slug="brightsmile", name="Bright Smile Dental")


@pytest.fixture
def other_tenant(db: Any) -> models.Tenant:
    return services.tenant_create(slug="otherco", name="Other Co")


@pytest.fixture
def make_user(db: Any, django_user_model: Any) -> Callable[..., Any]:
    def make(
        username: str, *, tenant: models.Tenant | None = None, role: str = "admin", **extra: Any
    ) -> Any:
        user = django_user_model.objects.create_user(
            username=username, password="pw-" + username, **extra
        )
        if tenant is not None:
            services.membership_set(tenant=tenant, user=user, role=role)
        return user

    return make


@pytest.fixture
def admin_member(make_user: Callable[..., Any], tenant: models.Tenant) -> Any:
    return make_user("alice", tenant=tenant, role="admin", is_staff=True)


@pytest.fixture
def support_member(make_user: Callable[..., Any], tenant: models.Tenant) -> Any:
    return make_user("sam", tenant=tenant, role="support", is_staff=True)


@pytest.fixture
def manage_key(tenant: models.Tenant) -> str:
    return services.apikey_create(
        tenant=tenant, scopes=["manage", "retrieve"], name="test"
    ).plaintext


@pytest.fixture
def retrieve_key(tenant: models.Tenant) -> str:
    return services.apikey_create(tenant=tenant, scopes=["retrieve"], name="router").plaintext


@pytest.fixture
def other_manage_key(other_tenant: models.Tenant) -> str:
    return services.apikey_create(
        tenant=other_tenant, scopes=["manage", "retrieve"], name="other"
    ).plaintext


@pytest.fixture
def api(manage_key: str) -> ApiClient:
    return ApiClient(manage_key)


@pytest.fixture
def other_api(other_manage_key: str) -> ApiClient:
    return ApiClient(other_manage_key)


@pytest.fixture
def anon_api() -> ApiClient:
    return ApiClient(None)


@pytest.fixture
def run_jobs(db: Any) -> Callable[[], list[str]]:
    """Run every queued ingest job in this process, as the worker would, until none is left."""

    def run() -> list[str]:
        results: list[str] = []
        for _ in range(100):
            pending = list(
                models.IngestJob.objects.filter(status=models.JobStatus.QUEUED).values_list(
                    "pk", flat=True
                )
            )
            if not pending:
                break
            results.extend(ingestion.run_job(job_id=pk) for pk in pending)
        return results

    return run


@pytest.fixture
def ingest_text(
    tenant: models.Tenant, run_jobs: Callable[[], list[str]]
) -> Callable[..., models.Document]:
    """Upload text as a document of ``tenant`` (or another) and ingest it synchronously."""

    def ingest(
        text: str, name: str = "doc.md", *, kind: str = "knowledge", to: models.Tenant | None = None
    ) -> models.Document:
        fh = io.BytesIO(text.encode())
        result = services.document_upload(tenant=to or tenant, fileobj=fh, filename=name, kind=kind)
        run_jobs()
        result.document.refresh_from_db()
        return result.document

    return ingest


@pytest.fixture
def eval_dir() -> Iterator[Path]:
    if not EVAL_DIR.is_dir():
        pytest.skip("../shared/eval is not available")
    yield EVAL_DIR


class Worker:
    """A real ``manage.py qcluster`` process on the test database."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.proc: Any = None

    def start(self) -> Worker:
        import subprocess
        import sys

        root = Path(__file__).resolve().parents[1]
        self.proc = subprocess.Popen(
            [sys.executable, str(root / "manage.py"), "qcluster"],
            cwd=root,
            env=self.env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return self

    def kill(self, sig: int | None = None) -> None:
        import os
        import signal

        if self.proc is None or self.proc.poll() is not None:
            return
        if sig == signal.SIGKILL:  # the whole cluster dies at once, as in a crash
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            return
        self.proc.send_signal(signal.SIGTERM)  # the cluster's own graceful stop
        try:
            self.proc.wait(timeout=15)
        except Exception:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@pytest.fixture
def worker_env(transactional_db: Any) -> dict[str, str]:
    """Environment for a worker process sharing this test's database."""
    import os

    from django.db import connection

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "KB_DB_NAME": connection.settings_dict["NAME"],
        "KB_DATA_DIR": str(settings.KB_DATA_DIR),
        "KB_EMBEDDING_PROVIDER": settings.KB_EMBEDDING_PROVIDER,
        "KB_RETRIEVAL_ENABLED": "1",
        "KB_INGEST_HEARTBEAT_SECONDS": "1",
        "KB_WORKERS": "1",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def worker(worker_env: dict[str, str]) -> Iterator[Worker]:
    """A running django-q2 worker (qcluster) for tests whose behaviour depends on it."""
    handle = Worker(worker_env).start()
    yield handle
    handle.kill()


def wait_for(predicate: Callable[[], Any], timeout: float = 60, interval: float = 0.2) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


@pytest.fixture
def login(db: Any) -> Callable[..., Client]:
    """A Django test client logged in as ``user`` (browser-page tests); CSRF enforced on request."""

    def make(user: Any, *, enforce_csrf: bool = False) -> Client:
        client = Client(enforce_csrf_checks=enforce_csrf)
        client.force_login(user)
        return client

    return make


@pytest.fixture
def support_client(support_member: Any, login: Callable[..., Client]) -> Client:
    """A test client logged in as the tenant's support member."""
    return login(support_member)


# --- retrieval and recall audit (issue 4) ---------------------------------------------------


@pytest.fixture(autouse=True)
def _close_search_connections() -> Iterator[None]:
    """The parallel search keeps a second connection per pool thread; close them after each
    test so that the test database can be dropped at the end."""
    yield
    from knowledge import retrieval

    retrieval.close_search_connections()


@pytest.fixture(autouse=True)
def _no_query_tokens_across_tests() -> Iterator[None]:
    """Query-embedding tokens are counted in process and written in batches: a count left by
    one test (whose tenant was rolled back) must not be written in the next."""
    from knowledge import budgets

    with budgets._pending_lock:
        budgets._pending.clear()
    yield
    with budgets._pending_lock:
        budgets._pending.clear()


@pytest.fixture
def retrieval_on(settings: Any) -> Iterator[Any]:
    """KB_RETRIEVAL_ENABLED=1, with the in-process retrieval caches empty before and after."""
    from knowledge import retrieval

    settings.KB_RETRIEVAL_ENABLED = True
    retrieval.clear_caches()
    yield settings
    retrieval.clear_caches()


@pytest.fixture
def retrieve_api(retrieve_key: str) -> ApiClient:
    """An API client with a key of scope ``retrieve`` only (the voice router's key)."""
    return ApiClient(retrieve_key)
