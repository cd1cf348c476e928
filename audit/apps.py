from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Recall audit"

    def ready(self) -> None:
        from audit import services
        from knowledge import signals

        # knowledge never imports audit: it sends a signal when documents are purged, and the
        # audit redacts what its rows hold of removed personal content.
        signals.documents_purged.connect(services.on_documents_purged, dispatch_uid="audit.redact_purged")
