"""ClickUp webhooks (service): they shorten the delay of a change or a deletion; they never
replace the presence sweep (a webhook ClickUp failed to deliver, or suspended, loses
nothing but time).

* ``webhook_register`` creates a workspace's webhook (``taskUpdated``, ``taskDeleted``,
  ``taskCommentPosted``) pointing at ``{KB_PUBLIC_URL}/api/v1/connections/clickup/webhook``
  and keeps its secret encrypted (``connections.crypto``, bound to the connection) in a
  ``SyncCursor`` row of stream ``clickup:webhook:{id}``. ``webhooks_ensure`` does it once
  per workspace of the selected sources, when the public URL is https (ClickUp delivers
  nowhere else).
* ``webhook_receive`` checks ``X-Signature`` (hex HMAC-SHA256 of the raw body with that
  webhook's secret) before anything else: unknown webhook or bad signature → 401 and nothing
  happens. A good delivery for an active connection records the task id to re-read
  (``clickup:recheck``) and queues the connection's next delta now (one run at a time per
  connection: an active run is reused). A revoked or purged connection answers 410, which
  makes ClickUp drop the webhook.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
from typing import Any

from django.conf import settings
from django.db import transaction

from connections import crypto, models, services, tokens
from connections.providers import clickup, errors
from kbsite.errors import Conflict

log = logging.getLogger(__name__)

EVENTS = ("taskUpdated", "taskDeleted", "taskCommentPosted")
WEBHOOK_PREFIX = "clickup:webhook:"
RECHECK_STREAM = "clickup:recheck"
MAX_RECHECK = 500  # task ids waiting to be re-read; beyond, the oldest go (the sweep covers them)
PATH = "/api/v1/connections/clickup/webhook"


def endpoint_url() -> str:
    return f"{settings.KB_PUBLIC_URL}{PATH}"


def _context(connection_id: int) -> str:
    return f"connection:{connection_id}:clickup-webhook"


def _hooks(connection: models.Connection) -> list[tuple[models.SyncCursor, dict[str, Any]]]:
    out = []
    for row in models.SyncCursor.objects.filter(connection=connection, stream__startswith=WEBHOOK_PREFIX):
        try:
            data = json.loads(row.cursor)
        except ValueError:
            continue
        if isinstance(data, dict):
            out.append((row, data))
    return out


def webhook_register(*, connection: models.Connection, team_id: str, client: clickup.ClickUpClient | None = None) -> str:
    """The workspace's webhook for this connection (created at ClickUp when it has none);
    returns its id."""
    for row, data in _hooks(connection):
        if data.get("team_id") == team_id:
            return row.stream.removeprefix(WEBHOOK_PREFIX)
    owned = client is None
    api = client or clickup.ClickUpClient(
        api_url=settings.KB_CLICKUP_API_URL, timeout=settings.KB_PROVIDER_TIMEOUT,
        token=lambda refused: tokens.access_token_get(connection=connection, refused_token=refused),
    )
    try:
        hook = api.webhook_create(team_id=team_id, endpoint=endpoint_url(), events=EVENTS)
    finally:
        if owned:
            api.close()
    secret = crypto.encrypt(hook.secret, context=_context(connection.pk)).decode("ascii")
    models.SyncCursor.objects.update_or_create(
        connection=connection, stream=f"{WEBHOOK_PREFIX}{hook.id}",
        defaults={"tenant_id": connection.tenant_id, "cursor": json.dumps({"team_id": team_id, "secret": secret})},
    )
    return hook.id


def secrets_rotate() -> int:
    """Re-encrypt every stored webhook secret with the newest key of ``KB_TOKEN_KEYS``
    (``kb_tokens rotate``, with the token rows): the number of rows rewritten."""
    rotated = 0
    with transaction.atomic():
        for row in models.SyncCursor.objects.select_for_update().filter(stream__startswith=WEBHOOK_PREFIX):
            data = json.loads(row.cursor or "{}")
            if not data.get("secret"):
                continue
            data["secret"] = crypto.rotate(str(data["secret"]).encode("ascii")).decode("ascii")
            row.cursor = json.dumps(data)
            row.save(update_fields=["cursor"])
            rotated += 1
    return rotated


def webhooks_ensure(*, connection: models.Connection) -> None:
    """Best effort, once per workspace of the selected sources: a failure only means the
    changes wait for the next scheduled sync."""
    if not settings.KB_PUBLIC_URL.startswith("https://"):
        return
    teams = {str((s.extra or {}).get("team_id") or "") for s in models.ConnectionSource.objects.filter(connection=connection)}
    for team_id in sorted(t for t in teams if t):
        try:
            webhook_register(connection=connection, team_id=team_id)
        except (errors.ProviderError, tokens.ReauthRequired, tokens.NoToken) as exc:
            log.info("connection %s: no ClickUp webhook for workspace %s (%s)", connection.pk, team_id, type(exc).__name__)
            return


# --- receiving ----------------------------------------------------------------------------------


def _secret(row: models.SyncCursor) -> str | None:
    try:
        data = json.loads(row.cursor)
        return crypto.decrypt(str(data["secret"]).encode("ascii"), context=_context(row.connection_id))
    except (ValueError, KeyError, TypeError, crypto.TokenDecryptError):
        return None


def signature_valid(*, secret: str, body: bytes, signature: str) -> bool:
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


def webhook_receive(*, body: bytes, signature: str) -> int:
    """One delivery: the HTTP status to answer (401 refused, 410 gone, 200 taken)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return 401
    if not isinstance(payload, dict) or not signature:
        return 401
    webhook_id = str(payload.get("webhook_id") or "")
    row = (models.SyncCursor.objects.select_related("connection").filter(stream=f"{WEBHOOK_PREFIX}{webhook_id}").first()
           if webhook_id else None)
    secret = _secret(row) if row is not None else None
    if row is None or secret is None or not signature_valid(secret=secret, body=body, signature=signature):
        log.warning("ClickUp webhook delivery refused (unknown webhook or bad signature)")
        return 401
    connection = row.connection
    if connection.status in (models.ConnectionStatus.REVOKED, models.ConnectionStatus.PURGED):
        return 410
    task_id = str(payload.get("task_id") or "")
    if payload.get("event") not in EVENTS or not task_id or connection.status != models.ConnectionStatus.ACTIVE:
        return 200
    rechecks_add(connection=connection, task_ids=[task_id])
    with contextlib.suppress(Conflict):  # the connection changed meanwhile: nothing to run
        # The next delta, brought forward (the run's trigger: the schedule).
        services.sync_request(connection=connection, kind=services.sync_kind_for(connection=connection, full=False),
                              trigger=models.RunTrigger.SCHEDULE)
    return 200


# --- tasks to re-read --------------------------------------------------------------------------


def rechecks_add(*, connection: models.Connection, task_ids: list[str]) -> None:
    with transaction.atomic():
        row, _ = models.SyncCursor.objects.select_for_update().get_or_create(
            connection=connection, stream=RECHECK_STREAM, defaults={"tenant_id": connection.tenant_id, "cursor": "[]"},
        )
        try:
            ids = [str(i) for i in json.loads(row.cursor or "[]")]
        except (ValueError, TypeError):
            ids = []
        ids = [i for i in ids if i not in task_ids] + task_ids
        row.cursor = json.dumps(ids[-MAX_RECHECK:])
        row.save(update_fields=["cursor", "updated_at"])


def rechecks_take(*, connection: models.Connection) -> tuple[str, ...]:
    """The task ids waiting to be re-read, handed to one run (a run that fails leaves them to
    the scheduled deltas and the sweep)."""
    with transaction.atomic():
        row = models.SyncCursor.objects.select_for_update().filter(connection=connection, stream=RECHECK_STREAM).first()
        if row is None:
            return ()
        try:
            ids = tuple(str(i) for i in json.loads(row.cursor or "[]"))
        except (ValueError, TypeError):
            ids = ()
        row.delete()
    return ids
