"""README, `--help` and the example config must agree with the code."""

from __future__ import annotations

import re
import tomllib

import click
from conftest import ROOT, SAMPLE

from pipeline import config as config_module
from pipeline.cli import main

README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTIONS = {
    "fetch": config_module.FetchSettings,
    "embed": config_module.EmbedSettings,
    "rank": config_module.RankSettings,
    "interests": config_module.InterestSettings,
    "cadence": config_module.CadenceSettings,
    "history": config_module.HistorySettings,
    "feedback": config_module.FeedbackSettings,
    "drafts": config_module.DraftSettings,
    "ray": config_module.RaySettings,
    "notify": config_module.NotifySettings,
    "search": config_module.SearchSettings,
}


def _all_keys() -> set[str]:
    keys = {f"paths.{name}" for name in config_module._PATH_DEFAULTS}
    keys |= {"sources.feeds", "sources.opml", "sources.folders", "workspace.name"}
    for section, cls in SECTIONS.items():
        keys |= {f"{section}.{key}" for key in config_module.file_fields(cls)}
    return keys


def test_readme_first_screen_has_the_two_commands() -> None:
    first_screen = "\n".join(README.splitlines()[:25])
    assert "make demo" in first_screen and "make test" in first_screen
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_every_config_key_is_documented_in_the_readme() -> None:
    documented = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", README, re.M))
    assert documented == _all_keys()


def test_the_example_config_uses_only_real_keys_and_comments_them() -> None:
    text = (SAMPLE / "gifts.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    used = {f"{section}.{key}" for section, table in data.items() for key in table}
    assert used <= _all_keys()
    missing = _all_keys() - used - {"fetch.user_agent", "embed.model_path"}
    assert not missing, f"example config lacks {sorted(missing)}"
    for line in text.splitlines():
        if re.match(r"^[a-z_]+\s*=", line):
            assert "#" in line, f"uncommented key: {line}"
    config_module.load(SAMPLE / "gifts.toml")  # and it validates


def test_every_command_has_help_with_an_example_and_is_in_the_readme() -> None:
    ctx = click.Context(main)
    assert isinstance(main, click.Group)
    for name, command in main.commands.items():
        help_text = command.get_help(ctx)
        assert "Example: gifts" in help_text, f"{name} help has no example"
        assert f"gifts {name}" in README or f"`{name}`" in README, f"README does not mention {name}"
    assert "Example: gifts" in main.get_help(ctx)


def test_readme_defaults_match_the_code() -> None:
    rows = dict(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \| `?([^`|]+?)`? \|", README, re.M))
    for section, cls in SECTIONS.items():
        for key, value in config_module.file_values(cls()).items():
            shown = rows[f"{section}.{key}"]
            if isinstance(value, bool):
                assert shown == str(value).lower(), f"{section}.{key}"
            elif isinstance(value, int | float):
                assert float(shown) == float(value), f"{section}.{key}"
            elif isinstance(value, tuple):
                assert shown == "[" + ", ".join(f'"{v}"' for v in value) + "]", f"{section}.{key}"
