"""Connected accounts: connections, their encrypted tokens, selected sources, change cursors
and sync runs (DESIGN §3, §9). No business logic here: writes live in services/tokens."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from knowledge import models as kb

# A run keeps at most this many per-item errors (the count in counts["failed"] stays exact).
MAX_ITEM_ERRORS = 100

COUNT_KEYS = ("seen", "created", "updated", "unchanged", "deleted", "failed")


def empty_counts() -> dict[str, int]:
    return dict.fromkeys(COUNT_KEYS, 0)


class Provider(models.TextChoices):
    MICROSOFT = "microsoft", "Microsoft 365"
    GOOGLE = "google", "Google"
    CLICKUP = "clickup", "ClickUp"


class ConnectionStatus(models.TextChoices):
    CONNECTING = "connecting", "Connecting"
    ACTIVE = "active", "Active"
    NEEDS_REAUTH = "needs_reauth", "Needs reconnecting"
    REVOKED = "revoked", "Revoked"
    PURGED = "purged", "Purged"


# States whose content may be served; every other state hides the connection's content.
SERVING_STATUSES = (ConnectionStatus.ACTIVE,)
# States in which the connection still exists for its owner (reconnecting restores it).
LIVE_STATUSES = (ConnectionStatus.CONNECTING, ConnectionStatus.ACTIVE, ConnectionStatus.NEEDS_REAUTH)


class Connection(models.Model):
    tenant = models.ForeignKey(kb.Tenant, on_delete=models.CASCADE, related_name="connections")
    # PROTECT: a user's connections are purged through the services (erasure), never cascaded
    # away with their documents and files left behind.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="kb_connections"
    )
    provider = models.CharField(max_length=16, choices=Provider.choices)
    account_label = models.CharField(max_length=255, blank=True, help_text="Display only")
    # The provider's stable id of the account (Graph user id, Google sub, ClickUp user id):
    # reconnecting the same account finds and restores this row.
    external_account_id = models.CharField(max_length=255, blank=True)
    status = models.CharField(
        max_length=16, choices=ConnectionStatus.choices, default=ConnectionStatus.CONNECTING
    )
    status_reason = models.TextField(blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    next_sync_at = models.DateTimeField(null=True, blank=True)
    purge_receipt = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "owner"], name="conn_tenant_owner"),
            models.Index(fields=["status", "next_sync_at"], name="conn_status_next_sync"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "owner", "provider", "external_account_id"],
                condition=Q(status__in=LIVE_STATUSES) & ~Q(external_account_id=""),
                name="conn_live_account_uniq",
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} connection {self.pk} ({self.status})"


class ConnectionToken(models.Model):
    """A connection's OAuth tokens, encrypted (connections.crypto). Never rendered anywhere:
    its repr names the row only, and the admin does not register it."""

    connection = models.OneToOneField(Connection, on_delete=models.CASCADE, related_name="token")
    tenant = models.ForeignKey(kb.Tenant, on_delete=models.CASCADE, related_name="+")
    access_token_enc = models.BinaryField(editable=False)
    refresh_token_enc = models.BinaryField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    key_id = models.CharField(max_length=16, help_text="Which token key encrypted this row")
    scopes = models.TextField(blank=True, help_text="Space-separated, as granted")
    refreshed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __repr__(self) -> str:
        return f"<ConnectionToken connection={self.connection_id} key={self.key_id}>"

    def __str__(self) -> str:
        return f"token of connection {self.connection_id}"


class Surface(models.TextChoices):
    ONEDRIVE = "onedrive", "OneDrive"
    SHAREPOINT_LIBRARY = "sharepoint_library", "SharePoint library"
    DRIVE_FOLDER = "drive_folder", "Folder in a drive"
    MAIL_FOLDER = "mail_folder", "Mail folder"
    TEAMS_CHANNEL = "teams_channel", "Teams channel"
    GDRIVE_FOLDER = "gdrive_folder", "Google Drive folder"
    SHARED_DRIVE = "shared_drive", "Shared drive"
    GMAIL_LABEL = "gmail_label", "Gmail label"
    CLICKUP_SPACE = "clickup_space", "ClickUp space"
    CLICKUP_LIST = "clickup_list", "ClickUp list"


class Share(models.TextChoices):
    TENANT = "tenant", "Shared with the assistant"
    PERSONAL = "personal", "Personal"


class MailTier(models.TextChoices):
    METADATA = "metadata", "Headers only"
    SNIPPET = "snippet", "First 500 characters"
    BODY = "body", "Whole body"


class ConnectionSource(models.Model):
    """One selected root of a connection: what is synced, who sees it, as what kind."""

    tenant = models.ForeignKey(kb.Tenant, on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="sources")
    surface = models.CharField(max_length=32, choices=Surface.choices)
    root_id = models.CharField(max_length=512)
    label = models.CharField(max_length=512, blank=True)
    parent_id = models.CharField(max_length=512, blank=True)
    share = models.CharField(max_length=16, choices=Share.choices, default=Share.PERSONAL)
    kind = models.CharField(max_length=16, choices=kb.Kind.choices, default=kb.Kind.KNOWLEDGE)
    mail_tier = models.CharField(max_length=16, choices=MailTier.choices, default=MailTier.SNIPPET)
    # Provider details needed to read the root (a folder's drive id, a channel's team id).
    extra = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "surface", "root_id"], name="conn_source_root_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.surface} {self.label or self.root_id}"


class SyncCursor(models.Model):
    """A provider change cursor (Graph delta link, Drive page token, Gmail history id, ClickUp
    watermark) per connection and stream. It advances only in the transaction that records
    what its page produced."""

    tenant = models.ForeignKey(kb.Tenant, on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="cursors")
    source = models.ForeignKey(
        ConnectionSource, null=True, blank=True, on_delete=models.CASCADE, related_name="cursors"
    )
    # What the cursor follows, e.g. "drive:{id}" (shared by folder sources of one drive).
    stream = models.CharField(max_length=512)
    cursor = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "stream"], name="sync_cursor_stream_uniq")
        ]

    def __str__(self) -> str:
        return f"cursor {self.stream} of connection {self.connection_id}"


class RunKind(models.TextChoices):
    BACKFILL = "backfill", "Backfill"
    DELTA = "delta", "Delta"
    FULL = "full", "Full re-enumeration"
    PURGE = "purge", "Purge"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class RunTrigger(models.TextChoices):
    CONNECT = "connect", "Connected"
    SCHEDULE = "schedule", "Schedule"
    MANUAL = "manual", "Sync now"
    SOURCES = "sources", "Sources changed"
    REVOKE = "revoke", "Disconnected"
    RETRY = "retry", "Retry"
    REAPER = "reaper", "Reaper"
    COMMAND = "command", "Command"


class SyncRun(models.Model):
    """One backfill / delta / full / purge run: the row is the truth (claim, heartbeat,
    attempts, counts, error), like knowledge.IngestJob."""

    tenant = models.ForeignKey(kb.Tenant, on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=16, choices=RunKind.choices)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    trigger = models.CharField(max_length=16, choices=RunTrigger.choices, default=RunTrigger.SCHEDULE)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=3)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Set while the provider throttles us: the run is paused, not failed, until then.
    resume_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=empty_counts)
    item_errors = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "connection"], name="syncrun_tenant_conn"),
            models.Index(fields=["status", "heartbeat_at"], name="syncrun_status_heartbeat"),
        ]
        constraints = [
            # One run at a time per connection, whichever process runs it.
            models.UniqueConstraint(
                fields=["connection"],
                condition=Q(status="running"),
                name="syncrun_one_running_per_conn",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} run {self.pk} ({self.status})"


class ConsumedOAuthState(models.Model):
    """Nonces of OAuth `state` values already used: a replayed state is refused. Rows older
    than the state's lifetime are useless and may be deleted."""

    nonce = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return "consumed oauth state"
