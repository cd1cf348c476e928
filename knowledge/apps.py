from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import pre_delete


class KnowledgeConfig(AppConfig):
    name = "knowledge"
    verbose_name = "Knowledge base"

    def ready(self) -> None:
        from knowledge import (
            checks,  # noqa: F401  (registers system checks)
            models,
            purge,
        )

        # Deleting a user or a tenant by any path purges their documents first (files,
        # audit redaction); a plain cascade would leave the stored files behind.
        pre_delete.connect(purge.on_user_deleting, sender=settings.AUTH_USER_MODEL,
                           dispatch_uid="knowledge.purge.user")
        pre_delete.connect(purge.on_tenant_deleting, sender=models.Tenant, dispatch_uid="knowledge.purge.tenant")

        from knowledge.snapshots import triggers

        triggers.connect()  # snapshots regenerate when the rows they are made of change
