"""Test settings: the real settings with test-friendly defaults (each still overridable)."""

import os

os.environ.setdefault("KB_EMBEDDING_PROVIDER", "hash")
os.environ.setdefault("KB_INGEST_HEARTBEAT_SECONDS", "1")

from kbsite.settings import *  # noqa: E402,F403
from kbsite.settings import KB_DATA_DIR  # noqa: E402

MEDIA_ROOT = KB_DATA_DIR / "test-media"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tests never run collectstatic: WhiteNoise looks files up per request instead of indexing
# STATIC_ROOT at start-up (which warns when the directory does not exist).
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
