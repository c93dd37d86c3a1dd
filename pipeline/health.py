"""Source health: consecutive failures, backoff nights, disabling, and re-enabling.

A feed that fails is skipped for 1, 2, 4, then 7 nights after each further failure; after
`DISABLE_AFTER` failures in a row it is disabled until the user re-enables it (`gifts enable`).
Failures are counted per night, so re-running the same night never counts one outage twice.
Backoff follows the cause: a refusal by this machine's own rules (fetch's `blocked:` reasons: a
scheme, a private or loopback address) is not the source failing, so it never backs off and is
checked again every night, at no cost to anyone: as soon as the configuration allows it, it is fetched.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pipeline.db import sources as source_rows
from pipeline.db.states import SourceState
from pipeline.lookup import one_match
from pipeline.store import Store

BACKOFF_NIGHTS = (1, 2, 4, 7)
DISABLE_AFTER = 6
SOURCE_STATES = (
    SourceState.NEW,
    SourceState.NOT_MODIFIED,
    SourceState.FAILED,
    SourceState.BACKOFF_SKIP,
    SourceState.DISABLED,
)


@dataclass(frozen=True, slots=True)
class AfterFailure:
    failures: int
    next_attempt_on: str  # YYYY-MM-DD
    disabled: bool


def skip_nights(failures: int) -> int:
    """Nights skipped after the `failures`-th failure in a row (1, 2, 4, 7, 7, ...)."""
    if failures <= 0:
        return 0
    return BACKOFF_NIGHTS[min(failures, len(BACKOFF_NIGHTS)) - 1]


def after_failure(failures_before: int, last_failed_on: str | None, today: dt.date) -> AfterFailure:
    """The health after a failure tonight (a second failure the same night is the same outage)."""
    failures = failures_before if last_failed_on == today.isoformat() and failures_before else failures_before + 1
    next_on = today + dt.timedelta(days=skip_nights(failures) + 1)
    return AfterFailure(failures, next_on.isoformat(), failures >= DISABLE_AFTER)


def refused_by_configuration(reason: str | None) -> bool:
    """Whether a failure's reason is a refusal by the fetch settings and guard (`blocked: ...`), not the source's."""
    return bool(reason) and str(reason).startswith("blocked")


def verdict(disabled_at: str | None, next_attempt_on: str | None, today: dt.date, reason: str | None = None) -> str:
    """due | backoff_skip | disabled, for a source tonight.

    A source whose last failure was a configuration refusal is always due: the settings may have
    changed since (backoff and disabling recorded for it before this rule are ignored too).
    """
    if refused_by_configuration(reason):
        return "due"
    if disabled_at:
        return SourceState.DISABLED
    if next_attempt_on and next_attempt_on > today.isoformat():
        return SourceState.BACKOFF_SKIP
    return "due"


def enable(store: Store, ident: str) -> list[str]:
    """Clear the failures, backoff and disabling of the sources matching `ident`; returns their titles.

    `ident` is a source id, its URL or folder, or a unique part of its title or URL.

    Raises:
        InputError: when nothing or more than one source matches.
    """
    rows = store.query("SELECT id, location, COALESCE(title, location) AS title FROM sources")
    source = one_match(
        ident,
        rows,
        lambda r: (r["location"], r["title"]),
        key=lambda r: str(r["id"]),
        none=f"no source matches {ident!r} (see `gifts status`)",
        several=lambda found: f"{len(found)} sources match {ident!r}; give its id or URL (see `gifts status --json`)",
    )
    with store.transaction():
        source_rows.enable(store, source["id"])
    return [str(source["title"])]
