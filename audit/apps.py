from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Recall audit"

    def ready(self) -> None:
        # knowledge never imports audit (DESIGN §2): it offers a hook, this app fills it.
        from audit import services
        from knowledge import signals
        from knowledge.retrieval import recording

        recording.register(recording.Recorder(reserve_id=services.recall_reserve_id, write=services.recall_record))

        # Purged documents: the audit redacts what its rows hold of removed personal content.
        signals.documents_purged.connect(services.on_documents_purged, dispatch_uid="audit.redact_purged")

        # Erasure of a person or a tenant: the audit redacts (or, for a tenant, deletes) its rows.
        from audit import erasure as audit_erasure
        from knowledge.erasure import registry as erasure_registry

        erasure_registry.register(audit_erasure.participant)
