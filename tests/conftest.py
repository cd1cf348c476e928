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
            path, json if json is not None else {}, content_type="application/json", headers=self._headers(headers)
        )

    def delete(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return self.client.delete(path, headers=self._headers(headers))

    def upload(
        self, data: bytes, name: str = "notes.txt", kind: str = "knowledge", auto_ingest: bool = True,
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
    def make(username: str, *, tenant: models.Tenant | None = None, role: str = "admin", **extra: Any) -> Any:
        user = django_user_model.objects.create_user(username=username, password="pw-" + username, **extra)
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
    return services.apikey_create(tenant=tenant, scopes=["manage", "retrieve"], name="test").plaintext


@pytest.fixture
def retrieve_key(tenant: models.Tenant) -> str:
    return services.apikey_create(tenant=tenant, scopes=["retrieve"], name="router").plaintext


@pytest.fixture
def other_manage_key(other_tenant: models.Tenant) -> str:
    return services.apikey_create(tenant=other_tenant, scopes=["manage", "retrieve"], name="other").plaintext


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
        results = []
        for _ in range(100):
            pending = list(
                models.IngestJob.objects.filter(status=models.JobStatus.QUEUED).values_list("pk", flat=True)
            )
            if not pending:
                break
            results.extend(ingestion.run_job(job_id=pk) for pk in pending)
        return results

    return run


@pytest.fixture
def ingest_text(tenant: models.Tenant, run_jobs: Callable[[], list[str]]) -> Callable[..., models.Document]:
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
