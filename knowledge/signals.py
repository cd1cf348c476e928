"""Hooks that ``knowledge`` offers to the apps that use it (it imports none of them).

``documents_purged`` is sent by ``knowledge.purge`` inside the transaction that removes the
documents, with keyword arguments ``tenant_id``, ``document_ids`` (every removed document)
and ``personal_document_ids`` (those of them that were personal). A receiver returns the
number of rows it changed (the audit app: recall audit rows redacted), which the purge adds
to its receipt; raising rolls the purge back.

``subject_erased`` is sent by ``knowledge.erasure`` inside the erasure's transaction, once per
tenant where a user was erased (their documents, connections and membership there are gone
by then; the user row too for an account-wide erasure), with keyword arguments ``tenant_id``
and ``user_id``. A listener regenerates what named the user (the member directory snapshot)
and may return the number of things it regenerated, which the receipt records. Not sent for
a dry run, nor for a whole tenant's erasure (the tenant is gone).
"""

from __future__ import annotations

from django.dispatch import Signal

documents_purged = Signal()
subject_erased = Signal()
