"""The local Google OAuth + Drive + Gmail server lives in product code (the sandbox of
``make run``): connections/sandbox/google.py. Tests import it from here, unchanged."""

from connections.sandbox.google import FakeGoogle, RecordedRequest

__all__ = ["FakeGoogle", "RecordedRequest"]
