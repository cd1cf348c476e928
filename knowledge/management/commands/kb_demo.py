from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from knowledge import models, services

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
CREDENTIALS = "demo-credentials.json"


class Command(BaseCommand):
    help = (
        "Create (once) the demo tenant with an admin login, an API key and sample documents, and "
        "print how to use them. Development only: the demo credentials are kept in KB_DATA_DIR."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--slug", default="demo")

    def handle(self, *args: Any, **opts: Any) -> None:
        path = Path(settings.KB_DATA_DIR) / CREDENTIALS
        creds: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        tenant = models.Tenant.objects.filter(slug=opts["slug"]).first()
        with transaction.atomic():
            if tenant is None:
                tenant = services.tenant_create(slug=opts["slug"], name="Bright Smile Dental (demo)")
                creds = {}
            User = get_user_model()
            user = User.objects.filter(username="demo-admin").first()
            if user is None or "password" not in creds:
                creds["password"] = secrets.token_urlsafe(12)
                if user is None:
                    user = User.objects.create_user(username="demo-admin", password=creds["password"])
                else:
                    user.set_password(creds["password"])
                user.is_staff = True
                user.save()
            services.membership_set(tenant=tenant, user=user, role=models.Role.ADMIN)
            if tenant.retrieval_enabled is None:
                # The global default stays off (KB_RETRIEVAL_ENABLED=0); the demo answers at
                # once. An admin's own choice (on the retrieval test page) is kept.
                services.tenant_set_retrieval(tenant=tenant, enabled=True)
            key_ok = "api_key" in creds and models.ApiKey.objects.filter(
                tenant=tenant, prefix=creds.get("api_key_prefix", ""), revoked_at__isnull=True
            ).exists()
            if not key_ok:
                created = services.apikey_create(tenant=tenant, scopes=["retrieve", "manage"], name="demo")
                creds["api_key"] = created.plaintext
                creds["api_key_prefix"] = created.key.prefix
        path.write_text(json.dumps(creds))
        path.chmod(0o600)
        self._load_samples(tenant)
        self.stdout.write(f"demo tenant: {tenant.slug}")
        self.stdout.write(f"login:       demo-admin / {creds['password']}")
        self.stdout.write(f"API key:     {creds['api_key']}")
        self.stdout.write(f"retrieval:   {'on' if tenant.retrieval_enabled else 'off'} for this tenant")

    def _load_samples(self, tenant: models.Tenant) -> None:
        if not DEMO_DIR.is_dir():
            return
        for sample in sorted(DEMO_DIR.iterdir()):
            if sample.suffix not in (".md", ".txt", ".html"):
                continue
            kind = models.Kind.POLICY if sample.name.startswith("policy") else models.Kind.KNOWLEDGE
            with sample.open("rb") as fh:
                services.document_upload(tenant=tenant, fileobj=fh, filename=sample.name, kind=kind)
