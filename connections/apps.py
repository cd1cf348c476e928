from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "connections"
    verbose_name = "Connected accounts"

    def ready(self) -> None:
        from connections import checks  # noqa: F401  (registers system checks)
        from connections.sandbox import serve
        from knowledge import serve_hooks

        serve_hooks.register(serve.start)
        serve_hooks.register(serve.start_clickup)
