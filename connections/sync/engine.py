"""The sync engine, provider-agnostic: ``run(run_id=)`` executes one SyncRun row.

Per selected source: backfill (the change cursor taken BEFORE it) → deltas; a cursor the
provider refuses (``CursorExpired``) → a full re-enumeration whose sweep removes what it did
not see, never after a partial enumeration (a resumed full re-enumeration starts over).
Each page's changes are applied and its cursor stored in ONE transaction (with the run's
counts): a crash replays a page and never skips one.
A provider without a delete feed (ClickUp) offers ``present`` (the ids still at the source):
on a run that did not enumerate the source, when due (``presence_every``, at least daily),
the complete listing is read and the source's documents not in it are removed.

Ends of a run: ``succeeded`` (item errors recorded, counts.failed > 0 allowed); paused on
throttling (back to ``queued`` with ``resume_at``, the task sent again); ``failed`` with the
reason when the token is refused (the connection becomes ``needs_reauth``, scheduling stops)
or the provider keeps failing after the attempts; purge runs remove every document of a
revoked connection and leave the receipt on it (status ``purged``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from connections import models, tokens
from connections.providers import errors
from connections.sync import adapters, apply, cursors, runs
from connections.sync.changes import Adapter, Upsert

logger = logging.getLogger(__name__)

PAUSED = "paused"
NOT_CLAIMED = "not-claimed"
LOST_CLAIM = "lost-claim"
# A presence sweep (providers without a delete feed) runs at least this often.
PRESENCE_AT_LEAST_EVERY = timedelta(days=1)


class LostClaim(Exception):
    """The run's row was taken back (reaped, re-delivered): stop writing at once."""


def run(*, run_id: int) -> str:
    """Run one sync run to its end, a pause, or a failure. Returns what happened."""
    sync_run = runs.claim(run_id=run_id)
    if sync_run is None:
        logger.info("sync run %s not claimable (taken, paused, finished or its connection busy)", run_id)
        return NOT_CLAIMED
    connection = sync_run.connection
    tally = apply.Tally(counts={**models.empty_counts(), **(sync_run.counts or {})},
                        item_errors=list(sync_run.item_errors or []))
    try:
        with runs.heartbeat(sync_run):
            if sync_run.kind == models.RunKind.PURGE:
                return _purge(sync_run, connection)
            if connection.status != models.ConnectionStatus.ACTIVE:
                reason = f"the connection is {connection.get_status_display().lower()}"
                runs.fail(run=sync_run, reason=f"{reason}: {connection.status_reason}" if connection.status_reason else reason)
                return models.RunStatus.FAILED
            adapter = adapters.for_connection(connection)
            try:
                _sync(sync_run, connection, adapter, tally)
            finally:
                adapter.close()
            return _succeed(sync_run, connection, tally)
    except LostClaim:
        return LOST_CLAIM
    except errors.Throttled as exc:
        resume_at = runs.pause(run=sync_run, seconds=exc.retry_after,
                               reason=f"paused: the provider asked to wait {exc.retry_after:.0f} s ({exc})")
        logger.info("sync run %s throttled until %s", sync_run.pk, resume_at.isoformat())
        return PAUSED
    except tokens.ReauthRequired as exc:  # the token service marked the connection already
        runs.fail(run=sync_run, reason=exc.reason, counts=tally.counts, item_errors=tally.item_errors)
        return models.RunStatus.FAILED
    except (errors.AuthRefused, tokens.NoToken) as exc:
        reason = tokens.reauth_reason(provider=connection.provider, code="")
        tokens.connection_mark_needs_reauth(connection_id=connection.pk, reason=reason)
        logger.warning("sync run %s: access refused (%s)", sync_run.pk, type(exc).__name__)
        runs.fail(run=sync_run, reason=reason, counts=tally.counts, item_errors=tally.item_errors)
        return models.RunStatus.FAILED
    except errors.ProviderError as exc:
        if sync_run.attempts < sync_run.max_attempts and runs.requeue(
            run=sync_run, reason=f"attempt {sync_run.attempts} failed: {exc}; retrying"
        ):
            return models.RunStatus.QUEUED
        runs.fail(run=sync_run, reason=f"the provider kept failing: {exc}", counts=tally.counts,
                  item_errors=tally.item_errors)
        return models.RunStatus.FAILED
    except Exception as exc:  # the worker survives anything a provider can send
        logger.exception("sync run %s crashed", sync_run.pk)
        runs.fail(run=sync_run, reason=f"internal error while syncing ({type(exc).__name__}); "
                  "the details are in the worker's log", counts=tally.counts, item_errors=tally.item_errors)
        return models.RunStatus.FAILED


def _succeed(sync_run: models.SyncRun, connection: models.Connection, tally: apply.Tally) -> str:
    now = timezone.now()
    with transaction.atomic():
        if not runs.succeed(run=sync_run, counts=tally.counts, item_errors=tally.item_errors):
            return LOST_CLAIM
        models.Connection.objects.filter(pk=connection.pk, status=models.ConnectionStatus.ACTIVE).update(
            last_sync_at=now, next_sync_at=now + timedelta(minutes=settings.KB_SYNC_INTERVAL_MINUTES), updated_at=now,
        )
    return models.RunStatus.SUCCEEDED


def _progress(sync_run: models.SyncRun, tally: apply.Tally) -> None:
    """Inside a page's transaction: the run's counts with the page, or roll it all back."""
    if not runs.save_progress(run=sync_run, counts=tally.counts, item_errors=tally.item_errors):
        raise LostClaim


def _sync(sync_run: models.SyncRun, connection: models.Connection, adapter: Adapter, tally: apply.Tally) -> None:
    sources = list(models.ConnectionSource.objects.filter(connection=connection, tenant_id=connection.tenant_id))
    with transaction.atomic():
        apply.remove_unselected(connection=connection, source_ids=[s.pk for s in sources], tally=tally)
        _progress(sync_run, tally)
    tally.items_left = apply.items_left(connection=connection)
    full = sync_run.kind == models.RunKind.FULL
    for source in sources:
        target = apply.Target(connection=connection, source=source)
        try:
            _sync_source(sync_run, target, adapter, tally, full=full)
        except errors.AccessDenied as exc:
            # The source cannot be read (e.g. Teams messages need an administrator's consent):
            # said plainly on the run; the other sources go on.
            tally.fail(target=target, item=source.root_id, title=source.label, error=str(exc))
            with transaction.atomic():
                _progress(sync_run, tally)


def _restart(adapter: Adapter, source: models.ConnectionSource, memo: dict[str, object], *, sweep: bool) -> cursors.State:
    return cursors.State(phase=cursors.ENUMERATE, after=adapter.begin(source), sweep=sweep, memo=memo)


def _sync_source(
    sync_run: models.SyncRun, target: apply.Target, adapter: Adapter, tally: apply.Tally, *, full: bool
) -> None:
    source = target.source
    state = cursors.load(source=source)
    if state is None:  # a backfill: the change cursor first, so nothing changed meanwhile is missed
        state = _restart(adapter, source, {}, sweep=False)
        with transaction.atomic():
            cursors.save(source=source, state=state)
    elif full and state.memo.get("full_run") != sync_run.pk and not (state.phase == cursors.ENUMERATE and state.sweep):
        state = _restart(adapter, source, state.memo, sweep=True)
        with transaction.atomic():
            cursors.save(source=source, state=state)
    restarted = False
    while True:
        try:
            enumerated = state.phase == cursors.ENUMERATE
            if enumerated:
                state = _enumerate(sync_run, target, adapter, tally, state)
            _deltas(sync_run, target, adapter, tally, state)
            if not enumerated and _presence_due(adapter, state):
                _presence_sweep(sync_run, target, adapter, tally, state)
            return
        except errors.CursorExpired:
            if restarted:
                raise errors.ProviderError("the provider refused a fresh cursor too") from None
            restarted = True
            logger.info("sync run %s: cursor of source %s expired; full re-enumeration", sync_run.pk, source.pk)
            state = _restart(adapter, source, state.memo, sweep=True)
            with transaction.atomic():
                cursors.save(source=source, state=state)


def _enumerate(
    sync_run: models.SyncRun, target: apply.Target, adapter: Adapter, tally: apply.Tally, state: cursors.State
) -> cursors.State:
    source = target.source
    seen: set[str] = set()
    final: str | None = None
    # A sweeping enumeration starts over when resumed: its seen set must cover the whole source.
    link = None if state.sweep else state.link
    for page in adapter.enumerate(source, link=link, memo=state.memo):
        ops = apply.resolve(target=target, changes=page.changes, tally=tally)
        if state.sweep:
            seen.update(c.external_id for c in page.changes if isinstance(c, Upsert))
        final = page.final_link or final
        with transaction.atomic():
            apply.commit(target=target, ops=ops, tally=tally)
            state.link = page.next_link or page.final_link
            cursors.save(source=source, state=state)
            _progress(sync_run, tally)
    link_after = state.after or final
    if not link_after:
        raise errors.ProviderError("the enumeration ended without a change cursor")
    done = cursors.State(phase=cursors.DELTA, link=link_after, memo={**state.memo, "full_run": sync_run.pk})
    with transaction.atomic():
        if state.sweep:
            apply.sweep(target=target, seen=seen, tally=tally)
        cursors.save(source=source, state=done)
        _progress(sync_run, tally)
    return done


def _deltas(
    sync_run: models.SyncRun, target: apply.Target, adapter: Adapter, tally: apply.Tally, state: cursors.State
) -> None:
    source = target.source
    assert state.link
    for page in adapter.changes(source, link=state.link, memo=state.memo):
        ops = apply.resolve(target=target, changes=page.changes, tally=tally)
        with transaction.atomic():
            apply.commit(target=target, ops=ops, tally=tally)
            state.link = page.next_link or page.final_link or state.link
            cursors.save(source=source, state=state)
            _progress(sync_run, tally)


def _presence_due(adapter: Adapter, state: cursors.State) -> bool:
    """Providers without a delete feed (ClickUp) offer ``present`` and say how often it is
    due (``presence_every``); never less often than daily. A run that enumerated the source
    has just seen everything and does not need it."""
    every = getattr(adapter, "presence_every", None)
    if every is None or not hasattr(adapter, "present"):
        return False
    last = state.memo.get("presence_swept_at")
    if not isinstance(last, str):
        return True
    try:
        when = datetime.fromisoformat(last)
    except ValueError:
        return True
    return timezone.now() - when >= min(every, PRESENCE_AT_LEAST_EVERY)


def _presence_sweep(
    sync_run: models.SyncRun, target: apply.Target, adapter: Adapter, tally: apply.Tally, state: cursors.State
) -> None:
    """List the ids still present at the source — the WHOLE listing; a throttle or an error
    midway leaves nothing swept — then remove the source's documents not among them."""
    present: set[str] = set()
    for ids in adapter.present(target.source, memo=state.memo):  # type: ignore[attr-defined]
        present.update(ids)
    with transaction.atomic():
        apply.sweep(target=target, seen=present, tally=tally)
        state.memo["presence_swept_at"] = timezone.now().isoformat()
        cursors.save(source=target.source, state=state)
        _progress(sync_run, tally)


def _purge(sync_run: models.SyncRun, connection: models.Connection) -> str:
    """A revoked connection: every document, chunk and file goes; the receipt stays on it."""
    with transaction.atomic():
        receipt = apply.purge(connection=connection)
        now = timezone.now()
        receipt_json = {**receipt, "finished_at": now.isoformat()}
        counts = {**models.empty_counts(), "deleted": receipt["documents"]}
        if not runs.succeed(run=sync_run, counts=counts, item_errors=[]):
            transaction.set_rollback(True)
            return LOST_CLAIM
        models.Connection.objects.filter(pk=connection.pk).update(
            status=models.ConnectionStatus.PURGED, purge_receipt=receipt_json, next_sync_at=None, updated_at=now,
        )
    return models.RunStatus.SUCCEEDED
