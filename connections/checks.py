"""System checks for the connected-accounts settings."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from django.conf import settings
from django.core import checks


@checks.register()
def check_connection_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    for index, key in enumerate(settings.KB_TOKEN_KEYS):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            messages.append(checks.Error(
                f"KB_TOKEN_KEYS entry {index + 1} is not a Fernet key (url-safe base64 of 32 bytes)",
                hint="Generate one with `manage.py kb_tokens key`.",
                id="connections.E001",
            ))
    public = urlsplit(settings.KB_PUBLIC_URL)
    if public.scheme not in ("http", "https") or not public.netloc or public.query or public.fragment:
        messages.append(checks.Error(
            "KB_PUBLIC_URL must be an absolute http(s) URL (the base of the OAuth redirect URIs)",
            id="connections.E002",
        ))
    for provider, client_id, secret in (
        ("KB_MS", settings.KB_MS_CLIENT_ID, settings.KB_MS_CLIENT_SECRET),
        ("KB_GOOGLE", settings.KB_GOOGLE_CLIENT_ID, settings.KB_GOOGLE_CLIENT_SECRET),
        ("KB_CLICKUP", settings.KB_CLICKUP_CLIENT_ID, settings.KB_CLICKUP_CLIENT_SECRET),
    ):
        if client_id and not secret:
            messages.append(checks.Warning(
                f"{provider}_CLIENT_ID is set but {provider}_CLIENT_SECRET is not",
                id="connections.W001",
            ))
    return messages
