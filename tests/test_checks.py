"""Warnings that do not stop a run, one line each naming the file, line and key: in the run's summary,
`gifts run --json`, and the report."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from click.testing import CliRunner
from conftest import NOW, write_acme_interview

from pipeline.checks import config_warnings, interview_warnings
from pipeline.cli import main
from pipeline.config import load
from pipeline.runner import run

TODAY = dt.date(2026, 11, 26)


def _workspace(tmp_path: Path) -> Path:
    config = tmp_path / "gifts.toml"
    config.write_text(
        '[fetch]\noffline = true\n\n[sources]\nfolders = [\n  "inbox",\n  "nowhere",\n]\n\n'
        "[rank]\ntop_k = 3\nmin_score = 1.5\ndense_weight = 2\n",
        encoding="utf-8",
    )
    (tmp_path / "inbox").mkdir()
    return config


def test_out_of_range_settings_and_missing_folders_name_file_line_and_key(tmp_path: Path) -> None:
    config = _workspace(tmp_path)
    found = config_warnings(load(config))
    path = config.resolve()
    assert len(found) == 3
    assert found[0].startswith(f"{path}:12: rank.min_score = 1.5 is above 1;")
    assert found[1].startswith(f"{path}:13: rank.dense_weight = 2 is above 1;")
    assert (
        found[2]
        == f"{path}:7: sources.folders: {(tmp_path / 'nowhere').resolve()} does not exist; it is skipped tonight"
    )
    assert all("\n" not in w for w in found)


def test_in_range_settings_give_no_warning(tmp_path: Path) -> None:
    config = tmp_path / "gifts.toml"
    config.write_text("[rank]\nmin_score = 1\n", encoding="utf-8")
    assert config_warnings(load(config)) == []


def test_an_empty_interviews_folder_and_a_future_interview(tmp_path: Path) -> None:
    folder = tmp_path / "interviews"
    (empty,) = interview_warnings(folder, TODAY)
    assert empty.startswith(f"{folder}: no interview files") and "gifts new-interview" in empty
    write_acme_interview(tmp_path)  # dated 2026-11-20
    assert interview_warnings(folder, TODAY) == []
    (future,) = interview_warnings(folder, dt.date(2026, 11, 1))
    assert future.startswith(f"{folder / 'acme.md'}:3: date: 2026-11-20 is in the future (today is 2026-11-01)")


def test_warnings_reach_the_summary_the_json_and_the_report(tmp_path: Path) -> None:
    config = _workspace(tmp_path)
    result = run(load(config), ("fetch", "parse", "report"), now=NOW)
    assert result.status == "partial"  # the missing folder is a failed source too; the run went on
    assert len(result.warnings) == 4 and result.summary()["warnings"] == result.warnings
    assert any("no interview files" in w for w in result.warnings)
    assert result.report_dir is not None
    markdown = (result.report_dir / "report.md").read_text(encoding="utf-8")
    html = (result.report_dir / "index.html").read_text(encoding="utf-8")
    assert "## Warnings" in markdown and "rank.min\\_score = 1.5 is above 1" in markdown
    assert "<h3>Warnings</h3>" in html and "rank.min_score = 1.5 is above 1" in html

    cli = CliRunner().invoke(main, ["--config", str(config), "parse", "--json"])
    assert cli.exit_code == 1  # partial: the missing folder
    assert json.loads(cli.stdout)["warnings"] == result.warnings
    text = CliRunner().invoke(main, ["--config", str(config), "parse"])
    assert "warning: " + result.warnings[0] in text.stdout


def test_status_shows_the_last_runs_warnings(tmp_path: Path) -> None:
    config = _workspace(tmp_path)
    result = run(load(config), ("parse",), now=NOW)
    shown = CliRunner().invoke(main, ["--config", str(config), "status"])
    assert f"warnings (last run):\n  {result.warnings[0]}\n" in shown.stdout
    as_json = CliRunner().invoke(main, ["--config", str(config), "status", "--json"])
    assert json.loads(as_json.stdout)["warnings"] == result.warnings
