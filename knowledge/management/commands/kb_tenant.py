from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count

from kbsite.errors import ServiceError
from knowledge import models, services


class Command(BaseCommand):
    help = "Create or list tenants."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a tenant")
        create.add_argument("slug")
        create.add_argument("--name", default="")
        sub.add_parser("list", help="list tenants")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["action"] == "create":
            try:
                tenant = services.tenant_create(slug=opts["slug"], name=opts["name"] or opts["slug"])
            except ServiceError as exc:
                raise CommandError(exc.message) from exc
            self.stdout.write(f"created tenant {tenant.slug} ({tenant.name})")
            return
        for tenant in models.Tenant.objects.annotate(docs=Count("documents")).order_by("slug"):
            self.stdout.write(f"{tenant.slug}\t{tenant.name}\t{tenant.docs} documents")
