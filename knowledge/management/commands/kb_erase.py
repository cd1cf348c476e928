"""``kb_erase --user ID|USERNAME|EMAIL [--tenant SLUG] [--dry-run]`` and
``kb_erase --tenant SLUG [--dry-run]`` (DESIGN §10): erase a person (in one tenant: their
membership there ends; without --tenant: everywhere, and their account) or a whole tenant, now.
The receipt is printed as JSON on the last line."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kbsite.errors import ServiceError
from knowledge import models
from knowledge.erasure import schemas, services, subjects


class Command(BaseCommand):
    help = "Erase a user (in one tenant, or everywhere with their account) or a whole tenant; prints the receipt."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", default="", help="the user's id, username or e-mail address")
        parser.add_argument("--tenant", default="", help="a tenant's slug: the user's erasure there only, or alone the whole tenant")
        parser.add_argument("--dry-run", action="store_true", help="count what would be erased; change nothing")

    def handle(self, *args: Any, **opts: Any) -> None:
        identifier, slug, dry_run = opts["user"], opts["tenant"], bool(opts["dry_run"])
        if not identifier and not slug:
            raise CommandError("name --user, --tenant, or both")
        tenant = None
        if slug:
            tenant = models.Tenant.objects.filter(slug=slug).first()
            if tenant is None:
                raise CommandError(f"no tenant {slug!r}")
        try:
            if identifier:
                user = subjects.user_find(identifier=identifier, allow_id=True)
                scope = models.ErasureScope.USER_IN_TENANT if tenant is not None else models.ErasureScope.USER
                receipt = services.erase_now(scope=scope, user=user, tenant=tenant, dry_run=dry_run)
            else:
                receipt = services.erase_now(scope=models.ErasureScope.TENANT, tenant=tenant, dry_run=dry_run)
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        what = "would hold" if dry_run else "held"
        for table, before in receipt.counts_before.items():
            self.stdout.write(f"{table}: {before} rows {what} the subject's data; after: {receipt.counts_after.get(table)}")
        self.stdout.write(
            f"erasure {receipt.pk} {receipt.status}{' (dry run)' if dry_run else ''}: "
            f"{receipt.files_deleted} files deleted, vacuum finished {receipt.vacuum_finished_at or '-'}"
        )
        self.stdout.write(json.dumps(schemas.ReceiptOut.from_orm(receipt).model_dump(mode="json"), sort_keys=True))
        if receipt.status != models.ErasureStatus.FINISHED:
            raise CommandError(f"erasure {receipt.pk} {receipt.status}: {receipt.error}")
