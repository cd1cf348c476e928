"""The local Microsoft identity + Graph server now lives in product code (the sandbox of
``make run``): connections/sandbox/server.py. Tests import it from here, unchanged."""

from connections.sandbox.server import FakeMicrosoft, RecordedRequest

__all__ = ["FakeMicrosoft", "RecordedRequest"]
