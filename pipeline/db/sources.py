"""Row changes of `sources`: the configured list, each night's outcome, health, quarantine, enabling.

Each night's one recorded state per source (`source_runs`) stays with the store (`record_source_run`).
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.db.states import SourceState
from pipeline.store import Store


def put_configured(store: Store, source_id: str, kind: str, location: str, title: str | None, origin: str) -> None:
    """A configured source is recorded; a known one keeps its state and the title its feed gave it."""
    store.db.execute(
        "INSERT INTO sources (id, kind, location, title, origin) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT(id) DO UPDATE SET location = excluded.location, origin = excluded.origin,"
        " title = COALESCE(sources.title, excluded.title)",
        (source_id, kind, location, title, origin),
    )


def mark_removed_except(store: Store, ids: Sequence[str]) -> None:
    """Sources no longer configured are kept, with their documents, but marked removed."""
    store.db.execute(
        f"UPDATE sources SET state = ? WHERE id NOT IN ({','.join('?' * len(ids))})",
        (SourceState.REMOVED, *ids),
    )


def set_state(store: Store, source_id: str, state: str) -> None:
    """Tonight's state of a source left alone (backoff_skip, disabled); its reason stays."""
    store.db.execute("UPDATE sources SET state = ? WHERE id = ?", (state, source_id))


def record_fetched(
    store: Store,
    source_id: str,
    state: str,
    reason: str | None,
    raw_sha: str | None,
    etag: str | None,
    last_modified: str | None,
    now: str,
) -> None:
    """A fetch that worked (new, not_modified, or still quarantined): its failures and backoff are cleared."""
    store.db.execute(
        "UPDATE sources SET state = ?, reason = ?, raw_sha = ?, etag = ?, last_modified = ?,"
        " last_attempt_at = ?, last_ok_at = ?, consecutive_failures = 0, next_attempt_on = NULL,"
        " last_failed_on = NULL, disabled_at = NULL WHERE id = ?",
        (state, reason, raw_sha, etag, last_modified, now, now, source_id),
    )


def mark_failed(store: Store, source_id: str, reason: str, now: str) -> None:
    """A failure that says nothing of the source's health (offline, refused by the settings, a missing folder)."""
    store.db.execute(
        "UPDATE sources SET state = ?, reason = ?, last_attempt_at = ? WHERE id = ?",
        (SourceState.FAILED, reason, now, source_id),
    )


def record_failure(
    store: Store,
    source_id: str,
    reason: str,
    now: str,
    *,
    failures: int,
    failed_on: str,
    next_attempt_on: str,
    disabled: bool,
) -> None:
    """A failure of the source itself, with its health after it (see `health.after_failure`)."""
    store.db.execute(
        "UPDATE sources SET state = ?, reason = ?, last_attempt_at = ?, consecutive_failures = ?,"
        " last_failed_on = ?, next_attempt_on = ?, disabled_at = CASE WHEN ? THEN ? ELSE disabled_at END"
        " WHERE id = ?",
        (SourceState.FAILED, reason, now, failures, failed_on, next_attempt_on, disabled, now, source_id),
    )


def set_parsed(store: Store, source_id: str, raw_sha: str, title: str | None) -> None:
    """The feed body `raw_sha` was parsed; an empty title keeps the one known."""
    store.db.execute(
        "UPDATE sources SET parsed_sha = ?, title = COALESCE(NULLIF(?, ''), title) WHERE id = ?",
        (raw_sha, title, source_id),
    )


def quarantine(store: Store, source_id: str, reason: str, raw_sha: str) -> None:
    """The feed body `raw_sha` cannot be parsed: recorded as parsed, so those bytes are never tried again."""
    store.db.execute(
        "UPDATE sources SET state = ?, reason = ?, parsed_sha = ? WHERE id = ?",
        (SourceState.QUARANTINED, reason, raw_sha, source_id),
    )


def record_scanned(store: Store, source_id: str, state: str, reason: str | None, now: str) -> None:
    """A folder was read (new or not_modified); `reason` names what was skipped."""
    store.db.execute(
        "UPDATE sources SET state = ?, reason = ?, last_attempt_at = ?, last_ok_at = ?,"
        " consecutive_failures = 0 WHERE id = ?",
        (state, reason, now, now, source_id),
    )


def enable(store: Store, source_id: str) -> None:
    """The user re-enables a source: failures, backoff and disabling are cleared."""
    store.db.execute(
        "UPDATE sources SET consecutive_failures = 0, next_attempt_on = NULL, disabled_at = NULL,"
        " last_failed_on = NULL, state = NULL, reason = 'enabled by user' WHERE id = ?",
        (source_id,),
    )
