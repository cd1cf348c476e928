"""The adapter of a connection's provider (one entry per provider; Google and ClickUp add theirs)."""

from __future__ import annotations

from django.conf import settings

from connections import models, tokens
from connections.providers import microsoft as graph
from connections.sync.changes import Adapter


def for_connection(connection: models.Connection) -> Adapter:
    def token(refused: str | None) -> str:
        return tokens.access_token_get(connection=connection, refused_token=refused)

    if connection.provider == models.Provider.MICROSOFT:
        from connections.sync.microsoft import MicrosoftAdapter

        client = graph.GraphClient(graph_url=settings.KB_MS_GRAPH_URL, token=token, timeout=settings.KB_PROVIDER_TIMEOUT)
        return MicrosoftAdapter(graph=client)
    if connection.provider == models.Provider.GOOGLE:
        from connections.providers import google
        from connections.sync.google import GoogleAdapter

        return GoogleAdapter(client=google.GoogleClient(
            drive_url=settings.KB_GOOGLE_DRIVE_URL, gmail_url=settings.KB_GOOGLE_GMAIL_URL,
            token=token,
            timeout=settings.KB_PROVIDER_TIMEOUT,
        ))
    if connection.provider == models.Provider.CLICKUP:
        from connections import clickup_webhooks
        from connections.providers import clickup
        from connections.sync.clickup import ClickUpAdapter

        clickup_webhooks.webhooks_ensure(connection=connection)
        api = clickup.ClickUpClient(api_url=settings.KB_CLICKUP_API_URL, token=token, timeout=settings.KB_PROVIDER_TIMEOUT)
        return ClickUpAdapter(client=api, recheck=clickup_webhooks.rechecks_take(connection=connection))
    raise NotImplementedError(f"no sync adapter for {connection.provider}")
