"""A simulated month on the sample workspace, with an injected clock and a user who sends what is due."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import nightly_fake

from pipeline.config import load
from pipeline.history import record_decision, record_event
from pipeline.plan import followups
from pipeline.runner import run
from pipeline.store import Store

DAY0 = dt.datetime(2026, 12, 1, 7, 0, tzinfo=dt.UTC)
FILLED_ON = 16  # Helix Health fills the position on this day
REPLY_ON = 9  # Tom Becker replies on this day
DAILY = ("profile", "embed", "rank", "report")


def _set(path: Path, pattern: str, value: str) -> None:
    text = path.read_text(encoding="utf-8")
    changed = re.sub(pattern, value, text, count=1, flags=re.M)
    assert changed != text, pattern
    path.write_text(changed, encoding="utf-8")


@pytest.mark.slow  # thirty nightly runs
def test_a_month_of_follow_ups(workspace: Path) -> None:
    folder = workspace.parent / "interviews"
    helix, northwind = folder / "2026-11-20-helix-health.md", folder / "2026-11-24-northwind-logistics.md"
    for path in (helix, northwind):
        _set(path, r"^date: .*$", f"date: {DAY0.date()}")
    _set(helix, r"^    replied: .*\n", "")  # no reply yet in this story
    # The fake embedder's cosines are small: lower the bars so that gifts exist at all.
    _set(workspace, r"^min_score = .*$", "min_score = 0.05")
    _set(workspace, r"^min_gift_score = .*$", "min_gift_score = 0.0")
    config = load(workspace)

    sent: list[tuple[dt.date, str, str, str | None]] = []  # (day, contact, company, doc or None)
    due_days: dict[str, list[int]] = defaultdict(list)
    for day in range(31):
        now = DAY0 + dt.timedelta(days=day)
        if day == FILLED_ON:
            _set(helix, r"^status: active$", "status: filled")
        if day == REPLY_ON:
            record_event(config, "Tom Becker", "reply", None, now)
        stages = DAILY if day else ("fetch", "parse", "extract", *DAILY)  # the library is read once
        result = run(config, stages, now=now, embedder_factory=nightly_fake)
        assert result.status == "ok"
        report = (result.report_dir or Path()) / "report.md"
        with Store(config.paths.store) as store:
            plans = followups(store, config, now)
            names = dict(store.query("SELECT id, name FROM contacts"))
            companies = dict(store.query("SELECT id, company FROM contacts"))
        text = report.read_text(encoding="utf-8")
        for follow in plans:
            if follow.due is None:
                continue
            due_days[follow.contact_id].append(day)
            assert names[follow.contact_id] in text.split("## Due today")[1].split("\n## ")[0]
            # The simulated user sends whatever is due, the same morning.
            if follow.suggestion_id:
                record_decision(config, follow.suggestion_id, "sent", None, now + dt.timedelta(minutes=5))
            else:
                record_event(config, names[follow.contact_id], "thanked", None, now + dt.timedelta(minutes=5))
            sent.append((now.date(), follow.contact_id, companies[follow.contact_id], follow.doc_id))

    by_contact: dict[str, list[tuple[dt.date, str | None]]] = defaultdict(list)
    for day_, contact, _, doc in sent:
        by_contact[contact].append((day_, doc))
    open_contacts = {f"{name}-northwind-logistics" for name in ("priya-raman", "tom-becker", "grace-liu")} | {
        f"{name}-helix-health" for name in ("amara-okafor", "sam-whitfield")
    }
    assert set(by_contact) == open_contacts  # and nobody at the filled Brightline interview
    gaps = {"northwind-logistics": 10, "helix-health": 7}  # the sample's Northwind file sets its own gap
    for contact, sends in by_contact.items():
        days = [(d - DAY0.date()).days for d, _ in sends]
        assert days[0] in (0, 1), (contact, days)  # the thank-you, within a day
        gap = next(g for company, g in gaps.items() if contact.endswith(company))
        assert all(b - a >= gap for a, b in itertools.pairwise(days)), (contact, days)
        docs = [doc for _, doc in sends if doc]
        assert len(docs) == len(set(docs)), contact  # never the same document twice to one person
        if contact.endswith("helix-health"):
            assert all(d < FILLED_ON for d in days), (contact, days)
    assert max(len(s) for s in by_contact.values()) >= 3  # gifts kept coming after the thank-you
    tom = [(d - DAY0.date()).days for d, _ in by_contact["tom-becker-northwind-logistics"]]
    assert not [d for d in tom if REPLY_ON <= d < REPLY_ON + 14], tom  # a reply pauses the schedule
    # Colleagues talk to each other: never one document to two people at one company within the window.
    first_by_company: dict[tuple[str, str], tuple[dt.date, str]] = {}
    for day_, contact, company, doc in sent:
        if doc is None:
            continue
        earlier = first_by_company.get((company, doc))
        assert earlier is None or earlier[1] == contact or (day_ - earlier[0]).days > 90, (company, doc)
        first_by_company.setdefault((company, doc), (day_, contact))
