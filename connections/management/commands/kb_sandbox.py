"""Change the sandbox Microsoft account of a running ``make run`` (its ``/_sandbox/`` control
endpoints), to watch an edit or a deletion arrive at the next sync.

    manage.py kb_sandbox list
    manage.py kb_sandbox add --name faq.txt --text "We speak Spanish." [--parent Reception]
    manage.py kb_sandbox add --kind mail --name "Subject" --text "Body" [--parent "Shared inbox"]
    manage.py kb_sandbox add --kind thread --text "Message" [--parent "Front desk"]
    manage.py kb_sandbox edit ID [--text "new content"] [--name new-name.txt]
    manage.py kb_sandbox delete ID
"""

from __future__ import annotations

import os
from typing import Any

import httpx
from django.core.management.base import BaseCommand, CommandError, CommandParser

from connections.sandbox import serve


class Command(BaseCommand):
    help = "List, add, edit or delete items of a running sandbox account (Microsoft, Google or ClickUp)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["list", "add", "edit", "delete"])
        parser.add_argument("item_id", nargs="?", default="", help="the item (edit, delete): see `list`")
        parser.add_argument("--provider", choices=["microsoft", "google", "clickup"], default="microsoft",
                            help="which sandbox account (default: Microsoft)")
        parser.add_argument("--kind", choices=["file", "doc", "mail", "thread", "task", "comment"], default="file",
                            help="add: what to add (doc: Google; task, comment: ClickUp; thread: Teams)")
        parser.add_argument("--name", default=None, help="a file's name or a mail's subject")
        parser.add_argument("--text", default=None, help="a file's content, a mail's or a message's body")
        parser.add_argument("--parent", default="", help="add: folder, mail folder or channel (id or name)")
        parser.add_argument("--url", default="", help="the sandbox's base URL (default: the running one)")

    def _base_url(self, given: str, provider: str) -> str:
        url = given or (os.environ.get("KB_SANDBOX_URL", "") if provider == "microsoft" else "")
        where = {"microsoft": serve.url_file, "google": serve.google_url_file, "clickup": serve.clickup_url_file}[provider]()
        if not url and where.exists():
            url = where.read_text().strip()
        if not url:
            raise CommandError("no sandbox is running: start `make run` (without KB_MS_CLIENT_ID)")
        return url.rstrip("/")

    def handle(self, *args: Any, **opts: Any) -> None:
        base = f"{self._base_url(opts['url'], opts['provider'])}/_sandbox/items"
        action, item_id = opts["action"], opts["item_id"]
        if action in ("edit", "delete") and not item_id:
            raise CommandError(f"{action} needs an item id (see `kb_sandbox list`)")
        body: dict[str, Any] = {}
        if opts["text"] is not None:
            body["text"] = opts["text"]
        if opts["name"] is not None:
            body["name"] = opts["name"]
        try:
            if action == "list":
                response = httpx.get(base, timeout=10)
            elif action == "add":
                key = {"mail": "folder", "thread": "channel"}.get(opts["kind"], "parent")
                if opts["kind"] == "mail":
                    body["subject"] = body.pop("name", "")
                elif opts["kind"] == "file" and not body.get("name"):
                    raise CommandError("add a file with --name")
                response = httpx.post(base, json={**body, "kind": opts["kind"], key: opts["parent"]}, timeout=10)
            elif action == "edit":
                response = httpx.post(f"{base}/{item_id}", json=body, timeout=10)
            else:
                response = httpx.delete(f"{base}/{item_id}", timeout=10)
        except httpx.HTTPError as exc:
            raise CommandError(f"the sandbox at {base} did not answer: {exc}") from exc
        data = response.json()
        if response.status_code >= 400:
            raise CommandError(data.get("error", response.text))
        if action == "list":
            for item in data["items"]:
                self.stdout.write(f"{item['id']:<28} {item['kind']:<7} {item['where']:<28} {item['name']}")
            self.stdout.write(f"{data['count']} items")
        else:
            verb = {"add": "added", "edit": "edited", "delete": "deleted"}[action]
            self.stdout.write(f"{verb} {data['id']} — it reaches the knowledge base at the next sync")
