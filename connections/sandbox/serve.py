"""The sandbox under ``kb_serve`` (``make run``): started in the supervisor process before the
web and worker processes, which reach it through the ordinary provider settings. One
function per provider (``start_microsoft``, ``start_google``, ``start_clickup``); ``start``
runs them all.

On when ``KB_SANDBOX_PROVIDERS`` says so, and by default (the variable unset) when no
``KB_MS_CLIENT_ID`` is set; never instead of a real client id. The account and its grants are
kept in ``KB_DATA_DIR/sandbox/microsoft.pickle`` and the port is reused across restarts (delta
links stored by connections carry it), so a connection made yesterday still syncs today.
``KB_SANDBOX_PORT`` fixes the port (Google's: the next one). The Google sandbox (``google.FakeGoogle``) is on by the same
rule, unless ``KB_GOOGLE_CLIENT_ID`` is set; its state is ``google.pickle``, its port and URL
``google-port`` / ``google-url`` (``kb_sandbox --url`` reaches it). ClickUp's likewise:
``clickup.pickle``, ``clickup-port`` (``KB_SANDBOX_PORT`` + 2), unless ``KB_CLICKUP_CLIENT_ID`` is set.
"""

from __future__ import annotations

import logging
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from connections.sandbox import demo, google_demo
from connections.sandbox.clickup import FakeClickUp
from connections.sandbox.google import FakeGoogle
from connections.sandbox.server import FakeMicrosoft
from knowledge import serve_hooks

logger = logging.getLogger(__name__)

CLIENT_ID = "sandbox"


def state_dir() -> Path:
    return Path(settings.KB_DATA_DIR) / "sandbox"


def url_file() -> Path:
    """Where the running sandbox's base URL is written (read by ``kb_sandbox``)."""
    return state_dir() / "url"


def _on() -> bool:
    explicit = os.environ.get("KB_SANDBOX_PROVIDERS")
    return bool(settings.KB_SANDBOX_PROVIDERS if explicit not in (None, "") else not settings.KB_MS_CLIENT_ID)


def wanted() -> bool:
    on = _on()
    if on and settings.KB_MS_CLIENT_ID:
        logger.warning("KB_SANDBOX_PROVIDERS is on but KB_MS_CLIENT_ID is set: the real Microsoft app is used")
        return False
    return bool(on)


def _start_server(fake: FakeMicrosoft | FakeGoogle | FakeClickUp, *, port_name: str = "port", offset: int = 0) -> None:
    """``offset``: the provider's place after ``KB_SANDBOX_PORT`` (Microsoft 0, Google 1, ClickUp 2)."""
    port_file = state_dir() / port_name
    fixed = settings.KB_SANDBOX_PORT + offset if settings.KB_SANDBOX_PORT else 0
    ports = [fixed] if fixed else []
    if not ports and port_file.exists():
        ports.append(int(port_file.read_text().strip() or 0))
    ports.append(0)
    for port in ports:
        fake.port = port
        try:
            fake.start()
            break
        except OSError:
            if port == ports[-1] or fixed:
                raise
            logger.warning("sandbox port %s is taken: using another (stored delta links will fail once)", port)
    port_file.write_text(fake.base_url.rsplit(":", 1)[1])


def start() -> serve_hooks.Started | None:
    """Every provider's sandbox that is wanted, as one started service."""
    started: list[serve_hooks.Started] = []
    try:
        for provider_start in (start_microsoft, start_google, start_clickup):
            one = provider_start()
            if one is not None:
                started.append(one)
    except BaseException:
        serve_hooks.stop_all(started)
        raise
    if not started:
        return None

    def stop() -> None:
        serve_hooks.stop_all(started)

    env = {k: v for s in started for k, v in s.env.items()}
    return serve_hooks.Started(env=env, banner=[line for s in started for line in s.banner], stop=stop)


def start_microsoft() -> serve_hooks.Started | None:
    if not wanted():
        return None
    state_dir().mkdir(parents=True, exist_ok=True)
    fake = FakeMicrosoft(
        client_id=CLIENT_ID, client_secret=secrets.token_urlsafe(24), state_path=state_dir() / "microsoft.pickle",
        record_requests=False,
    )
    if fake.restored:
        # Changes made from now on carry today's dates (the store's clock only ticks).
        fake.store.clock = max(fake.store.clock, datetime.now(UTC))
    else:
        demo.seed(fake.store)
        fake.save()
    _start_server(fake)
    url_file().write_text(fake.base_url)
    env = {
        "KB_SANDBOX_PROVIDERS": "1",
        "KB_MS_CLIENT_ID": fake.client_id,
        "KB_MS_CLIENT_SECRET": fake.client_secret,
        "KB_MS_AUTHORITY": fake.authority,
        "KB_MS_GRAPH_URL": fake.graph_url,
        "KB_SANDBOX_URL": fake.base_url,
    }
    user = fake.store.user
    banner = [
        f"Sandbox Microsoft account: {user.get('mail') or user.get('userPrincipalName')} at {fake.base_url} "
        f"({'restored' if fake.restored else 'new demo business'}; state in {state_dir()})",
        "  connect it on /kb/connections/; change it with `manage.py kb_sandbox list|add|edit|delete`",
    ]

    def stop() -> None:
        fake.save()
        fake.stop()
        url_file().unlink(missing_ok=True)

    return serve_hooks.Started(env=env, banner=banner, stop=stop)


def google_url_file() -> Path:
    return state_dir() / "google-url"


def google_wanted() -> bool:
    on = _on()
    if on and settings.KB_GOOGLE_CLIENT_ID:
        logger.warning("KB_SANDBOX_PROVIDERS is on but KB_GOOGLE_CLIENT_ID is set: the real Google app is used")
        return False
    return on


def start_google() -> serve_hooks.Started | None:
    if not google_wanted():
        return None
    state_dir().mkdir(parents=True, exist_ok=True)
    fake = FakeGoogle(
        client_id=f"{CLIENT_ID}.apps.googleusercontent.example", client_secret=secrets.token_urlsafe(24),
        state_path=state_dir() / "google.pickle", record_requests=False,
    )
    if fake.restored:
        fake.store.clock = max(fake.store.clock, datetime.now(UTC))
    else:
        google_demo.seed(fake.store)
        fake.save()
    _start_server(fake, port_name="google-port", offset=1)
    google_url_file().write_text(fake.base_url)
    env = {"KB_SANDBOX_PROVIDERS": "1", **fake.settings()}
    banner = [
        f"Sandbox Google account: {fake.store.user['emailAddress']} at {fake.base_url} "
        f"({'restored' if fake.restored else 'new demo business'})",
        "  change it with `manage.py kb_sandbox --provider google list|add|edit|delete`",
    ]

    def stop() -> None:
        fake.save()
        fake.stop()
        google_url_file().unlink(missing_ok=True)

    return serve_hooks.Started(env=env, banner=banner, stop=stop)


# --- ClickUp -------------------------------------------------------------------------------------


def clickup_url_file() -> Path:
    return state_dir() / "clickup-url"


def clickup_wanted() -> bool:
    on = _on()
    if on and settings.KB_CLICKUP_CLIENT_ID:
        logger.warning("KB_SANDBOX_PROVIDERS is on but KB_CLICKUP_CLIENT_ID is set: the real ClickUp app is used")
        return False
    return on


def start_clickup() -> serve_hooks.Started | None:
    """The ClickUp sandbox (``KB_DATA_DIR/sandbox/clickup.pickle``, its port kept in
    ``clickup-port``), like Microsoft's: on unless a real ClickUp client id is set."""
    from connections.sandbox.clickup_store import seed_demo

    if not clickup_wanted():
        return None
    state_dir().mkdir(parents=True, exist_ok=True)
    fake = FakeClickUp(client_id=CLIENT_ID, client_secret=secrets.token_urlsafe(24),
                       state_path=state_dir() / "clickup.pickle", record_requests=False)
    if not fake.restored:
        seed_demo(fake.store)
        fake.save()
    _start_server(fake, port_name="clickup-port", offset=2)
    clickup_url_file().write_text(fake.base_url)
    env = {
        "KB_SANDBOX_PROVIDERS": "1",
        "KB_CLICKUP_CLIENT_ID": fake.client_id,
        "KB_CLICKUP_CLIENT_SECRET": fake.client_secret,
        "KB_CLICKUP_AUTH_URL": fake.auth_url,
        "KB_CLICKUP_API_URL": fake.api_url,
        "KB_SANDBOX_CLICKUP_URL": fake.base_url,
    }
    banner = [
        f"Sandbox ClickUp account: {fake.store.user['email']} at {fake.base_url} "
        f"({'restored' if fake.restored else 'new demo business'})",
        "  change it with `manage.py kb_sandbox --provider clickup list|add|edit|delete`",
    ]

    def stop() -> None:
        fake.save()
        fake.stop()
        clickup_url_file().unlink(missing_ok=True)

    return serve_hooks.Started(env=env, banner=banner, stop=stop)
