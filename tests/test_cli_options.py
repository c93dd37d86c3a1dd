"""The group's options work before or after the subcommand, as the README writes them."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import hoist_global_options, main


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--config", "w/gifts.toml"], ["--config", "w/gifts.toml", "run"]),
        (["run", "--config=w.toml", "-vv", "--json"], ["--config=w.toml", "-vv", "run", "--json"]),
        (["--config", "a.toml", "status"], ["--config", "a.toml", "status"]),
        (["eval", "beir", "dir", "--verbose"], ["--verbose", "eval", "beir", "dir"]),
        (["log", "reply", "Tom", "--", "--config"], ["log", "reply", "Tom", "--", "--config"]),
    ],
)
def test_hoisting(args: list[str], expected: list[str]) -> None:
    assert hoist_global_options(args) == expected


def test_config_after_the_subcommand_is_the_same_as_before(workspace: Path) -> None:
    before = CliRunner().invoke(main, ["--config", str(workspace), "status", "--json"])
    after = CliRunner().invoke(main, ["status", "--json", "--config", str(workspace)])
    assert before.exit_code == after.exit_code == 0, after.output
    assert before.output == after.output
    assert str(workspace) in after.output


def test_a_missing_config_after_the_subcommand_is_named(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["status", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "nope.toml" in result.output
