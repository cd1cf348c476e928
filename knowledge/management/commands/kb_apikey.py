from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kbsite.errors import ServiceError
from knowledge import models, selectors, services


class Command(BaseCommand):
    help = "Create, list or revoke a tenant's API keys. The key is printed once, on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create")
        create.add_argument("slug")
        create.add_argument("--scopes", default="retrieve")
        create.add_argument("--name", default="")
        lst = sub.add_parser("list")
        lst.add_argument("slug")
        revoke = sub.add_parser("revoke")
        revoke.add_argument("slug")
        revoke.add_argument("prefix", help="the key's prefix (shown by list), or the full key")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            tenant = selectors.tenant_get_by_slug(slug=opts["slug"])
            if opts["action"] == "create":
                created = services.apikey_create(
                    tenant=tenant, scopes=opts["scopes"].split(","), name=opts["name"]
                )
                self.stdout.write(
                    f"created key {created.key.prefix} for {tenant.slug} with scopes "
                    f"{','.join(created.key.scopes)}; it is shown only once:"
                )
                self.stdout.write(created.plaintext)
            elif opts["action"] == "list":
                for key in selectors.apikey_list(tenant=tenant):
                    state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
                    used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
                    self.stdout.write(f"{key.prefix}\t{key.name or '-'}\t{','.join(key.scopes)}\t{state}\tlast used {used}")
            else:
                prefix = opts["prefix"].removeprefix("kb_").split("_")[0]
                found = models.ApiKey.objects.filter(tenant=tenant, prefix=prefix).first()
                if found is None:
                    raise CommandError(f"no key {prefix} for tenant {tenant.slug}")
                services.apikey_revoke(key=found)
                self.stdout.write(f"revoked key {found.prefix}")
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
