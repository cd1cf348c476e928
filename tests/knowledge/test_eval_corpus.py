"""Every real-world file in ../shared/eval/docs goes through upload and a real worker and ends
``ready`` with text or ``failed`` with a reason a tenant admin understands — none stuck."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from knowledge import models
from tests.conftest import ApiClient, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_the_shared_corpus_ends_ready_or_failed_with_reasons(
    eval_dir: Path, tenant: models.Tenant, api: ApiClient, worker: Any, settings: Any
) -> None:
    settings.KB_MAX_UPLOAD_MB = 100
    files = sorted(p for p in (eval_dir / "docs").rglob("*") if p.suffix in (".pdf", ".docx"))
    assert len(files) >= 60
    refused = {}
    ids = {}
    for path in files:
        response = api.upload(path.read_bytes(), name=path.name)
        if response.status_code in (200, 201):
            ids[path.name] = response.json()["id"]
        else:
            assert response.status_code in (400, 413, 415), response.content
            refused[path.name] = response.json()["detail"]
    wait_for(
        lambda: not models.Document.objects.filter(tenant=tenant, status__in=["uploaded", "queued", "ingesting"]).exists(),
        timeout=900, interval=1,
    )
    assert worker.alive()
    docs = {d.name: d for d in models.Document.objects.filter(tenant=tenant)}
    ready = {n for n, d in docs.items() if d.status == "ready"}
    failed = {n: d.ingest_error for n, d in docs.items() if d.status == "failed"}
    assert set(ready) | set(failed) == set(docs)
    for name in ready:
        assert docs[name].chunk_count > 0
    for name, reason in failed.items():
        assert reason and "Traceback" not in reason and len(reason) < 300, (name, reason)
    # Known cases from the manifest.
    assert "encrypted PDF" in failed["pypdf__crazyones-encrypted-256.pdf"]
    assert "password-protected Word" in failed["poi__bug53475-password-is-pass.docx"]
    assert "no text layer" in failed["docling__ocr_test.pdf"]
    manifest = eval_dir / "docs" / "MANIFEST.tsv"
    report = Path(settings.KB_DATA_DIR) / "eval-corpus-report.tsv"
    with report.open("w", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t")
        for name in sorted(docs):
            writer.writerow([name, docs[name].status, docs[name].chunk_count, docs[name].ingest_error])
        for name, reason in refused.items():
            writer.writerow([name, "refused", 0, reason])
    # Every file the manifest lists went through upload and ended ready, failed or refused,
    # and the report written above has one row per file.
    with manifest.open(newline="") as fh:
        listed = {Path(row["file"]).name for row in csv.DictReader(fh, delimiter="\t")}
    assert listed == {p.name for p in files}
    assert len(docs) + len(refused) == len(files)
    with report.open(newline="") as fh:
        assert len(list(csv.reader(fh, delimiter="\t"))) == len(files)
    print(f"\neval corpus: {len(ready)} ready, {len(failed)} failed, {len(refused)} refused at upload")
