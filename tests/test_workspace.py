"""`gifts init`: the generated gifts.toml stays true to the code, the example interview, the .gitignore."""

from __future__ import annotations

import ast
import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT

from pipeline import config as config_module
from pipeline.cli import main
from pipeline.config import load
from pipeline.errors import InputError
from pipeline.interviews import parse_interview, read_interviews
from pipeline.workspace import COMMENTS, config_text, init_workspace


def _all_keys() -> set[str]:
    keys = {f"paths.{name}" for name in config_module._PATH_DEFAULTS} | {"workspace.name"}
    keys |= {f"sources.{f.name}" for f in dataclasses.fields(config_module.Sources)}
    for section, cls in config_module._SECTIONS.items():
        keys |= {f"{section}.{key}" for key in config_module.file_fields(cls)}
    return keys


def test_init_creates_the_workspace(tmp_path: Path) -> None:
    folder = tmp_path / "gifts"
    created = init_workspace(folder)
    for name in ("gifts.toml", "interviews", "interviews/_example.md", "inbox", ".gitignore"):
        assert folder / name in created
    config = load(folder / "gifts.toml")
    assert config.name == "gifts" and config.fetch.offline is False
    assert config.sources.feeds == () and config.sources.opml == () and config.sources.folders == (folder / "inbox",)
    assert read_interviews(config.paths.interviews) == []  # the example is skipped


def test_the_config_is_every_key_at_its_default_each_commented(tmp_path: Path) -> None:
    assert set(COMMENTS) == _all_keys(), "a config key without a comment for `gifts init` (pipeline/workspace.py)"
    text = config_text("w")
    path = tmp_path / "gifts.toml"
    path.write_text(text, encoding="utf-8")
    config = load(path)
    for section, cls in config_module._SECTIONS.items():
        assert getattr(config, section) == cls(), f"[{section}] differs from the code's defaults"
    seen = set()
    section = ""
    for number, line in enumerate(text.splitlines()):
        header = re.match(r"^\[(\w+)\]$", line)
        if header:
            section = header.group(1)
            continue
        key = re.match(r"^(?:# )?([a-z_]+) = ", line)
        if not key:
            continue
        seen.add(f"{section}.{key.group(1)}")
        assert re.search(r"\s# \S", line[key.end() :]), f"uncommented key: {line}"
        if line.startswith("# "):
            # Uncommenting any one key gives a valid file holding the code's default (or the example value).
            lines = text.splitlines()
            lines[number] = line[2:]
            path.write_text("\n".join(lines), encoding="utf-8")
            load(path)
    assert seen == _all_keys()


def test_init_refuses_an_existing_gifts_toml(tmp_path: Path) -> None:
    (tmp_path / "gifts.toml").write_text("# mine\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"gifts\.toml: already exists"):
        init_workspace(tmp_path)
    assert (tmp_path / "gifts.toml").read_text(encoding="utf-8") == "# mine\n"


def test_the_example_interview_is_valid_once_renamed(tmp_path: Path) -> None:
    init_workspace(tmp_path)
    example = tmp_path / "interviews" / "_example.md"
    assert "AN EXAMPLE, NOT AN INTERVIEW" in example.read_text(encoding="utf-8")
    copy = tmp_path / "interviews" / "copy.md"
    shutil.copy(example, copy)
    interview = parse_interview(copy)
    assert [c.name for c in interview.contacts] == ["Jordan Example", "Sam Sample"]
    assert all(len(c.interests) == 2 for c in interview.contacts)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_gitignore_keeps_personal_data_out(tmp_path: Path) -> None:
    init_workspace(tmp_path)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    private = [
        "interviews/2026-11-24-northwind.md",
        "data/interim/gifts.sqlite",
        "data/raw/index.jsonl",
        "data/processed/reports/latest/report.md",
        "models/feedback.json",
        "inbox/paper.pdf",
    ]
    public = ["gifts.toml", "interviews/_example.md", ".gitignore", "templates/notes/thank_you.txt.j2"]
    for path in private + public:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).touch()
    ignored = subprocess.run(
        ["git", "-C", str(tmp_path), "check-ignore", *private, *public], capture_output=True, text=True, check=False
    ).stdout.split()
    assert sorted(ignored) == sorted(private)


def _commands() -> set[str]:
    names = set()
    for name, command in main.commands.items():
        names.add(name)
        for sub in getattr(command, "commands", {}):
            names.add(f"{name} {sub}")
    return names


def _messages(path: Path) -> list[str]:
    """The string literals of a module (f-string parts included), docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            docstrings.add(id(body[0].value))
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_every_command_a_message_suggests_exists() -> None:
    """`gifts X` in any message of the package (or a README command line) names a real command."""
    commands = _commands()
    for path in sorted((ROOT / "pipeline").glob("*.py")):
        text = "\n".join(_messages(path))
        for found in re.finditer(r"`gifts ((?:--config \S+ )?[a-z][a-z-]*)(?: ([a-z][a-z-]*))?", text):
            word = found.group(1).split()[-1]
            two = f"{word} {found.group(2)}"
            assert word in commands or two in commands, f"{path.name}: `gifts {found.group(1)}` is no command"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for found in re.finditer(r"^\s*gifts ([a-z][a-z-]*)", readme, re.M):
        assert found.group(1) in commands, f"README: gifts {found.group(1)} is no command"
