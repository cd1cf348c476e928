"""System checks and health probes: pgvector present and recent enough, worker alive."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.db import connection
from django.db.utils import DatabaseError, OperationalError

MIN_SAFE_PARALLEL_HNSW = (0, 8, 2)  # CVE-2026-3172: parallel HNSW builds leak below this


def pgvector_version() -> str | None:
    with connection.cursor() as cur:
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cur.fetchone()
        if row:
            return str(row[0])
        cur.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'")
        row = cur.fetchone()
        return f"available {row[0]}" if row else None


def parse_version(value: str) -> tuple[int, ...]:
    return tuple(int(p) for p in value.split()[-1].split(".") if p.isdigit())


def parallel_hnsw_build_is_safe(version: str | None) -> bool:
    return bool(version) and parse_version(version or "") >= MIN_SAFE_PARALLEL_HNSW


def worker_heartbeat() -> dict[str, Any]:
    """Age of the newest django-q2 cluster heartbeat, if any."""
    try:
        from django_q.status import Stat

        stats = Stat.get_all()
    except Exception:  # the broker may be unreachable; health reports it rather than failing
        return {"running": False, "clusters": 0}
    if not stats:
        return {"running": False, "clusters": 0}
    from django.utils import timezone

    newest = max(s.timestamp for s in stats)
    return {"running": True, "clusters": len(stats), "heartbeat_age_s": round((timezone.now() - newest).total_seconds(), 1)}


@checks.register(checks.Tags.database, deploy=False)
def check_pgvector(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if not databases or "default" not in databases:
        return []
    try:
        version = pgvector_version()
    except (OperationalError, DatabaseError) as exc:
        return [checks.Error(f"cannot reach the database: {exc}", id="knowledge.E001")]
    if version is None:
        return [checks.Error(
            "the pgvector extension is not installed on this PostgreSQL server",
            hint="install pgvector (https://github.com/pgvector/pgvector) or unset DATABASE_URL to use the embedded server",
            id="knowledge.E002",
        )]
    messages: list[checks.CheckMessage] = [checks.Info(f"pgvector {version}", id="knowledge.I001")]
    if not parallel_hnsw_build_is_safe(version):
        messages.append(checks.Warning(
            f"pgvector {version} < 0.8.2: HNSW indexes are built with parallel workers off (CVE-2026-3172)",
            id="knowledge.W001",
        ))
    return messages


@checks.register()
def check_embedding_provider(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """KB_EMBEDDING_PROVIDER names a provider (settings import no app code, so it is checked here)."""
    from django.conf import settings

    from knowledge import embeddings

    name = settings.KB_EMBEDDING_PROVIDER
    if name in embeddings.PROVIDERS:
        return []
    return [checks.Error(
        f"KB_EMBEDDING_PROVIDER must be one of {', '.join(embeddings.PROVIDERS)}, got {name!r}",
        id="knowledge.E003",
    )]


@checks.register()
def check_default_locale(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """KB_DEFAULT_LOCALE names a locale with phone regions (PII neutralisation needs them)."""
    from django.conf import settings

    from knowledge import neutralisation

    if neutralisation.regions_for_locale(settings.KB_DEFAULT_LOCALE):
        return []
    return [checks.Error(
        f"KB_DEFAULT_LOCALE {settings.KB_DEFAULT_LOCALE!r} names no known phone region",
        hint="use a locale such as en-US, en-GB, de-DE or fr-FR",
        id="knowledge.E004",
    )]
