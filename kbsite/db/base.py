"""PostgreSQL backend that starts the embedded server on the first connection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.backends.postgresql import base

from kbsite import embedded_pg


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        self.settings_dict.update(embedded_pg.ensure_running(Path(settings.KB_DATA_DIR)))
        return super().get_connection_params()
