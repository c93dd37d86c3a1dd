"""Forget: the person never comes back from the interview file, nothing the store or a report holds
still names them (HTML-escaped or not), other people's data stays, and the forgotten list is keyed."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import logging
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import NOW, SAMPLE, nightly_fake

from pipeline.cli import main
from pipeline.config import load
from pipeline.errors import ConfigError
from pipeline.forget import redact_notes
from pipeline.history import forget
from pipeline.runner import run
from pipeline.scrub import MARK, Person
from pipeline.store import Store

NAME = "Tom O'Becker"
EMAIL = "tom.obecker@northwind.example"
TOM = "tom-o-becker-northwind-logistics"
FILE = "2026-11-24-northwind-logistics.md"
# Tom's sentences in the sample notes; the second is also the best snippet of Grace's added interest.
HIS = (
    "Tom spent most of his slot on their move from nightly batch to Kafka.",
    "They are replacing database dumps with change data capture and worry about consumer lag and schema"
    " changes breaking downstream consumers.",
)
PRIYA = "Priya opened by saying the nightly shipment dashboards broke twice last quarter"
GRACE = "Grace said their cloud bill grew 40% this year"


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample with an apostrophe in Tom's name (HTML writes it O&#39;Becker), run once."""
    target = tmp_path_factory.mktemp("forget") / "sample"
    shutil.copytree(SAMPLE, target, ignore=shutil.ignore_patterns("interim", "processed"))
    text = (target / "gifts.toml").read_text(encoding="utf-8")
    (target / "gifts.toml").write_text(text.replace("min_score = 0.30", "min_score = 0.05"), encoding="utf-8")
    interview = target / "interviews" / FILE
    text = interview.read_text(encoding="utf-8").replace("Tom Becker", NAME).replace("tom.becker@", "tom.obecker@")
    text = text.replace(
        "      - reducing cloud spend with FinOps, tagging and rightsizing\n",
        "      - reducing cloud spend with FinOps, tagging and rightsizing\n      - schema changes and consumer lag\n",
    )
    interview.write_text(text, encoding="utf-8")
    run(load(target / "gifts.toml"), now=NOW, embedder_factory=nightly_fake)
    return target


@pytest.fixture
def ws(ran: Path, tmp_path: Path) -> Path:
    """A private copy of the ran workspace; returns its gifts.toml."""
    target = tmp_path / "sample"
    shutil.copytree(ran, target, symlinks=True)
    return target / "gifts.toml"


def _forget(config: Path) -> str:
    result = CliRunner().invoke(main, ["--config", str(config), "forget", NAME, "--yes"])
    assert result.exit_code == 0, result.output
    return result.stdout


def _names_him(text: str) -> list[str]:
    found = [w for w in ("becker", EMAIL, TOM) if w in text.lower()]
    return found + [s[:30] for s in HIS if s in text]


def _northwind(store: Store) -> tuple[str, dict[str, Any]]:
    notes = store.scalar("SELECT notes FROM interviews WHERE path LIKE ?", (f"%{FILE}",))
    interests = {r["text"]: dict(r) for r in store.query("SELECT * FROM interests WHERE contact_id LIKE 'grace%'")}
    return str(notes), interests


def test_he_never_comes_back_and_co_interviewers_notes_lose_his_sentences(ws: Path, caplog: Any) -> None:
    config = load(ws)
    with Store(config.paths.store) as store:
        _, grace = _northwind(store)
    assert grace["schema changes and consumer lag"]["snippet"] == HIS[1]  # the case worth testing
    out = _forget(ws)
    assert f"{config.paths.interviews / FILE} still names them" in out, out

    def check() -> None:
        with Store(config.paths.store) as store:
            assert not store.scalar("SELECT COUNT(*) FROM contacts WHERE id = ?", (TOM,))
            notes, grace = _northwind(store)
            texts = [str(v) for r in store.query("SELECT * FROM interests") for v in dict(r).values() if v]
        assert not _names_him(notes) and "Tom" not in notes, notes
        assert PRIYA in " ".join(notes.split()) and GRACE in notes and MARK in notes
        assert not _names_him(" ".join(texts))
        assert grace["schema changes and consumer lag"]["snippet"] != HIS[1]
        assert "reducing cloud spend with FinOps, tagging and rightsizing" in grace

    check()
    with caplog.at_level(logging.WARNING, logger="pipeline.profile"):
        run(config, now=NOW + dt.timedelta(days=1), embedder_factory=nightly_fake)
    check()
    assert any(FILE in r.getMessage() and "forgotten" in r.getMessage() for r in caplog.records)
    assert not any("Becker" in r.getMessage() for r in caplog.records)  # the log names the file, not him
    with Store(config.paths.store) as store, store.transaction():
        store.db.execute("DELETE FROM interviews")  # the store lost its copy: everything is read again
    run(config, ("profile",), now=NOW + dt.timedelta(days=2), embedder_factory=nightly_fake)
    check()


def test_an_older_report_naming_him_html_escaped_is_rewritten_not_deleted(ws: Path) -> None:
    config = load(ws)
    reports = config.paths.reports
    older = reports / "2026-11-19"
    shutil.copytree(reports / NOW.date().isoformat(), older)
    files = sorted(p.name for p in older.iterdir())
    html = (older / "index.html").read_text(encoding="utf-8")
    assert "O&#39;Becker" in html and NAME not in html  # the escaped form is the one to find
    before = pd.read_parquet(older / "suggestions.parquet")
    assert (before["contact_id"] == TOM).any()
    others = before[before["contact_id"] != TOM]
    out = _forget(ws)
    assert "rewrote 4 files of the report 2026-11-19 without them" in out, out
    assert sorted(p.name for p in older.iterdir()) == files
    for name in files:
        text = (older / name).read_text(encoding="utf-8", errors="replace")
        assert not _names_him(text), (name, _names_him(text))
    html = (older / "index.html").read_text(encoding="utf-8")
    assert "Priya Raman" in html and "Grace Liu" in html
    assert all(f"s-{sid}" in html for sid in others["suggestion_id"])
    assert "Priya Raman" in (older / "report.md").read_text(encoding="utf-8")
    after = pd.read_parquet(older / "suggestions.parquet")
    assert list(after["suggestion_id"]) == list(others["suggestion_id"])
    assert list(after["title"]) == list(others["title"])
    priya = others["contact_id"].str.startswith("priya")
    assert after[priya.to_numpy()].reset_index(drop=True).equals(others[priya].reset_index(drop=True))
    grace = after[after["contact_id"].str.startswith("grace")]
    assert MARK in set(grace["interest_snippet"])  # her snippet was his sentence
    with (older / "suggestions.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["suggestion_id"] for r in rows] == list(others["suggestion_id"])
    for name in ("index.html", "report.md", "suggestions.csv"):
        assert not _names_him((reports / "latest" / name).read_text(encoding="utf-8"))


def test_the_store_file_holds_neither_name_nor_email_even_with_secure_delete_off(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect = sqlite3.connect

    def insecure(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        db = connect(*args, **kwargs)
        db.execute("PRAGMA secure_delete=OFF")  # as on a build whose default is off
        return db

    monkeypatch.setattr(sqlite3, "connect", insecure)
    config = load(ws)
    path = config.paths.store

    def raw() -> bytes:
        parts = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
        return b"".join(p.read_bytes() for p in parts if p.exists())

    assert NAME.encode() in raw() and EMAIL.encode() in raw()
    with Store(path) as store:
        assert store.scalar("PRAGMA secure_delete") == 1  # the store turns it on whatever the build says
    with Store(path, readonly=True) as reader:  # an idle reader keeps the log file in place
        assert reader.scalar("SELECT COUNT(*) FROM contacts") == 7
        lines = forget(config, NAME, NOW)
        assert "write-ahead log emptied" in lines[2], lines
        assert path.with_name(path.name + "-wal").exists()
        data = raw()
    for needle in (NAME, EMAIL, HIS[0], "O'Becker"):
        assert needle.encode() not in data, needle
    with Store(path) as store:
        assert store.scalar("SELECT COUNT(*) FROM contacts") == 6  # everyone else is still there


def test_the_forgotten_key_is_an_hmac_with_a_per_workspace_secret(ran: Path, tmp_path: Path) -> None:
    hashes = []
    for n in (1, 2):
        target = tmp_path / f"copy{n}"
        shutil.copytree(ran, target, symlinks=True)
        config = load(target / "gifts.toml")
        forget(config, NAME, NOW)
        key_file = config.paths.interim / "forget.key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        key = bytes.fromhex(key_file.read_text(encoding="ascii"))
        with Store(config.paths.store) as store:
            (stored,) = [r["id_hash"] for r in store.query("SELECT id_hash FROM forgotten")]
            dump = "\n".join(store.db.iterdump())
        assert stored == hmac.new(key, f"forgotten|{TOM}".encode(), hashlib.sha256).hexdigest()
        for plain in (f"forgotten|{TOM}", TOM, f"{NAME}|Northwind Logistics"):
            assert hashlib.sha256(plain.encode()).hexdigest() not in dump
        assert key.hex() not in dump  # the secret lives beside the store, never in it
        hashes.append(stored)
    assert hashes[0] != hashes[1]


def test_a_lost_key_stops_the_profile_stage_instead_of_reading_him_back(ws: Path) -> None:
    config = load(ws)
    forget(config, NAME, NOW)
    (config.paths.interim / "forget.key").unlink()
    with pytest.raises(ConfigError, match=r"forget\.key: missing"):
        run(config, ("profile",), now=NOW, embedder_factory=nightly_fake)
    with Store(config.paths.store) as store:
        assert not store.scalar("SELECT COUNT(*) FROM contacts WHERE id = ?", (TOM,))


def test_an_entry_under_the_old_unkeyed_hash_is_honoured_and_rewritten_keyed(ws: Path) -> None:
    config = load(ws)
    unkeyed = hashlib.sha256(f"forgotten|{TOM}".encode()).hexdigest()
    with Store(config.paths.store) as store, store.transaction():
        store.db.execute("DELETE FROM interviews")  # read every file again
        store.db.execute("INSERT INTO forgotten (id_hash, at) VALUES (?, '2026-01-01')", (unkeyed,))
    run(config, ("profile",), now=NOW, embedder_factory=nightly_fake)
    key = bytes.fromhex((config.paths.interim / "forget.key").read_text(encoding="ascii"))
    with Store(config.paths.store) as store:
        assert not store.scalar("SELECT COUNT(*) FROM contacts WHERE id = ?", (TOM,))
        assert [r["id_hash"] for r in store.query("SELECT id_hash FROM forgotten")] == [
            hmac.new(key, f"forgotten|{TOM}".encode(), hashlib.sha256).hexdigest()
        ]


def test_redact_notes_keeps_other_people_and_layout() -> None:
    notes = (
        "Panel of two\n\nTom said the lag doubles nightly. He wants alerts.\n"
        "- O'Becker wrote tom@x.example on the board.\n\nAda said budgets are tight. Tomas agreed.\n"
    )
    out = redact_notes(notes, ["Tom O'Becker", "Ada Byte"], [Person("tom", NAME, "tom@x.example")])
    assert out.notes == f"Panel of two\n\n{MARK}\n\nAda said budgets are tight. Tomas agreed.\n"
    # The paragraph-spanning sentence a snippet could hold goes too.
    assert "Panel of two Tom said the lag doubles nightly." in out.sentences
    elsewhere = redact_notes("Ada met Tom O'Becker once. Ada likes Go.", ["Ada Byte"], [], [Person("t", NAME)])
    assert elsewhere.notes == f"{MARK} Ada likes Go."


def test_the_vector_of_what_the_notes_said_about_him_goes_too(ws: Path) -> None:
    """The rank stage embeds the notes about each person (pipeline/notes_context.py): his is erased."""
    from pipeline.notes_context import notes_about
    from pipeline.vectors import text_sha

    config = load(ws)
    with Store(config.paths.store) as store:
        his = text_sha(notes_about(store, [TOM])[TOM])
        assert store.scalar("SELECT COUNT(*) FROM vectors WHERE sha = ?", (his,))  # embedded by the run
    _forget(ws)
    with Store(config.paths.store) as store:
        assert not store.scalar("SELECT COUNT(*) FROM vectors WHERE sha = ?", (his,))
