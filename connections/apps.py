from typing import Any

from django.apps import AppConfig


def shared_source_summaries(tenant_id: int) -> list[Any]:
    """For the tenant's connected-sources snapshot: each source shared with the assistant, of
    a connection whose content is served — provider, account label, source label only."""
    from connections import models, registry
    from knowledge.snapshots import hooks

    rows = models.ConnectionSource.objects.filter(
        tenant_id=tenant_id, share=models.Share.TENANT, connection__tenant_id=tenant_id,
        connection__status__in=models.SERVING_STATUSES,
    ).select_related("connection")
    return [
        hooks.SourceSummary(provider=registry.label(s.connection.provider), account_label=s.connection.account_label,
                            source_label=s.label or s.get_surface_display(), surface=s.get_surface_display())
        for s in rows
    ]


def affects_shared_sources(instance: Any, **kwargs: Any) -> bool:
    """Whether a save or delete can change the tenant's shared-sources snapshot."""
    from connections import models

    if isinstance(instance, models.ConnectionSource):
        if instance.share == models.Share.TENANT:
            return True
        fields = kwargs.get("update_fields")  # a personal source: only if it may have been shared before
        return kwargs.get("created") is False and (fields is None or "share" in fields)
    fields = kwargs.get("update_fields")
    return not kwargs.get("created") and (fields is None or bool({"status", "account_label", "provider"} & set(fields)))


class ConnectionsConfig(AppConfig):
    name = "connections"
    verbose_name = "Connected accounts"

    def ready(self) -> None:
        from connections import (
            checks,  # noqa: F401  (registers system checks)
            models,
        )
        from connections.sandbox import serve
        from knowledge import serve_hooks
        from knowledge.snapshots import hooks

        serve_hooks.register(serve.start)
        hooks.register_source_summaries(shared_source_summaries, senders=(models.Connection, models.ConnectionSource),
                                        relevant=affects_shared_sources)

        # Erasure of a person or a tenant: their connections, tokens and grants go too.
        from connections import erasure as connections_erasure
        from knowledge.erasure import registry as erasure_registry

        erasure_registry.register(connections_erasure.participant)
