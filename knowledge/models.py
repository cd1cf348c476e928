"""Tenants, API keys, documents (KB files), ingest jobs and chunks. No business logic here."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from pgvector.django import VectorField


class Tenant(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    # Per-tenant overrides of the global feature flags: None follows the global setting.
    retrieval_enabled = models.BooleanField(null=True, blank=True)
    embeddings_enabled = models.BooleanField(null=True, blank=True)
    # Lifetime total of embedding tokens (display only). The monthly budget that is
    # enforced lives in TenantBudget / BudgetPeriod (knowledge/budgets.py).
    embedding_tokens_used = models.BigIntegerField(default=0)
    policy_max_chars = models.PositiveIntegerField(null=True, blank=True)
    # Bumped in the same transaction as any change to the tenant's policy chunks; the
    # retrieval process caches the policy block per (tenant, policy_version).
    policy_version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    SUPPORT = "support", "Support"
    MEMBER = "member", "Member"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="kb_memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    last_selected_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="membership_user_tenant_uniq")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant} ({self.role})"


class Scope(models.TextChoices):
    RETRIEVE = "retrieve", "retrieve"
    MANAGE = "manage", "manage"


class ApiKey(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'})"


class Kind(models.TextChoices):
    POLICY = "policy", "Policy"
    KNOWLEDGE = "knowledge", "Knowledge"


class SourceKind(models.TextChoices):
    UPLOAD = "upload", "Upload"
    SHAREPOINT = "sharepoint", "SharePoint"
    ONEDRIVE = "onedrive", "OneDrive"
    OUTLOOK = "outlook", "Outlook"
    TEAMS = "teams", "Teams"
    GDRIVE = "gdrive", "Google Drive"
    GMAIL = "gmail", "Gmail"
    CLICKUP = "clickup", "ClickUp"
    SNAPSHOT = "snapshot", "Snapshot"


class DocScope(models.TextChoices):
    TENANT = "tenant", "Tenant"
    PERSONAL = "personal", "Personal"


class DocStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded"
    QUEUED = "queued", "Queued"
    INGESTING = "ingesting", "Ingesting"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


def document_upload_to(instance: Document, filename: str) -> str:
    # The stored name is app-generated; the user's file name is only ever displayed.
    import uuid

    return f"kb/{instance.tenant_id}/{uuid.uuid4().hex}"


class Document(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="documents")
    name = models.CharField(max_length=255)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.KNOWLEDGE)
    source_kind = models.CharField(max_length=16, choices=SourceKind.choices, default=SourceKind.UPLOAD)
    # The item's identity at its source: the provider's id for a connection's item, a stable
    # name for a snapshot, the document's own id for an upload (whose dedupe rule is its bytes).
    external_id = models.CharField(max_length=512, blank=True)
    revision = models.CharField(max_length=128, blank=True)
    # PROTECT: a connection's documents (and their files) go through the purge services,
    # never a silent cascade. Referred to by label only: knowledge never imports connections.
    connection = models.ForeignKey(
        "connections.Connection", null=True, blank=True, on_delete=models.PROTECT, related_name="documents"
    )
    # An attachment's message. RESTRICT: a parent is removed together with its attachments
    # (services.document_delete), never on its own.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.RESTRICT, related_name="attachments"
    )
    scope = models.CharField(max_length=16, choices=DocScope.choices, default=DocScope.TENANT)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    file = models.FileField(upload_to=document_upload_to, max_length=255, blank=True)
    inline_text = models.TextField(blank=True)
    content_type = models.CharField(max_length=127)
    file_type = models.CharField(max_length=8, help_text="Detected type: txt, md, pdf, docx, html")
    size_bytes = models.BigIntegerField(default=0)
    content_sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=DocStatus.choices, default=DocStatus.UPLOADED)
    ingest_error = models.TextField(blank=True)
    ingested_at = models.DateTimeField(null=True, blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "kind", "status"], name="doc_tenant_kind_status"),
            models.Index(fields=["tenant", "source_kind", "external_id"], name="doc_tenant_source"),
        ]
        constraints = [
            # One document per item of a source; snapshots have no connection (NULL = NULL here).
            models.UniqueConstraint(
                fields=["tenant", "connection", "source_kind", "external_id"],
                condition=~models.Q(external_id=""),
                nulls_distinct=False,
                name="doc_source_identity_uniq",
            ),
            # DESIGN §6: the same bytes uploaded to the same tenant, scope and owner are one document.
            models.UniqueConstraint(
                fields=["tenant", "scope", "owner", "content_sha256"],
                condition=models.Q(source_kind="upload"),
                nulls_distinct=False,
                name="doc_upload_sha_uniq",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class Trigger(models.TextChoices):
    UPLOAD = "upload", "Upload"
    API = "api", "API"
    UI = "ui", "Browser"
    RETRY = "retry", "Retry"
    REINDEX = "reindex", "Re-index"
    REAPER = "reaper", "Reaper"
    CONNECTOR = "connector", "Connector"
    SNAPSHOT = "snapshot", "Snapshot"


class IngestJob(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="ingest_jobs")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="jobs")
    idempotency_key = models.CharField(max_length=64, db_index=True)
    source_kind = models.CharField(max_length=16, choices=SourceKind.choices)
    external_id = models.CharField(max_length=512)
    content_sha256 = models.CharField(max_length=64)
    pipeline_version = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.API)
    force = models.BooleanField(default=False)
    embed_only_missing = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=3)
    # When the job last entered the queue (created or put back): the age health reports.
    queued_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    skip_reason = models.CharField(max_length=255, blank=True)
    embedding_model = models.CharField(max_length=128, blank=True)
    stats = models.JSONField(default=dict, blank=True, help_text="Per-stage timings (ms) and counts")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "status"], name="job_tenant_status"),
            models.Index(fields=["status", "heartbeat_at"], name="job_status_heartbeat"),
            models.Index(fields=["status", "queued_at"], name="job_status_queued"),
        ]

    def __str__(self) -> str:
        return f"job {self.pk} ({self.status})"


class Chunk(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    chunk_index = models.PositiveIntegerField()
    text = models.TextField()
    heading = models.TextField(blank=True)
    page = models.PositiveIntegerField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Dimension-less column: the model (and its dimension) can change with a re-index.
    # HNSW indexes are partial expression indexes per dimension (see migrations).
    embedding = VectorField(null=True, blank=True)
    embedding_dim = models.PositiveSmallIntegerField(null=True, blank=True)
    embedding_model = models.CharField(max_length=128, blank=True)
    search_vector = SearchVectorField(null=True)
    # Denormalised filters so retrieval needs no join.
    kind = models.CharField(max_length=16, choices=Kind.choices)
    scope = models.CharField(max_length=16, choices=DocScope.choices, default=DocScope.TENANT)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    source_kind = models.CharField(max_length=16, choices=SourceKind.choices)
    # Indexed (FK): retrieval hides, and purge removes, a connection's chunks in one statement.
    connection = models.ForeignKey(
        "connections.Connection", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["document_id", "chunk_index"]
        indexes = [
            models.Index(fields=["tenant", "kind"], name="chunk_tenant_kind"),
            models.Index(fields=["document", "chunk_index"], name="chunk_doc_index"),
            GinIndex(fields=["search_vector"], name="chunk_search_gin"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["document", "chunk_index"], name="chunk_doc_index_uniq")
        ]

    def __str__(self) -> str:
        return f"chunk {self.document_id}#{self.chunk_index}"


class NeutralisationSettings(models.Model):
    """A tenant's PII neutralisation settings (DESIGN §10). No row: the defaults — on for
    mail, Teams and ClickUp sources, off for the rest, no person names, the locale of
    ``KB_DEFAULT_LOCALE``. What applies to a document is decided in one place:
    ``knowledge.ingestion.neutralise.policy_for``."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="neutralisation_settings")
    locale = models.CharField(
        max_length=35, blank=True,
        help_text="Locale whose national phone numbers are neutralised, e.g. en-US, de-DE; "
                  "empty: KB_DEFAULT_LOCALE. International numbers (+…) always are.",
    )
    source_kinds = models.JSONField(
        default=dict, blank=True,
        help_text='Per source kind overrides of the default, e.g. {"upload": true, "teams": false}.',
    )
    person_names = models.BooleanField(
        default=False, help_text="Also replace names announced by a salutation, title or sign-off."
    )
    published_contacts = models.JSONField(
        default=list, blank=True,
        help_text="The business's own published phone numbers, e-mail addresses and address: never neutralised.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "PII neutralisation settings"
        verbose_name_plural = "PII neutralisation settings"

    def __str__(self) -> str:
        return f"PII neutralisation of {self.tenant}"


class TaskRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    OK = "ok", "OK"
    FAILED = "failed", "Failed"


class TaskRun(models.Model):
    """One run of a background task (the reaper, the audit purge, …): what it did, and where.

    Not tenant data: a task runs for every tenant at once.
    """

    name = models.CharField(max_length=64)
    runner = models.CharField(max_length=64, blank=True, help_text="Where it ran: cluster, kb_serve, kb_reap, web")
    status = models.CharField(max_length=16, choices=TaskRunStatus.choices, default=TaskRunStatus.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["name", "-started_at"], name="taskrun_name_started")]

    def __str__(self) -> str:
        return f"{self.name} {self.started_at:%Y-%m-%d %H:%M:%S} ({self.status})"


# --- Embedding budgets (knowledge/budgets.py) ---------------------------------------------


class TenantBudget(models.Model):
    """A tenant's monthly embedding limits, in tokens and in money. Empty means unlimited."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="budget")
    monthly_token_limit = models.BigIntegerField(null=True, blank=True)
    monthly_microusd_limit = models.BigIntegerField(
        null=True, blank=True, help_text="Monthly spend limit in millionths of a US dollar"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"budget of {self.tenant_id}"


class BudgetPeriod(models.Model):
    """One tenant's usage in one calendar month (UTC): spent and currently reserved."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    period_start = models.DateField()
    tokens_spent = models.BigIntegerField(default=0)
    tokens_reserved = models.BigIntegerField(default=0)
    microusd_spent = models.BigIntegerField(default=0)
    microusd_reserved = models.BigIntegerField(default=0)
    query_tokens = models.BigIntegerField(default=0, help_text="Of tokens_spent: query embeddings")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "period_start"], name="budgetperiod_tenant_month_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.period_start:%Y-%m}"


class ReservationStatus(models.TextChoices):
    RESERVED = "reserved", "Reserved"
    SETTLED = "settled", "Settled"
    RELEASED = "released", "Released"


class BudgetReservation(models.Model):
    """Tokens and money held for one attempt of one job while the provider is called."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    period = models.ForeignKey(BudgetPeriod, on_delete=models.CASCADE, related_name="reservations")
    job = models.ForeignKey(IngestJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    attempt = models.PositiveIntegerField(default=0)
    model = models.CharField(max_length=128)
    tokens = models.BigIntegerField()
    microusd = models.BigIntegerField()
    actual_tokens = models.BigIntegerField(null=True, blank=True)
    actual_microusd = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=ReservationStatus.choices, default=ReservationStatus.RESERVED)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "expires_at"], name="reservation_status_expires")]

    def __str__(self) -> str:
        return f"reservation {self.pk} ({self.status})"


# --- Snapshots (knowledge/snapshots/) ------------------------------------------------------


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def empty_opening_hours() -> dict[str, list[str]]:
    return {day: [] for day in WEEKDAYS}


class TenantProfile(models.Model):
    """The business's own public facts (DESIGN §10): what the assistant may tell callers about
    it. Validated by ``knowledge.snapshots.profile`` (times, time zone, weekday keys, no
    person's contact details); its phone, e-mail and address are the tenant's published
    contacts, never neutralised."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="profile")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    address = models.TextField(blank=True)
    phone = models.CharField(max_length=64, blank=True)
    email = models.CharField(max_length=254, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    locale = models.CharField(max_length=35, blank=True)
    # {"monday": ["08:00-12:00", "13:00-17:00"], …, "sunday": []}
    opening_hours = models.JSONField(default=empty_opening_hours, blank=True)
    # [{"date": "2026-12-24", "hours": [], "note": "closed"}]
    exceptions = models.JSONField(default=list, blank=True)
    service_area = models.TextField(blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"profile of {self.tenant_id}"


class MemberDirectoryEntry(models.Model):
    """How a member appears in the tenant's member directory, set by the member on their own
    profile page. Only ``listed`` entries reach the directory snapshot, and only their
    display name and title (never the account's e-mail address, username or phone)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    membership = models.OneToOneField(Membership, on_delete=models.CASCADE, related_name="directory_entry")
    listed = models.BooleanField(default=False, help_text="Appear in the directory the assistant knows")
    display_name = models.CharField(max_length=120, blank=True)
    title = models.CharField(max_length=120, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "member directory entries"
        indexes = [models.Index(fields=["tenant", "listed"], name="direntry_tenant_listed")]

    def __str__(self) -> str:
        return f"directory entry of membership {self.membership_id}"


class SnapshotName(models.TextChoices):
    PROFILE = "profile", "Business profile"
    DIRECTORY = "directory", "Member directory"
    SOURCES = "sources", "Connected sources"


class Snapshot(models.Model):
    """One curated snapshot of a tenant (DESIGN §3, §10): the hash of its canonical content
    (what decides whether it is regenerated into a new document version), when it was
    generated, and why it was last refused (a denied PII type in the rendered text)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=16, choices=SnapshotName.choices)
    schema_version = models.PositiveSmallIntegerField(default=1)
    content_sha256 = models.CharField(max_length=64, blank=True)
    document = models.ForeignKey(Document, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Users the current version names (the directory): erasure regenerates what named them.
    named_user_ids = models.JSONField(default=list, blank=True)
    generated_at = models.DateTimeField(null=True, blank=True)
    refused_reason = models.TextField(blank=True)
    refused_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="snapshot_tenant_name_uniq")]

    def __str__(self) -> str:
        return f"{self.name} snapshot of {self.tenant_id}"
# --- Erasure (DESIGN §10; knowledge/erasure/) ------------------------------------------------


class ErasureScope(models.TextChoices):
    USER = "user", "User (every tenant, and the account)"
    USER_IN_TENANT = "user_in_tenant", "User in one tenant"
    TENANT = "tenant", "Tenant"


class ErasureStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"
    FAILED = "failed", "Failed"


class ErasureVia(models.TextChoices):
    COMMAND = "command", "kb_erase"
    API = "api", "API"


class ErasureReceipt(models.Model):
    """Proof of one erasure run: who asked, when, the subject as a keyed hash, the rows that
    held the subject's data per table before and after, files deleted, when the vacuum that
    drops deleted vectors from the index finished. Never any erased content or a plain
    identifier of the subject: ``pending_user_id`` holds the user's id only until the run
    finishes (the task needs it; it is cleared then), and survives only on a failed run so
    that it can be retried."""

    # The tenant whose admins see the receipt; NULL for an account-wide erasure and once an
    # erased tenant is gone (the receipt outlives it).
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    scope = models.CharField(max_length=16, choices=ErasureScope.choices)
    subject_hash = models.CharField(max_length=64, help_text="HMAC-SHA256 of the subject (knowledge.erasure.subjects)")
    key_id = models.CharField(max_length=16, help_text="Which erasure key made subject_hash")
    pending_user_id = models.BigIntegerField(null=True, blank=True, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_via = models.CharField(max_length=16, choices=ErasureVia.choices)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=ErasureStatus.choices, default=ErasureStatus.QUEUED)
    counts_before = models.JSONField(default=dict, blank=True, help_text="Rows holding the subject's data, per table")
    counts_after = models.JSONField(default=dict, blank=True)
    details = models.JSONField(default=dict, blank=True, help_text="What each step did (counts only)")
    files_deleted = models.PositiveIntegerField(default=0)
    files_failed = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    vacuum_finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="erasure_tenant_created")]

    def __str__(self) -> str:
        return f"erasure {self.pk} ({self.scope}, {self.status})"
