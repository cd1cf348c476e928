"""``kb_member add SLUG USERNAME --role admin|support|member [--email E]`` (DESIGN §7).

Creates the user if needed and gives them the role in the tenant. The password is the first
line of standard input — never an argument, which would land in shell history and ``ps``.
A new user needs one; for an existing user a given line replaces the password and an empty
input keeps it.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from kbsite.errors import ServiceError
from knowledge import models, selectors, services


class Command(BaseCommand):
    help = "Add a member to a tenant (creating the user if needed); the password is read from standard input."
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="add or update a member; password = first line of stdin")
        add.add_argument("slug")
        add.add_argument("username")
        add.add_argument("--role", required=True, choices=models.Role.values)
        add.add_argument("--email", default="")
        lst = sub.add_parser("list", help="list a tenant's members")
        lst.add_argument("slug")

    def _password(self, stream: TextIO) -> str:
        line = stream.readline()
        return line.rstrip("\r\n")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            tenant = selectors.tenant_get_by_slug(slug=opts["slug"])
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        if opts["action"] == "list":
            for m in models.Membership.objects.filter(tenant=tenant).select_related("user").order_by("user__username"):
                self.stdout.write(f"{m.user.get_username()}\t{m.role}\t{m.user.email or '-'}")
            return
        stream: TextIO = opts.get("stdin") or sys.stdin
        password = self._password(stream)
        user_model: Any = get_user_model()
        username = opts["username"].strip()
        if not username:
            raise CommandError("username is required")
        with transaction.atomic():
            user = user_model.objects.filter(username=username).first()
            created = user is None
            if created:
                if not password:
                    raise CommandError("a new user needs a password: give it as the first line of standard input")
                user = user_model(username=username, email=opts["email"])
            elif opts["email"]:
                user.email = opts["email"]
            if password:
                try:
                    password_validation.validate_password(password, user)
                except ValidationError as exc:
                    raise CommandError(" ".join(exc.messages)) from exc
                user.set_password(password)
            user.save()
            try:
                services.membership_set(tenant=tenant, user=user, role=opts["role"])
            except ServiceError as exc:
                raise CommandError(exc.message) from exc
        verb = "created user" if created else "updated user"
        self.stdout.write(f"{verb} {username}: {opts['role']} of {tenant.slug}")
