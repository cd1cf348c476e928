"""The policy block: the tenant's policy rules in document order, without the overlap
between consecutive chunks, capped at a paragraph, sentence or line end (DESIGN §5).
Cached per (tenant id, ``Tenant.policy_version``, cap); writers bump the version in the
transaction that changes policy chunks (``knowledge.policy_cache``), so a warm call runs
no policy query."""

from __future__ import annotations

import re

from django.conf import settings
from django.db import connection

from knowledge import models
from knowledge.retrieval import caches, schemas

POLICY_SQL = """
SELECT c.id, c.document_id, c.heading, c.text
FROM knowledge_chunk c
JOIN knowledge_document d ON d.id = c.document_id AND d.tenant_id = c.tenant_id
WHERE c.tenant_id = %s AND c.kind = 'policy' AND c.scope = 'tenant'
  AND (c.connection_id IS NULL OR c.connection_id IN
       (SELECT cc.id FROM connections_connection cc WHERE cc.tenant_id = c.tenant_id AND cc.status = 'active'))
ORDER BY d.created_at, d.id, c.chunk_index
"""


def policy_max_chars(tenant: models.Tenant) -> int:
    return int(tenant.policy_max_chars or settings.KB_POLICY_MAX_CHARS)


def policy_block(tenant: models.Tenant) -> tuple[schemas.PolicyOut, bool]:
    """(block, cache hit). Cached per (tenant id, policy_version, cap)."""
    cap = policy_max_chars(tenant)
    key = (tenant.pk, tenant.policy_version, cap)
    block = caches.policy_blocks.get(key)
    if block is not None:
        return block, True
    with connection.cursor() as cur:
        cur.execute(POLICY_SQL, [tenant.pk])
        rows = cur.fetchall()
    block = build_policy_block(rows, cap)
    caches.policy_blocks.put(key, block)
    return block, False


def _strip_overlap(previous: str, text: str, limit: int = 400) -> str:
    """Drop the start of ``text`` that repeats the end of ``previous`` (chunk overlap)."""
    longest = min(len(previous), len(text), limit)
    for size in range(longest, 19, -1):
        if previous.endswith(text[:size]):
            return text[size:].lstrip()
    return text


def _cut(text: str, cap: int, *, words: bool) -> str:
    """``text`` cut to at most ``cap`` characters at the last paragraph, sentence or line end
    (a rule cut mid-sentence can say the opposite of the rule); at a word boundary only
    when ``words`` is set. "" when no such boundary fits."""
    if len(text) <= cap:
        return text
    head = text[: cap + 1]
    # The latest paragraph, sentence or line end that fits; a word boundary as last resort.
    ends = [m.start() for m in re.finditer(r"\n", head)]
    ends += [m.end() for m in re.finditer(r"[.!?;](?=\s)", head)]
    ends = [end for end in ends if 0 < end <= cap]
    if ends:
        return head[: max(ends)].rstrip()
    if words:
        spaces = [m.start() for m in re.finditer(r"\s", head) if 0 < m.start() <= cap]
        return head[: max(spaces)].rstrip() if spaces else head[:cap].rstrip()
    return ""


def build_policy_block(rows: list[tuple[int, int, str, str]], cap: int) -> schemas.PolicyOut:
    """Join policy chunks (id, document id, heading, text) in order, without the overlap
    between consecutive chunks, with a heading line when the heading changes; cap it."""
    parts: list[str] = []
    ids: list[int] = []
    length = 0
    truncated = False
    prev_doc: int | None = None
    prev_heading = ""
    prev_text = ""
    for chunk_id, document_id, heading, text in rows:
        same_doc = document_id == prev_doc
        body = (_strip_overlap(prev_text, text) if same_doc else text).strip()
        heading = (heading or "").strip()
        lead = f"{heading}:\n" if heading and (heading != prev_heading or not same_doc) else ""
        prev_doc, prev_heading, prev_text = document_id, heading, text
        if not body:
            continue
        piece = lead + body
        sep = "\n\n" if parts else ""
        if length + len(sep) + len(piece) > cap:
            room = cap - length - len(sep) - len(lead)
            cut = _cut(body, room, words=not parts) if room > 0 else ""
            if cut:
                parts.append(sep + lead + cut)
                ids.append(chunk_id)
            truncated = True
            break
        parts.append(sep + piece)
        ids.append(chunk_id)
        length += len(sep) + len(piece)
    return schemas.PolicyOut(text="".join(parts), chunk_ids=tuple(ids), truncated=truncated)
