from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "connections"
    verbose_name = "Connected accounts"

    def ready(self) -> None:
        from connections import checks  # noqa: F401  (registers system checks)
        from connections.sandbox import serve
        from knowledge import serve_hooks

        serve_hooks.register(serve.start)

        # Erasure of a person or a tenant: their connections, tokens and grants go too.
        from connections import erasure as connections_erasure
        from knowledge.erasure import registry as erasure_registry

        erasure_registry.register(connections_erasure.participant)
