"""Provider wire clients: pure modules over httpx, no ORM, no settings read at import.

Each client takes its base URLs and a bearer token from the caller, returns typed results
(dataclasses), streams pages as generators, and raises the small hierarchy in
``connections.providers.errors`` (throttled with ``retry_after``, cursor expired, auth
refused, provider error), so the sync engine treats every provider alike.
"""
