"""The local ClickUp OAuth + API v2 server lives in product code (the sandbox of ``make
run``): connections/sandbox/clickup.py. Tests import it from here."""

from connections.sandbox.clickup import FakeClickUp
from connections.sandbox.clickup_store import ClickUpStore, seed_demo
from connections.sandbox.server import RecordedRequest

__all__ = ["ClickUpStore", "FakeClickUp", "RecordedRequest", "seed_demo"]
