"""Erasure of a person or a whole tenant, with a receipt (DESIGN §10).

Contract:

* ``services.erasure_request(...)`` creates an ``ErasureReceipt`` (``queued``);
  ``services.erasure_run(receipt_id=)`` claims it and does the work; ``kb_erase`` runs both
  at once, ``POST /api/v1/erasure`` queues ``tasks.erasure_run`` (the receipt id only).
* What is erased is the *plan*: ``plan`` (knowledge's own tables) plus the participants that
  other apps register from their ``AppConfig.ready`` (``registry.register``) — knowledge
  imports none of them. Each participant counts, per table, the rows that hold the subject's
  data and performs its part; the receipt keeps the counts before and after (after: 0).
* ``coverage`` names every model that refers to a user or a tenant, with what the plan does
  to it or why it is exempt; a test fails when a model is in neither.
* Files go after commit (checked by count), then ``VACUUM (ANALYZE)`` of the chunk table
  outside any transaction, so deleted vectors leave the HNSW index; its finish time is on
  the receipt. A dry run measures the same counts and changes nothing.
"""
