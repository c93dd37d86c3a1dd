"""Plan stage: the follow-up cadence. Who is due today (a thank-you or a gift) and when everyone else is next.

The rules are pure functions of a contact's state and a clock; `followups` only reads the store.
- A thank-you is due from the interview day until one is sent (late after `thank_you_hours`), with the
  best gift when one clears `min_gift_score`, otherwise alone.
- Then a gift is due no sooner than `min_gap_days` after the last thing sent, at most `max_per_month`
  in any 30 days, not within `reply_pause_days` of a reply, and only when a good enough gift exists.
- Nothing is due once the interview is filled or rejected.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from pipeline.config import CadenceSettings, Config
from pipeline.db.states import ActionKind
from pipeline.interviews import OPEN_STATUSES
from pipeline.store import Store

MONTH = dt.timedelta(days=30)
SENDS = (ActionKind.SENT, ActionKind.THANKED)  # a gift, or a thank-you without one: both count as "in touch"


@dataclass(frozen=True, slots=True)
class ContactState:
    contact_id: str
    name: str
    company: str
    interview_date: dt.date
    status: str
    cadence: CadenceSettings
    sends: tuple[dt.datetime, ...] = ()  # gifts and thank-yous sent, any order
    replies: tuple[dt.date, ...] = ()


@dataclass(frozen=True, slots=True)
class Candidate:
    """A ranked suggestion that could be today's gift (best first in the lists passed in)."""

    suggestion_id: str
    doc_id: str
    score: float


@dataclass(frozen=True, slots=True)
class FollowUp:
    contact_id: str
    due: str | None  # thank_you | gift | None
    suggestion_id: str | None
    doc_id: str | None
    why: str
    next_due: dt.date | None  # today when due; None when nothing will be due again


def effective_cadence(base: CadenceSettings, overrides: Mapping[str, float]) -> CadenceSettings:
    """The workspace's cadence with one interview's overrides applied (ints stay ints)."""
    values = {}
    for f in dataclasses.fields(base):
        if f.name in overrides:
            current = getattr(base, f.name)
            values[f.name] = type(current)(overrides[f.name])
    return dataclasses.replace(base, **values)


def _gift(candidates: Sequence[Candidate], threshold: float, taken: AbstractSet[str]) -> Candidate | None:
    return next((c for c in candidates if c.score >= threshold and c.doc_id not in taken), None)


def earliest_gift(state: ContactState, today: dt.date) -> tuple[dt.date | None, str]:
    """The first day a gift may go after the thank-you, and the rule that sets it (None: never)."""
    cadence = state.cadence
    if cadence.max_per_month <= 0:
        return None, "no gifts after the thank-you (max_per_month is 0)"
    sends = sorted(state.sends)
    # A reply with nothing recorded as sent still means a thank-you went out: count from the reply.
    last = sends[-1].date() if sends else min(state.replies)
    earliest = last + dt.timedelta(days=cadence.min_gap_days)
    why = f"{cadence.min_gap_days} days after the last one sent on {last}"
    recent = [s for s in sends if s.date() > today - MONTH]
    if len(recent) >= cadence.max_per_month:
        opens = recent[-cadence.max_per_month].date() + MONTH
        if opens > earliest:
            earliest, why = opens, f"at most {cadence.max_per_month} in 30 days"
    if state.replies:
        replied = max(state.replies)
        resumes = replied + dt.timedelta(days=cadence.reply_pause_days)
        if resumes > earliest:
            earliest, why = resumes, f"they replied on {replied}: paused for {cadence.reply_pause_days} days"
    return earliest, why


def plan_contact(
    state: ContactState,
    candidates: Sequence[Candidate],
    now: dt.datetime,
    taken: AbstractSet[str] = frozenset(),
) -> FollowUp:
    """Today's follow-up for one contact.

    Args:
        candidates: this contact's ranked suggestions, best first.
        now: the clock.
        taken: documents already chosen today for a colleague (never the same gift to two of them).
    """
    today = now.date()
    cadence = state.cadence
    if state.status not in OPEN_STATUSES:
        return FollowUp(state.contact_id, None, None, None, f"position {state.status}: no more follow-ups", None)
    if today < state.interview_date:
        return FollowUp(state.contact_id, None, None, None, "interview not held yet", state.interview_date)
    thanked = any(s.date() >= state.interview_date for s in state.sends) or any(
        r >= state.interview_date for r in state.replies
    )
    gift = _gift(candidates, cadence.min_gift_score, taken)
    if not thanked:
        deadline = dt.datetime.combine(state.interview_date, dt.time(), now.tzinfo) + dt.timedelta(
            hours=cadence.thank_you_hours
        )
        when = (
            f"within {cadence.thank_you_hours} hours of the interview on {state.interview_date}"
            if now <= deadline
            else f"late: the interview was on {state.interview_date}"
        )
        what = "with the best gift" if gift else f"alone (no gift scores {cadence.min_gift_score:.2f} or more)"
        return FollowUp(
            state.contact_id,
            "thank_you",
            gift.suggestion_id if gift else None,
            gift.doc_id if gift else None,
            f"thank-you {when}, {what}",
            today,
        )
    earliest, why = earliest_gift(state, today)
    if earliest is None:
        return FollowUp(state.contact_id, None, None, None, why, None)
    if today < earliest:
        return FollowUp(state.contact_id, None, None, None, f"next gift from {earliest}: {why}", earliest)
    if gift is None:
        return FollowUp(
            state.contact_id,
            None,
            None,
            None,
            f"a gift may go since {earliest}; waiting for one scoring {cadence.min_gift_score:.2f} or more",
            today + dt.timedelta(days=1),
        )
    return FollowUp(
        state.contact_id,
        "gift",
        gift.suggestion_id,
        gift.doc_id,
        f"follow-up gift: {why}, and a good one exists",
        today,
    )


def plan(
    states: Iterable[ContactState], candidates: Mapping[str, Sequence[Candidate]], now: dt.datetime
) -> list[FollowUp]:
    """Follow-ups for every contact; colleagues due the same day never get the same document."""
    taken: dict[str, set[str]] = {}
    out = []
    for state in sorted(states, key=lambda s: (s.company.casefold(), s.interview_date, s.contact_id)):
        company = taken.setdefault(state.company.casefold(), set())
        follow = plan_contact(state, candidates.get(state.contact_id, ()), now, company)
        if follow.doc_id:
            company.add(follow.doc_id)
        out.append(follow)
    return out


def load_states(store: Store, base: CadenceSettings) -> list[ContactState]:
    """Every contact's cadence state from the store (replies from `gifts log` and the interview file)."""
    sends: dict[str, list[dt.datetime]] = {}
    replies: dict[str, list[dt.date]] = {}
    kinds = (*SENDS, ActionKind.REPLY)
    for r in store.query(
        f"SELECT contact_id, action, at FROM actions WHERE action IN ({','.join('?' * len(kinds))})", kinds
    ):
        at = dt.datetime.fromisoformat(r["at"])
        if r["action"] == ActionKind.REPLY:
            replies.setdefault(r["contact_id"], []).append(at.date())
        else:
            sends.setdefault(r["contact_id"], []).append(at)
    out = []
    for r in store.query(
        "SELECT c.id, c.name, c.company, c.replied, i.date, i.status, i.cadence FROM contacts c"
        " JOIN interviews i ON i.id = c.interview_id ORDER BY c.id"
    ):
        written = [dt.date.fromisoformat(d) for d in json.loads(r["replied"] or "[]")]
        out.append(
            ContactState(
                contact_id=r["id"],
                name=r["name"],
                company=r["company"],
                interview_date=dt.date.fromisoformat(r["date"]),
                status=r["status"],
                cadence=effective_cadence(base, json.loads(r["cadence"] or "{}")),
                sends=tuple(sends.get(r["id"], ())),
                replies=(*replies.get(r["id"], []), *written),
            )
        )
    return out


def followups(store: Store, config: Config, now: dt.datetime) -> list[FollowUp]:
    """Today's follow-ups from the store's contacts, history and active suggestions."""
    candidates: dict[str, list[Candidate]] = {}
    for r in store.query("SELECT id, contact_id, doc_id, score FROM suggestions WHERE active = 1 ORDER BY rank"):
        candidates.setdefault(r["contact_id"], []).append(Candidate(r["id"], r["doc_id"], float(r["score"] or 0)))
    return plan(load_states(store, config.cadence), candidates, now)
