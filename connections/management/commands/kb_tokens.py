from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from connections import tokens


class Command(BaseCommand):
    help = (
        "Connected-account tokens. `rotate`: re-encrypt every token row (and ClickUp webhook secret) with the newest key "
        "of KB_TOKEN_KEYS (put the new key first, run this, then drop the old key). "
        "`key`: print a new key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["rotate", "key"])

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["action"] == "key":
            from connections import crypto

            self.stdout.write(crypto.generate_key())
            return
        from connections import clickup_webhooks

        result = tokens.token_keys_rotate()
        hooks = clickup_webhooks.secrets_rotate()
        self.stdout.write(
            f"rotated={result.rotated} already_current={result.already_current} "
            f"key={result.key_id} webhook_secrets={hooks}"
        )
