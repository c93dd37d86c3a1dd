"""The cadence rules, as pure functions of a contact's state and a clock."""

from __future__ import annotations

import datetime as dt

from pipeline.config import CadenceSettings
from pipeline.plan import Candidate, ContactState, effective_cadence, plan, plan_contact

INTERVIEW = dt.date(2026, 12, 1)
GOOD = [Candidate("s1", "d1", 0.6), Candidate("s2", "d2", 0.5)]
WEAK = [Candidate("s3", "d3", 0.2)]


def _at(day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime.combine(INTERVIEW, dt.time(hour), dt.UTC) + dt.timedelta(days=day)


def _state(
    sends: tuple[int, ...] = (), replies: tuple[int, ...] = (), status: str = "active", **cadence: float
) -> ContactState:
    return ContactState(
        "jo-acme", "Jo Smith", "Acme", INTERVIEW, status, effective_cadence(CadenceSettings(), cadence),
        tuple(_at(d) for d in sends), tuple(INTERVIEW + dt.timedelta(days=d) for d in replies),
    )  # fmt: skip


def test_thank_you_is_due_on_the_interview_day_with_the_best_gift() -> None:
    follow = plan_contact(_state(), GOOD, _at(0))
    assert (follow.due, follow.suggestion_id, follow.next_due) == ("thank_you", "s1", INTERVIEW)
    assert "within 24 hours" in follow.why


def test_thank_you_goes_alone_when_no_gift_clears_the_threshold_and_is_late_after_the_window() -> None:
    follow = plan_contact(_state(), WEAK, _at(0))
    assert (follow.due, follow.suggestion_id) == ("thank_you", None)
    assert "alone" in follow.why
    assert "late" in plan_contact(_state(), GOOD, _at(2)).why
    assert "late" not in plan_contact(_state(thank_you_hours=72), GOOD, _at(2)).why


def test_nothing_before_the_interview_or_once_filled_or_rejected() -> None:
    early = plan_contact(_state(), GOOD, _at(-3))
    assert (early.due, early.next_due) == (None, INTERVIEW)
    for status in ("filled", "rejected"):
        follow = plan_contact(_state(sends=(0,), status=status), GOOD, _at(20))
        assert (follow.due, follow.next_due) == (None, None)


def test_the_next_gift_waits_for_the_minimum_gap() -> None:
    assert plan_contact(_state(sends=(0,)), GOOD, _at(6)).next_due == INTERVIEW + dt.timedelta(days=7)
    assert plan_contact(_state(sends=(0,)), GOOD, _at(6)).due is None
    assert plan_contact(_state(sends=(0,)), GOOD, _at(7)).due == "gift"
    assert plan_contact(_state(sends=(0,), min_gap_days=10), GOOD, _at(7)).due is None  # per-interview override


def test_a_gift_is_due_only_when_a_good_enough_one_exists() -> None:
    follow = plan_contact(_state(sends=(0,)), WEAK, _at(8))
    assert follow.due is None and follow.next_due == _at(9).date()
    assert "waiting" in follow.why


def test_at_most_max_per_month() -> None:
    state = _state(sends=(0, 7, 14))
    assert plan_contact(state, GOOD, _at(21)).due is None
    assert plan_contact(state, GOOD, _at(21)).next_due == INTERVIEW + dt.timedelta(days=30)
    assert plan_contact(state, GOOD, _at(30)).due == "gift"
    assert plan_contact(_state(sends=(0,), max_per_month=0), GOOD, _at(20)).next_due is None


def test_a_reply_pauses_the_schedule_and_counts_as_thanked() -> None:
    paused = plan_contact(_state(sends=(0,), replies=(5,)), GOOD, _at(10))
    assert paused.due is None and paused.next_due == INTERVIEW + dt.timedelta(days=19)
    assert "replied" in paused.why
    assert plan_contact(_state(sends=(0,), replies=(5,)), GOOD, _at(19)).due == "gift"
    # A reply with no thank-you recorded: it was sent anyway, so no thank-you is due.
    assert plan_contact(_state(replies=(1,)), GOOD, _at(2)).due is None


def test_colleagues_due_the_same_day_never_get_the_same_document() -> None:
    a = _state()
    b = ContactState("al-acme", "Al Bo", "ACME", INTERVIEW, "active", CadenceSettings())
    out = {f.contact_id: f for f in plan([a, b], {"jo-acme": GOOD, "al-acme": GOOD}, _at(0))}
    assert {out["jo-acme"].doc_id, out["al-acme"].doc_id} == {"d1", "d2"}
