"""kbsite/settings.py reads the environment and imports no app code; what it cannot check
without the apps (the embedding provider's name) is a system check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from knowledge import checks, embeddings

ROOT = Path(__file__).resolve().parents[2]


def test_settings_import_no_app_code() -> None:
    code = (
        "import sys, kbsite.settings\n"
        "apps = sorted(m for m in sys.modules if m.split('.')[0] in ('knowledge', 'audit', 'connections'))\n"
        "print(apps)\n"
        "sys.exit(1 if apps else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "KB_EMBEDDING_PROVIDER": "hash"}, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_unknown_embedding_provider_fails_the_system_checks(settings: Any) -> None:
    settings.KB_EMBEDDING_PROVIDER = "bogus"
    errors = checks.check_embedding_provider()
    assert [e.id for e in errors] == ["knowledge.E003"]
    assert "openai, local, hash" in errors[0].msg and "'bogus'" in errors[0].msg
    with pytest.raises(SystemCheckError):
        call_command("check")


def test_a_known_provider_passes_and_an_unset_model_is_the_providers_default(settings: Any) -> None:
    settings.KB_EMBEDDING_PROVIDER = "hash"
    settings.KB_EMBEDDING_MODEL = ""
    assert checks.check_embedding_provider() == []
    assert embeddings.model_name() == "hash:hash-384"
    assert embeddings.model_name("openai") == "openai:text-embedding-3-small"
