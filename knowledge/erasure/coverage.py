"""Which models refer to a user or a tenant, and what the erasure does with each — or why it
leaves one alone. ``tests/test_erasure_coverage.py`` fails when a model is in neither."""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import models as dj

from knowledge import models
from knowledge.erasure import plan, registry

# Models that refer to a user or a tenant but hold nothing the erasure must remove: the reason.
EXEMPT: dict[str, str] = {
    "knowledge.ErasureReceipt": (
        "the proof of the erasure itself: it holds the subject only as a keyed hash and counts; its "
        "tenant and requester links are SET_NULL, and the pending user id is cleared when the run ends"
    ),
}


def referring_models(*, extra: list[type[dj.Model]] | None = None) -> dict[str, set[str]]:
    """Every model with a foreign key — direct, or through other models (a document, a
    connection, a membership) — to the user model or Tenant: label → the keys it goes through.
    ``extra``: models outside the app registry to consider too (tests)."""
    roots = {get_user_model(), models.Tenant}
    reach: dict[type[dj.Model], set[str]] = {}
    candidates = [*apps.get_models(), *(extra or [])]
    changed = True
    while changed:
        changed = False
        for model in candidates:
            if model in roots:
                continue
            for f in model._meta.get_fields():
                if not (f.is_relation and f.concrete and f.related_model is not None):
                    continue
                target = f.related_model
                if isinstance(target, str) or target is model or not (target in roots or target in reach):
                    continue
                via = f"{model._meta.label}.{f.name} → {target._meta.label}"
                known = reach.setdefault(model, set())
                if via not in known:
                    known.add(via)
                    changed = True
    return {model._meta.label: via for model, via in reach.items()}


def planned() -> dict[str, str]:
    """Model label → what the erasure does with its rows (knowledge's plan and the participants')."""
    covered = dict(plan.COVERS)
    for participant in registry.participants():
        covered.update(participant.covers)
    return covered
