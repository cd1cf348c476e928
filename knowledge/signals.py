"""Hooks that ``knowledge`` offers to the apps that use it (it imports none of them).

``documents_purged`` is sent by ``knowledge.purge`` inside the transaction that removes the
documents, with keyword arguments ``tenant_id``, ``document_ids`` (every removed document)
and ``personal_document_ids`` (those of them that were personal). A receiver returns the
number of rows it changed (the audit app: recall audit rows redacted), which the purge adds
to its receipt; raising rolls the purge back.
"""

from __future__ import annotations

from django.dispatch import Signal

documents_purged = Signal()
