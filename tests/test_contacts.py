"""One contact as the user sees it: lookups, and ban / pin written into the interview file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SAMPLE, FakeEmbedder

from pipeline.cli import main
from pipeline.config import InterestSettings, load
from pipeline.contacts import add_to_list, describe, match_contact
from pipeline.errors import ConfigError, InputError
from pipeline.interviews import parse_interview
from pipeline.profile import profile_interviews
from pipeline.store import Store

HEAD = "---\ncompany: Acme\ndate: 2026-11-20\ninterviewers:\n"
NOTES = "---\nJo said the robot fleet dashboards go blank when battery telemetry drops out.\n"


def _write(tmp_path: Path, people: str, notes: str = NOTES) -> Path:
    folder = tmp_path / "interviews"
    folder.mkdir(exist_ok=True)
    path = folder / "2026-11-20-acme.md"
    path.write_text(HEAD + people + notes, encoding="utf-8")
    return path


def test_lookups_prefer_an_exact_name_and_refuse_ambiguity() -> None:
    people = [("tom-becker-x", "Tom Becker"), ("tomas-ruiz-x", "Tomas Ruiz"), ("ana-x", "Ana Costa")]
    assert match_contact("Tom Becker", people) == "tom-becker-x"
    assert match_contact("costa", people) == "ana-x"
    with pytest.raises(InputError, match="ambiguous"):
        match_contact("tom", people)
    with pytest.raises(InputError, match="not found"):
        match_contact("zed", people)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        # a block list: one item appended, the comment on the key kept
        (
            "    ban:            # too vague\n      - data team\n",
            "    ban:            # too vague\n      - data team\n      - night shift\n",
        ),
        # a flow list, and an empty one
        ("    ban: [battery, robots]  # noisy\n", "    ban: [battery, robots, night shift]  # noisy\n"),
        ("    ban: []\n", "    ban: [night shift]\n"),
        # a single string becomes a list of two
        ("    ban: battery\n", "    ban: [battery, night shift]\n"),
        ('    ban: "robots"\n', "    ban: [robots, night shift]\n"),
        # no list yet: a new one after the person's last field
        ("", "    ban:\n      - night shift\n"),
    ],
)  # fmt: skip
def test_ban_is_a_minimal_edit_of_the_list_as_written(tmp_path: Path, written: str, expected: str) -> None:
    person = "  - name: Jo Smith\n    interests:\n      - Kafka consumer lag   # said twice\n"
    other = "  - name: Al Bo\n    interests: [hiring]\n"
    path = _write(tmp_path, person + written + other)
    edit = add_to_list(tmp_path / "interviews", "jo", "ban", "night shift")
    assert path.read_text(encoding="utf-8") == HEAD + person + expected + other + NOTES
    assert edit.changed and [text for _, sign, text in edit.lines if sign == "+"] == [
        line for line in expected.splitlines() if line not in written.splitlines()
    ]
    jo = parse_interview(path).contacts[0]
    assert jo.ban[-1] == "night shift" and jo.interests[0].text == "Kafka consumer lag"
    assert str(edit).startswith(f'Jo Smith: banned "night shift" in {path}:')


def test_pin_quotes_what_yaml_would_read_otherwise_and_keeps_crlf_and_bom(tmp_path: Path) -> None:
    path = _write(tmp_path, "  - name: Jo Smith\n    pin:\n      - data contracts\n")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    folder = tmp_path / "interviews"
    for phrase in ("yes", "SLOs: error budgets", "#1 priority", "data contracts, at scale"):
        add_to_list(folder, "Jo", "pin", phrase)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\n" not in raw.replace(b"\r\n", b"")
    jo = parse_interview(path).contacts[0]
    assert jo.pin == ("data contracts", "yes", "SLOs: error budgets", "#1 priority", "data contracts, at scale")
    assert [i.origin for i in jo.interests] == ["pin"] * 5


def test_nothing_changes_for_a_phrase_already_there_or_an_unknown_person(tmp_path: Path) -> None:
    path = _write(tmp_path, "  - name: Jo Smith\n    ban: [Battery]\n")
    before = path.read_bytes()
    edit = add_to_list(tmp_path / "interviews", "jo", "ban", "battery")
    assert not edit.changed and "nothing changed" in str(edit) and path.read_bytes() == before
    with pytest.raises(InputError, match="not found"):
        add_to_list(tmp_path / "interviews", "zed", "ban", "battery")
    with pytest.raises(InputError, match="printable"):
        add_to_list(tmp_path / "interviews", "jo", "ban", "   ")
    path.write_text(HEAD + "  - name: Jo Smith\n    ban: {a: b}\n" + NOTES, encoding="utf-8")
    with pytest.raises(ConfigError, match="ban: Jo Smith: must be a list"):
        add_to_list(tmp_path / "interviews", "jo", "ban", "battery")
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no edit file left behind


def test_a_ban_of_a_pinned_phrase_says_the_pin_wins(tmp_path: Path) -> None:
    _write(tmp_path, "  - name: Jo Smith\n    pin: [robot fleet dashboards]\n")
    edit = add_to_list(tmp_path / "interviews", "jo", "ban", "robot fleet")
    assert "a pin wins over a ban" in edit.note


def test_ban_and_pin_round_trip_through_the_file_and_the_next_profile_run(workspace: Path) -> None:
    """On the sample: ban an inferred interest and pin a new one from the CLI, then profile again."""
    config = load(workspace)
    shutil.copytree(SAMPLE / "interviews", config.paths.interviews, dirs_exist_ok=True)
    settings = InterestSettings(min_similarity=0.0)
    with Store(config.paths.store) as store:
        profile_interviews(store, config.paths.interviews, settings, FakeEmbedder)
        inferred = [r["text"] for r in store.query("SELECT text FROM interests WHERE contact_id LIKE 'ana-%'")][1:]
    assert inferred, "the sample's notes give Ana inferred interests"
    path = config.paths.interviews / "2026-10-30-brightline-energy.md"
    before = path.read_text(encoding="utf-8")

    result = CliRunner().invoke(main, ["--config", str(workspace), "profile", "--ban", inferred[0], "Ana"])
    assert result.exit_code == 0, result.output
    assert f'Ana Costa: banned "{inferred[0]}" in {path}:' in result.stdout
    assert "line 17 +     ban:" in result.stdout and f"line 18 +       - {inferred[0]}" in result.stdout
    result = CliRunner().invoke(
        main, ["profile", "--pin", "grid storage markets", "jonas", "--config", str(workspace)]
    )  # global options after the command, as the README writes them
    assert result.exit_code == 0, result.output
    assert "line 12 +     pin:" in result.stdout and "line 13 +       - grid storage markets" in result.stdout
    after = path.read_text(encoding="utf-8")
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    assert added == ["    pin:", "      - grid storage markets", "    ban:", f"      - {inferred[0]}"]
    assert [line for line in before.splitlines() if line not in after.splitlines()] == []  # comments kept

    with Store(config.paths.store) as store:
        assert profile_interviews(store, config.paths.interviews, settings, FakeEmbedder)["profiled"] == 1
        ana = [r["text"] for r in store.query("SELECT text FROM interests WHERE contact_id LIKE 'ana-%'")]
        jonas = {r["text"]: r["origin"] for r in store.query("SELECT * FROM interests WHERE contact_id LIKE 'jonas-%'")}
        assert not [t for t in ana if inferred[0] in t] and jonas["grid storage markets"] == "pin"
        text = describe(store, "ana")
    assert f"banned: {inferred[0]}" in text and 'gifts profile --ban "PHRASE" ana-costa-brightline-energy' in text


def test_the_cli_wants_a_contact_for_ban_and_pin(workspace: Path) -> None:
    result = CliRunner().invoke(main, ["--config", str(workspace), "profile", "--ban", "night shift"])
    assert result.exit_code == 2 and "need the CONTACT" in result.output
    result = CliRunner().invoke(main, ["--config", str(workspace), "profile", "ana"])
    assert result.exit_code == 2 and "--show 'ana'" in result.output
    result = CliRunner().invoke(main, ["--config", str(workspace), "profile", "--pin", "x", "nobody"])
    assert result.exit_code == 2 and "contact 'nobody' not found" in result.stderr
