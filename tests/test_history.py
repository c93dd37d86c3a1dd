"""History: exclusions (pure), decisions imported from an edited suggestions.csv, replies, and forget."""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import NOW, SAMPLE, nightly_fake, uncalibrated

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


def test_never_refuses_a_document_a_whole_source_or_just_a_topic() -> None:
    document = exclusions([Action("ed", "d1", "never", _at(1), "document")], DOCS, COMPANY, TODAY, 90)
    assert document.docs["ed"] == {"d1"} and not document.interests
    source = exclusions([Action("ed", "d1", "never", _at(1), "source")], DOCS, COMPANY, TODAY, 90)
    assert source.docs["ed"] == {"d1", "d2"}
    legacy = exclusions([Action("ed", "d3", "never", _at(1))], DOCS, COMPANY, TODAY, 90)
    assert legacy.docs["ed"] == {"d3", "d4"}  # recorded when a plain `never` meant the source
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
    config = load(uncalibrated(target / "gifts.toml"))
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


# -- never on a local file, never --source, never --topic, and nothing recorded twice --------------------
# Two folder sources of local files and one interviewer with an interest served by each.
LAG = "Kafka consumer lag and stream processing"
A11Y = "accessibility audits of internal tools"
LOCAL_FILES = {
    "inbox/measuring-lag.txt": (
        "Measuring Kafka Consumer Lag Without Guesswork",
        "consumer lag kafka partitions offsets burrow exporter dashboards stream processing measurement",
    ),
    "inbox/autoscaling.md": (
        "# Autoscaling Stream Processors on Consumer Lag",
        "autoscaling stream processing consumer lag kafka replicas keda thresholds scaling policy",
    ),
    "inbox/lag-alerts.txt": (
        "Consumer Lag Alerts That Do Not Wake Everyone",
        "alerting consumer lag kafka stream processing pager thresholds runbooks on-call burn rate",
    ),
    "papers/keyboard-traps.txt": (
        "Keyboard Traps in Admin Panels",
        "accessibility audits internal tools keyboard traps focus order admin panels screen readers",
    ),
    "papers/audit-checklist.txt": (
        "A Lightweight Accessibility Audit Checklist",
        "accessibility audits internal tools checklist contrast labels forms dashboards back office",
    ),
}


@pytest.fixture(scope="module")
def ran_local(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("local") / "ws"
    for relative, (title, words) in LOCAL_FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        vocab = words.split()
        sentences = [" ".join(vocab[i % len(vocab)] for i in range(n, n + 9)).capitalize() + "." for n in range(30)]
        path.write_text(f"{title}\n\n{' '.join(sentences)}\n", encoding="utf-8")
    (root / "interviews").mkdir()
    (root / "interviews" / "acme.md").write_text(
        "---\ncompany: Acme\ndate: 2026-11-20\nstatus: active\ninterviewers:\n"
        f"  - name: Ada Byte\n    interests:\n      - {LAG}\n      - {A11Y}\n---\n"
        "Ada worries about consumer lag and about the accessibility of their admin tools.\n",
        encoding="utf-8",
    )
    config = root / "gifts.toml"
    config.write_text('[sources]\nfolders = ["inbox", "papers"]\n[rank]\nmin_score = 0.05\n', encoding="utf-8")
    run(load(uncalibrated(config)), now=NOW, embedder_factory=nightly_fake)
    return root


@pytest.fixture
def local(ran_local: Path, tmp_path: Path) -> Path:
    """A private copy of the local-files workspace; returns its gifts.toml."""
    target = tmp_path / "ws"
    shutil.copytree(ran_local, target, symlinks=True)
    return target / "gifts.toml"


def _next_night(config: Path, stages: tuple[str, ...] = ("rank", "report")) -> list[dict[str, str]]:
    run(load(config), stages, now=NOW + dt.timedelta(days=1), embedder_factory=nightly_fake)
    return _csv(config)[1]


def _in(rows: list[dict[str, str]], folder: str) -> list[dict[str, str]]:
    return [r for r in rows if f"/{folder}/" in r["path"]]


def test_local_files_are_titled_from_their_content_and_show_their_path(ran_local: Path) -> None:
    _, rows = _csv(ran_local / "gifts.toml")
    titles = {Path(r["path"]).relative_to(ran_local).as_posix(): r["title"] for r in rows}
    assert titles == {relative: title.lstrip("# ") for relative, (title, _) in LOCAL_FILES.items()}


def test_never_on_a_local_file_hides_only_that_file(local: Path) -> None:
    _, rows = _csv(local)
    first, *others = _in(rows, "inbox")
    assert len(others) == 2
    code, out = _cli(local, "mark", first["suggestion_id"], "never")
    assert code == 0, out
    assert out.startswith(f"recorded: never again for Ada Byte: only the document {first['title']!r}")
    assert f"(file {first['path']}), not the rest of 'inbox'" in out
    again = {r["suggestion_id"] for r in _next_night(local)}
    assert first["suggestion_id"] not in again
    assert {r["suggestion_id"] for r in others} <= again  # the rest of the folder still counts


def test_never_source_hides_the_whole_folder_and_says_how_many_documents(local: Path) -> None:
    _, rows = _csv(local)
    first = _in(rows, "inbox")[0]
    code, out = _cli(local, "mark", first["suggestion_id"], "never", "--source")
    assert code == 0, out
    everything = "everything from the source 'inbox' (3 documents now, and any it adds later)"
    assert out == f"recorded: never again for Ada Byte: {everything}\n"
    again = _next_night(local)
    assert not _in(again, "inbox")
    assert len(_in(again, "papers")) == 2  # the other folder still comes


def test_sent_twice_records_once(local: Path) -> None:
    _, rows = _csv(local)
    code, out = _cli(local, "mark", rows[0]["suggestion_id"], "sent")
    assert code == 0 and out == f"recorded: {rows[0]['title']!r} (file {rows[0]['path']}) sent to Ada Byte\n"
    code, again = _cli(local, "mark", rows[0]["suggestion_id"], "sent")
    today = dt.date.today().isoformat()  # the CLI records at the real time
    assert code == 0 and again == f"already recorded on {today}: {out[len('recorded: ') : -1]} (nothing changed)\n"
    with Store(load(local).paths.store) as store:
        assert store.scalar("SELECT COUNT(*) FROM actions WHERE action = 'sent'") == 1
    code, out = _cli(local, "mark", rows[0]["suggestion_id"], "sent", "--source")
    assert code == 2 and "--source goes with never" in out


def test_log_reply_twice_records_once(local: Path) -> None:
    code, out = _cli(local, "log", "reply", "ada")
    assert code == 0 and out.startswith("recorded: a reply from Ada Byte")
    code, again = _cli(local, "log", "reply", "Ada Byte", "--note", "the same reply, logged again")
    assert code == 0 and again.startswith("already recorded: a reply from Ada Byte")
    with Store(load(local).paths.store) as store:
        assert store.scalar("SELECT COUNT(*) FROM actions WHERE action = 'reply'") == 1


def test_never_topic_drops_the_interest_from_the_profile_for_good(local: Path) -> None:
    _, rows = _csv(local)
    row = next(r for r in rows if r["matched_interest"] == A11Y)
    listed = re.compile(rf"^\s+\d+\. {re.escape(A11Y)}  \[", re.M)
    code, shown = _cli(local, "profile", "--show", "ada")
    assert code == 0 and listed.search(shown), shown
    code, out = _cli(local, "mark", row["suggestion_id"], "never", "--topic")
    assert (
        code == 0 and out == f"recorded: never again for Ada Byte: the topic {A11Y!r}, dropped from their interests\n"
    )
    code, shown = _cli(local, "profile", "--show", "ada")
    assert not listed.search(shown) and f"never --topic`: {A11Y}" in shown, shown
    # The interview file read again (it changed) does not bring the interest back.
    interview = local.parent / "interviews" / "acme.md"
    interview.write_text(interview.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    again = _next_night(local, ("profile", "embed", "rank", "report"))
    with Store(load(local).paths.store) as store:
        assert store.scalar("SELECT COUNT(*) FROM interviews WHERE sha IS NOT NULL") == 1
        assert not store.scalar("SELECT COUNT(*) FROM interests WHERE text = ?", (A11Y,))
    served = {r["matched_interest"] for r in again}
    assert A11Y not in served and LAG in served  # the other interest is still served
    code, shown = _cli(local, "profile", "--show", "ada")
    assert not listed.search(shown)
