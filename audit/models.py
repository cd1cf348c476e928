"""One RecallAudit row per retrieval call: what was asked, what was returned, and why."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class RecallSource(models.TextChoices):
    API = "api", "Retrieval API"
    DIFY = "dify", "Dify external knowledge"
    UI_TEST = "ui_test", "Retrieval test page"


class RecallAudit(models.Model):
    tenant = models.ForeignKey("knowledge.Tenant", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=16, choices=RecallSource.choices, default=RecallSource.API)
    is_test = models.BooleanField(default=False)
    query = models.TextField()
    normalized_query = models.TextField(blank=True)
    session_id = models.CharField(max_length=200, blank=True)
    caller = models.CharField(max_length=200, blank=True)
    top_k = models.PositiveSmallIntegerField(default=5)
    retrieval_enabled = models.BooleanField(default=True)
    flags = models.JSONField(default=dict, blank=True)
    embedding_model = models.CharField(max_length=128, blank=True)
    legs = models.JSONField(default=list, blank=True, help_text="Search legs that ran")
    # [{chunk_id, document_id, document_name, chunk_index, score, vector_rank, lexical_rank, text}]
    results = models.JSONField(default=list, blank=True)
    policy_chunk_ids = models.JSONField(default=list, blank=True)
    policy_text = models.TextField(blank=True)
    policy_truncated = models.BooleanField(default=False)
    timings_ms = models.JSONField(default=dict, blank=True)
    api_key = models.ForeignKey("knowledge.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="recall_tenant_created"),
            models.Index(fields=["tenant", "session_id"], name="recall_tenant_session"),
            # The retention purge deletes across tenants by age.
            models.Index(fields=["created_at"], name="recall_created"),
        ]

    def __str__(self) -> str:
        return f"recall {self.pk}"
