"""The `gifts` CLI end to end on a copy of the sample workspace, with the real model."""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT

from pipeline.cli import main


def _run(config: Path, *args: str) -> tuple[int, str]:
    """(exit code, stdout), or stderr when stdout is empty (errors go there)."""
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    return result.exit_code, result.stdout or result.stderr


@pytest.fixture(scope="module")
def ran_workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object], dict[str, object]]:
    """The sample run twice through the CLI: (config, first summary, second summary)."""
    import shutil

    target = tmp_path_factory.mktemp("cli") / "sample"
    shutil.copytree(ROOT / "data" / "sample", target, ignore=shutil.ignore_patterns("interim", "processed"))
    config = target / "gifts.toml"
    code, out = _run(config, "run", "--json")
    assert code == 0, out
    first = json.loads(out)
    code, out = _run(config, "run", "--json")
    assert code == 0, out
    return config, first, json.loads(out)


def _suggestions(config: Path) -> list[dict[str, str]]:
    path = config.parent / "data/processed/reports/latest/suggestions.csv"
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow  # the whole sample through the real model
def test_first_run_processes_the_whole_sample(ran_workspace: tuple[Path, dict, dict]) -> None:
    _, first, _ = ran_workspace
    for key in ("fetched", "not_modified", "parsed", "extracted", "embedded", "suggestions", "failed"):
        assert key in first
    assert first["extracted"] >= 60
    assert first["embedded"] > first["extracted"]  # long documents give several passages
    assert first["failed"] == 0


@pytest.mark.slow  # the whole sample through the real model
def test_every_active_interviewer_gets_suggestions_and_filled_gets_none(ran_workspace: tuple[Path, dict, dict]) -> None:
    config, _, _ = ran_workspace
    rows = _suggestions(config)
    contacts = {r["contact"] for r in rows}
    assert contacts == {"Priya Raman", "Tom Becker", "Grace Liu", "Amara Okafor", "Sam Whitfield"}
    assert not any(r["company"] == "Brightline Energy" for r in rows)
    for row in rows:
        assert row["url"].startswith("https://") or row["url"] == ""
        assert row["best_passage"] and row["matched_interest"]


@pytest.mark.slow  # the whole sample through the real model
def test_two_interests_are_both_served(ran_workspace: tuple[Path, dict, dict]) -> None:
    config, _, _ = ran_workspace
    priya = [r for r in _suggestions(config) if r["contact"] == "Priya Raman"]
    assert len({r["matched_interest"] for r in priya}) == 2


@pytest.mark.slow  # the whole sample through the real model
def test_second_run_does_no_work_and_keeps_the_ranking(ran_workspace: tuple[Path, dict, dict]) -> None:
    config, first, second = ran_workspace
    assert second["fetched"] == 0
    assert second["extracted"] == 0
    assert second["embedded"] == 0
    assert second["suggestions"] == first["suggestions"]
    before = _suggestions(config)
    # Force the rank stage to recompute instead of skipping on its fingerprint.
    with sqlite3.connect(config.parent / "data/interim/gifts.sqlite") as db:
        db.execute("DELETE FROM meta WHERE key = 'rank_fingerprint'")
    code, out = _run(config, "rank", "--json")
    assert code == 0, out
    assert json.loads(out)["embedded"] == 0
    code, _ = _run(config, "report")
    assert code == 0
    assert [(r["suggestion_id"], r["rank"]) for r in _suggestions(config)] == [
        (r["suggestion_id"], r["rank"]) for r in before
    ]


@pytest.mark.slow  # the whole sample through the real model
def test_mark_sent_removes_the_document_for_that_contact(ran_workspace: tuple[Path, dict, dict]) -> None:
    config, _, _ = ran_workspace
    top = next(r for r in _suggestions(config) if r["contact"] == "Tom Becker" and r["rank"] == "1")
    code, out = _run(config, "mark", top["suggestion_id"], "sent")
    assert code == 0 and "Tom Becker" in out
    code, out = _run(config, "run", "--json")
    assert code == 0
    again = [r for r in _suggestions(config) if r["contact"] == "Tom Becker"]
    assert top["suggestion_id"] not in {r["suggestion_id"] for r in again}
    assert json.loads(out)["embedded"] == 0


@pytest.mark.slow  # the whole sample through the real model
def test_mark_unknown_id_is_one_line_and_exit_2(ran_workspace: tuple[Path, dict, dict]) -> None:
    config, _, _ = ran_workspace
    code, out = _run(config, "mark", "nope", "sent")
    assert code == 2
    assert out.strip().count("\n") == 0 and "nope" in out


@pytest.mark.slow  # the whole sample through the real model
def test_status_json(ran_workspace: tuple[Path, dict, dict]) -> None:
    config, _, _ = ran_workspace
    code, out = _run(config, "status", "--json")
    assert code == 0
    info = json.loads(out)
    assert len(info["sources"]) == 6
    assert info["documents"]["extracted"] >= 60
    assert {c["name"] for c in info["contacts"]} >= {"Jonas Meyer", "Priya Raman"}
    assert info["runs"][0]["status"] == "ok"


def test_status_names_a_local_file_that_could_not_be_read_by_its_path(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    (tmp_path / "inbox" / "notes.txt").write_text("Consumer Lag, Measured\n\n" + "lag " * 200, encoding="utf-8")
    config = tmp_path / "gifts.toml"
    config.write_text('[sources]\nfolders = ["inbox"]\n', encoding="utf-8")
    for stage in ("parse", "extract"):
        _run(config, stage)
    code, out = _run(config, "status", "--json")
    assert code == 0
    (failed,) = json.loads(out)["failed_files"]
    assert failed["path"].endswith("/inbox/broken.pdf") and Path(failed["path"]).is_file()
    assert failed["state"] == "extract_failed" and failed["reason"].startswith("pdf: ")
    code, out = _run(config, "status")
    assert code == 0 and f"files not read:\n  {failed['path']}: extract_failed (pdf: " in out


def test_bad_config_is_one_line_naming_file_line_and_key(tmp_path: Path) -> None:
    config = tmp_path / "gifts.toml"
    config.write_text('[rank]\ntop_k = "five"\n', encoding="utf-8")
    code, out = _run(config, "run")
    assert code == 2
    assert f"{config}:2: rank.top_k" in out
    assert out.strip().count("\n") == 0


def test_missing_config_exit_2(tmp_path: Path) -> None:
    code, out = _run(tmp_path / "nope.toml", "status")
    assert code == 2 and "nope.toml" in out


def test_python_dash_m_and_fast_help() -> None:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipeline", "--help"], capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    assert "Usage: gifts" in done.stdout
    # The help must not import torch or pandas: check the modules, not the clock.
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pipeline.cli import main; print('torch' in sys.modules, 'pandas' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.split() == ["False", "False"]
    assert elapsed < 10  # generous: only catches a model load sneaking into start-up


def test_overlapping_run_exits_at_once(workspace: Path) -> None:
    from pipeline.config import load
    from pipeline.store import WorkspaceLock

    config = load(workspace)
    with WorkspaceLock(config.paths.interim):
        started = time.perf_counter()
        code, out = _run(workspace, "run")
        assert time.perf_counter() - started < 5
    assert code == 2
    assert "another gifts run" in out
    assert not (config.paths.store).exists()


def _noisy_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """During a run, a third-party library logs a warning, and so does the project itself."""
    import logging

    from pipeline import checks

    original = checks.collect_warnings

    def collect(*args: object, **kwargs: object) -> list[str]:
        logging.getLogger("trafilatura.core").warning("library noise from https://user:TOKEN@lib.example/x")
        logging.getLogger("pipeline.ingest").warning("our own warning")
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(checks, "collect_warnings", collect)


@pytest.mark.parametrize("verbose", [[], ["-v"], ["-vv"]])
def test_library_log_lines_go_to_the_run_log_not_the_terminal_unless_vv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verbose: list[str]
) -> None:
    _noisy_library(monkeypatch)
    config = tmp_path / "gifts.toml"
    config.write_text("[fetch]\noffline = true\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), *verbose, "fetch"])
    assert result.exit_code == 0, result.output
    assert "our own warning" in result.stderr
    assert ("library noise" in result.stderr) == (verbose == ["-vv"])
    (log_file,) = (tmp_path / "data" / "interim" / "logs").glob("run-*.log")
    logged = log_file.read_text(encoding="utf-8")
    assert "trafilatura.core: library noise from https://***@lib.example/x" in logged
    assert "pipeline.ingest: our own warning" in logged and "TOKEN" not in logged + result.stderr
    assert f"log: {log_file}" in result.stdout
