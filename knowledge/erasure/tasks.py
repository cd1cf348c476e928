"""django-q2 entry point: the receipt id in, the service does the rest."""

from __future__ import annotations

from knowledge.erasure import services


def erasure_run(receipt_id: int) -> str:
    return str(services.erasure_run(receipt_id=receipt_id).status)
