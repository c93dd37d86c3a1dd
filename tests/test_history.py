"""History: exclusions (pure), decisions imported from an edited suggestions.csv, replies, and forget."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import NOW, SAMPLE, nightly_fake

from pipeline.cli import main
from pipeline.config import load
from pipeline.errors import InputError
from pipeline.history import Action, exclusions, import_decisions
from pipeline.runner import run
from pipeline.store import Store

TODAY = dt.date(2026, 12, 1)


def _at(days_ago: int) -> dt.datetime:
    return dt.datetime.combine(TODAY, dt.time(9), dt.UTC) - dt.timedelta(days=days_ago)


DOCS = {"d1": "src-a", "d2": "src-a", "d3": "src-b", "d4": "src-b"}
COMPANY = {"jo": "Acme", "al": "ACME", "ed": "Other"}


def test_sent_skipped_and_refused_documents_are_excluded_for_that_contact_only() -> None:
    out = exclusions([Action("jo", "d3", "sent", _at(1)), Action("jo", "d4", "skip", _at(1))], DOCS, COMPANY, TODAY, 90)
    assert out.docs["jo"] == {"d3", "d4"}
    assert "ed" not in out.docs


def test_never_refuses_a_whole_source_or_just_a_topic() -> None:
    source = exclusions([Action("ed", "d1", "never", _at(1), "source")], DOCS, COMPANY, TODAY, 90)
    assert source.docs["ed"] == {"d1", "d2"}
    topic = exclusions([Action("ed", "d1", "never", _at(1), "topic", "interest-7")], DOCS, COMPANY, TODAY, 90)
    assert topic.docs["ed"] == {"d1"} and topic.interests["ed"] == {"interest-7"}


def test_a_document_sent_to_a_colleague_is_excluded_within_the_window() -> None:
    recent = exclusions([Action("jo", "d1", "sent", _at(30))], DOCS, COMPANY, TODAY, 90)
    assert "d1" in recent.docs["al"]  # same company, case aside
    assert "d1" not in recent.docs.get("ed", set())
    old = exclusions([Action("jo", "d1", "sent", _at(120))], DOCS, COMPANY, TODAY, 90)
    assert "d1" not in old.docs.get("al", set())
    skipped = exclusions([Action("jo", "d1", "skip", _at(1))], DOCS, COMPANY, TODAY, 90)
    assert "d1" not in skipped.docs.get("al", set())  # only what was sent travels between colleagues


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("history") / "sample"
    shutil.copytree(SAMPLE, target, ignore=shutil.ignore_patterns("interim", "processed"))
    text = (target / "gifts.toml").read_text(encoding="utf-8")
    (target / "gifts.toml").write_text(text.replace("min_score = 0.30", "min_score = 0.05"), encoding="utf-8")
    config = load(target / "gifts.toml")
    run(config, now=NOW, embedder_factory=nightly_fake)
    return target


@pytest.fixture
def ws(ran: Path, tmp_path: Path) -> Path:
    """A private copy of the ran workspace; returns its gifts.toml."""
    target = tmp_path / "sample"
    shutil.copytree(ran, target, symlinks=True)
    return target / "gifts.toml"


def _cli(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    return result.exit_code, result.stdout or result.stderr


def _csv(config: Path) -> tuple[Path, list[dict[str, str]]]:
    path = config.parent / "data/processed/reports/latest/suggestions.csv"
    with path.open(encoding="utf-8") as handle:
        return path, list(csv.DictReader(handle))


def _edit(path: Path, rows: list[dict[str, str]], decisions: dict[int, str]) -> Path:
    out = path.parent.parent / "edited.csv"
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for n, row in enumerate(rows):
            writer.writerow({**row, "decision": decisions.get(n, "")})
    return out


def test_import_decisions_from_an_edited_csv_once(ws: Path) -> None:
    path, rows = _csv(ws)
    edited = _edit(path, rows, {0: "sent", 1: "Skip", 2: "never topic"})
    code, out = _cli(ws, "mark", "--from-csv", str(edited))
    assert code == 0 and "recorded 3 decisions" in out, out
    assert import_decisions(load(ws), edited, NOW) == {"recorded": 0, "already": 3}
    with Store(load(ws).paths.store) as store:
        actions = {(r["suggestion_id"], r["action"], r["scope"]) for r in store.query("SELECT * FROM actions")}
        interest = store.scalar("SELECT interest_id FROM actions WHERE scope = 'topic'")
    assert actions == {
        (rows[0]["suggestion_id"], "sent", None),
        (rows[1]["suggestion_id"], "skip", None),
        (rows[2]["suggestion_id"], "never", "topic"),
    }
    assert interest is not None
    run(load(ws), ("rank", "report"), now=NOW + dt.timedelta(days=1), embedder_factory=nightly_fake)
    _, again = _csv(ws)
    assert rows[0]["suggestion_id"] not in {r["suggestion_id"] for r in again}
    refused = rows[2]["matched_interest"]
    assert refused not in {r["matched_interest"] for r in again if r["contact"] == rows[2]["contact"]}


def test_a_bad_decision_cell_names_file_line_and_column_and_records_nothing(ws: Path) -> None:
    path, rows = _csv(ws)
    edited = _edit(path, rows, {0: "sent", 3: "maybe"})
    with pytest.raises(InputError, match=rf"{edited}:5: decision: 'maybe'"):
        import_decisions(load(ws), edited, NOW)
    with Store(load(ws).paths.store) as store:
        assert store.scalar("SELECT COUNT(*) FROM actions") == 0


def test_log_reply_and_an_unknown_contact(ws: Path) -> None:
    code, out = _cli(ws, "log", "reply", "priya")
    assert code == 0 and "Priya Raman" in out
    code, out = _cli(ws, "log", "reply", "nobody at all")
    assert code == 2 and "not found" in out
    code, out = _cli(ws, "log", "thanked", "a")  # matches several names
    assert code == 2 and "ambiguous" in out


def test_forget_removes_the_contact_everywhere_and_they_do_not_come_back(ws: Path) -> None:
    config = load(ws)
    _, rows = _csv(ws)
    tom = next(r for r in rows if r["contact"] == "Tom Becker")
    _cli(ws, "mark", tom["suggestion_id"], "sent")
    older = config.paths.reports / "2026-11-01"
    older.mkdir()
    (older / "report.md").write_text("## Tom Becker\n", encoding="utf-8")
    (older / "other.md").write_text("nothing about him\n", encoding="utf-8")
    code, out = _cli(ws, "forget", "Tom Becker", "--yes")
    assert code == 0 and "forgot Tom Becker" in out, out
    with Store(config.paths.store) as store:
        for table in ("contacts", "interests", "suggestions", "actions"):
            column = "id" if table == "contacts" else "contact_id"
            assert not store.scalar(f"SELECT COUNT(*) FROM {table} WHERE {column} LIKE 'tom-becker%'"), table
    latest = config.paths.reports / "latest"
    for name in ("report.md", "index.html", "suggestions.csv"):
        assert "Tom Becker" not in (latest / name).read_text(encoding="utf-8"), name
    # Older reports are rewritten, never deleted: other people's data in them stays.
    assert (older / "report.md").read_text(encoding="utf-8") == "## \\[forgotten\\]\n"
    assert (older / "other.md").read_text(encoding="utf-8") == "nothing about him\n"
    run(config, ("profile", "embed", "rank", "report"), now=NOW + dt.timedelta(days=1), embedder_factory=nightly_fake)
    with Store(config.paths.store) as store:
        assert not store.scalar("SELECT COUNT(*) FROM contacts WHERE id LIKE 'tom-becker%'")
        assert store.scalar("SELECT COUNT(*) FROM contacts WHERE id LIKE 'priya-raman%'") == 1
