"""``kb_connections list|sync ID [--full]|revoke ID`` (DESIGN §9): operators' view of the
connected accounts, through the same selectors and services as the API."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connections import models, selectors, services
from kbsite.errors import ServiceError


class Command(BaseCommand):
    help = "List connections, queue a sync run, or revoke (disconnect and purge) a connection."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        lst = sub.add_parser("list", help="list connections with their status and last run")
        lst.add_argument("--tenant", default="", help="only this tenant's (slug)")
        sync = sub.add_parser("sync", help="queue a sync run (a backfill until one succeeded, else a delta)")
        sync.add_argument("id", type=int)
        sync.add_argument("--full", action="store_true", help="a full re-enumeration")
        revoke = sub.add_parser("revoke", help="disconnect: revoked at once, tokens destroyed, purge queued")
        revoke.add_argument("id", type=int)

    def _get(self, connection_id: int) -> models.Connection:
        found = models.Connection.objects.select_related("tenant", "owner").filter(pk=connection_id).first()
        if found is None:
            raise CommandError(f"no connection {connection_id}")
        return found

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            if opts["action"] == "list":
                self._list(opts["tenant"])
            elif opts["action"] == "sync":
                connection = self._get(opts["id"])
                kind = services.sync_kind_for(connection=connection, full=opts["full"])
                result = services.sync_request(connection=connection, kind=kind, trigger=models.RunTrigger.COMMAND)
                state = "queued" if result.created else f"already {result.run.status}"
                self.stdout.write(f"run {result.run.pk} ({result.run.kind}) {state} for connection {connection.pk}")
            else:
                connection = self._get(opts["id"])
                result_r = services.connection_revoke(connection=connection, reason="Revoked by an operator.")
                self.stdout.write(
                    f"connection {connection.pk} revoked; tokens destroyed; purge run {result_r.run.pk} queued"
                )
        except ServiceError as exc:
            raise CommandError(exc.message) from exc

    def _list(self, slug: str) -> None:
        qs = models.Connection.objects.select_related("tenant", "owner").order_by("tenant__slug", "id")
        if slug:
            qs = qs.filter(tenant__slug=slug)
        for c in qs:
            run = selectors.last_run(connection=c)
            last = f"{run.kind} {run.status} {run.counts}" if run else "no runs"
            sources = selectors.sources(connection=c).count()
            self.stdout.write(
                f"{c.pk}\t{c.tenant.slug}\t{c.owner.get_username()}\t{c.provider}\t{c.account_label or '-'}\t"
                f"{c.status}\t{sources} sources\t{last}"
            )
