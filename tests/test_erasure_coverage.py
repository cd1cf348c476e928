"""Every model that refers to a user or a tenant — directly, or through a tenant, membership,
document or connection — is in the erasure plan or exempted with a written reason."""

from __future__ import annotations

from django.db import models as dj
from django.test.utils import isolate_apps

from knowledge import models
from knowledge.erasure import coverage


def uncovered(found: dict[str, set[str]]) -> dict[str, set[str]]:
    known = set(coverage.planned()) | set(coverage.EXEMPT)
    return {label: via for label, via in found.items() if label not in known}


def test_every_model_that_refers_to_a_user_or_a_tenant_is_erased_or_exempted_with_a_reason() -> None:
    found = coverage.referring_models()
    # The enumeration reaches through other models, not only direct keys.
    assert {"knowledge.IngestJob", "connections.SyncCursor", "audit.RecallAudit", "admin.LogEntry"} <= set(found)
    assert uncovered(found) == {}, (
        "models that refer to a user or a tenant but are neither in the erasure plan "
        "(knowledge/erasure/plan.py COVERS, a participant's covers) nor in coverage.EXEMPT"
    )
    assert all(reason.strip() for reason in [*coverage.planned().values(), *coverage.EXEMPT.values()])


def test_the_plan_names_no_model_that_does_not_exist() -> None:
    from django.apps import apps

    labels = {m._meta.label for m in apps.get_models()}
    assert set(coverage.planned()) - labels == set() and set(coverage.EXEMPT) - labels == set()


@isolate_apps("knowledge")
def test_a_new_model_that_refers_to_a_tenant_through_a_document_fails_the_coverage() -> None:
    class Annotation(dj.Model):
        document = dj.ForeignKey(models.Document, on_delete=dj.CASCADE)

        class Meta:
            app_label = "knowledge"

        def __str__(self) -> str:
            return "annotation"

    found = coverage.referring_models(extra=[Annotation])
    assert set(uncovered(found)) == {"knowledge.Annotation"}
