"""Interview files: the sample parses into contacts and interests; every bad file is a ConfigError that says where."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import pytest
from conftest import SAMPLE

from pipeline.errors import ConfigError
from pipeline.interviews import attribute, parse_interview, read_interviews

# Line numbers of this file are what the tests below point at.
BASE = """\
---
company: Acme Freight
date: 2026-11-20
status: active
interviewers:
  - name: Jo Smith
    role: CTO
    interests:
      - Kafka consumer lag
---
Jo said their Kafka consumer lag doubles every evening.
"""
#  1 ---
#  2 company: Acme Freight
#  3 date: 2026-11-20
#  4 status: active
#  5 interviewers:
#  6   - name: Jo Smith
#  7     role: CTO
#  8     interests:
#  9       - Kafka consumer lag
# 10 ---

BILLION_LAUGHS = """\
---
company: Acme Freight
date: 2026-11-20
position: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
cadence: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
status: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
interviewers: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
---
"""


def _write(tmp_path: Path, content: str | bytes, name: str = "2026-11-20-acme.md") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _error(tmp_path: Path, content: str | bytes) -> tuple[Path, str]:
    path = _write(tmp_path, content)
    with pytest.raises(ConfigError) as caught:
        parse_interview(path)
    return path, str(caught.value)


# -- the sample ----------------------------------------------------------------------------------


def test_the_three_sample_interviews_parse() -> None:
    interviews = read_interviews(SAMPLE / "interviews")
    assert [(i.company, i.status, i.date) for i in interviews] == [
        ("Brightline Energy", "filled", dt.date(2026, 10, 30)),
        ("Helix Health", "active", dt.date(2026, 11, 20)),
        ("Northwind Logistics", "active", dt.date(2026, 11, 24)),
    ]
    assert [[c.name for c in i.contacts] for i in interviews] == [
        ["Jonas Meyer", "Ana Costa"],
        ["Amara Okafor", "Sam Whitfield"],
        ["Priya Raman", "Tom Becker", "Grace Liu"],
    ]
    assert interviews[1].id == "2026-11-20-helix-health"
    assert interviews[2].position == "Senior Data Engineer"
    assert interviews[2].notes.startswith("Panel of three")


def test_sample_contacts_carry_interests_and_note_snippets() -> None:
    helix = parse_interview(SAMPLE / "interviews" / "2026-11-20-helix-health.md")
    amara = helix.contacts[0]
    assert amara.id == "amara-okafor-helix-health"
    assert (amara.role, amara.email, amara.company) == (
        "Director of Machine Learning",
        "amara.okafor@helix.example",
        "Helix Health",
    )
    assert amara.first_name == "Amara"
    assert [i.text for i in amara.interests] == [
        "evaluating LLM-generated clinical summaries for hallucinations and omissions",
        "monitoring deployed models for drift in hospitals",
    ]
    drift = amara.interests[1]
    assert drift.snippet == (
        "She also mentioned a model that quietly got worse after a lab system change, "
        "and that nobody noticed the drift for weeks."
    )
    assert (drift.contact_id, drift.kind, drift.weight) == (amara.id, "said", 1.0)
    assert re.fullmatch(r"[0-9a-f]{12}", drift.id)

    northwind = parse_interview(SAMPLE / "interviews" / "2026-11-24-northwind-logistics.md")
    tom = next(c for c in northwind.contacts if c.name == "Tom Becker")
    assert tom.interests[0].text == "stream processing with Kafka and change data capture"
    assert tom.interests[0].snippet is not None
    assert "change data capture" in tom.interests[0].snippet


def test_interest_ids_are_stable_across_reads() -> None:
    path = SAMPLE / "interviews" / "2026-11-24-northwind-logistics.md"
    first = [i.id for c in parse_interview(path).contacts for i in c.interests]
    second = [i.id for c in parse_interview(path).contacts for i in c.interests]
    assert first == second
    assert len(set(first)) == len(first) == 5  # four listed, one pinned


def test_minimal_file_parses(tmp_path: Path) -> None:
    interview = parse_interview(_write(tmp_path, BASE))
    assert interview.id == "2026-11-20-acme"
    assert interview.position is None
    (jo,) = interview.contacts
    assert jo.id == "jo-smith-acme-freight"
    assert jo.interests[0].snippet == "Jo said their Kafka consumer lag doubles every evening."


def test_a_single_interest_string_and_duplicates_are_normalised(tmp_path: Path) -> None:
    text = BASE.replace("    interests:\n      - Kafka consumer lag\n", "    interests: Kafka consumer lag\n")
    assert [i.text for i in parse_interview(_write(tmp_path, text)).contacts[0].interests] == ["Kafka consumer lag"]
    text = BASE.replace("      - Kafka consumer lag\n", "      - Kafka consumer lag\n      - Kafka consumer lag\n")
    assert len(parse_interview(_write(tmp_path, text)).contacts[0].interests) == 1


def test_a_bom_at_the_start_is_accepted(tmp_path: Path) -> None:
    interview = parse_interview(_write(tmp_path, b"\xef\xbb\xbf" + BASE.encode()))
    assert interview.company == "Acme Freight"


def test_read_interviews_skips_underscore_files_and_requires_the_folder(tmp_path: Path) -> None:
    _write(tmp_path, BASE)
    _write(tmp_path, "not an interview", name="_template.md")
    assert [i.company for i in read_interviews(tmp_path)] == ["Acme Freight"]
    with pytest.raises(ConfigError, match="interviews folder does not exist"):
        read_interviews(tmp_path / "missing")


# -- errors: file, line, field ------------------------------------------------------------------

FIELD_ERRORS = [
    pytest.param(
        BASE.replace("status: active", "status: active\nsalary: 100"), "salary", "unknown field", id="unknown"
    ),
    pytest.param(BASE.replace("status: active", "status: pending"), "status", "'pending' is not one of", id="status"),
    pytest.param(BASE.replace("2026-11-20", "next tuesday"), "date", "is not a YYYY-MM-DD date", id="date"),
    pytest.param(BASE.replace("date: 2026-11-20\n", ""), "date", "required", id="no-date"),
    pytest.param(
        BASE.split("interviewers:")[0] + "interviewers: []\n---\n", "interviewers", "required", id="no-interviewers"
    ),
    pytest.param(BASE.replace("  - name: Jo Smith\n    role", "  - role"), "name", "non-empty name", id="no-name"),
    pytest.param(BASE.replace("- Kafka consumer lag", "- 42"), "interests", "list of non-empty strings", id="int"),
    pytest.param(
        BASE.replace("interests:\n      - Kafka consumer lag", "interests: {topic: kafka}"),
        "interests",
        "list of non-empty strings",
        id="mapping",
    ),
    pytest.param(BASE.replace("    role: CTO", "    phone: 555"), "phone", "unknown interviewer field", id="person"),
    pytest.param(BASE.replace("company: Acme Freight", "company: ''"), "company", "required", id="company"),
]


@pytest.mark.parametrize(("text", "field", "message"), FIELD_ERRORS)
def test_field_errors_name_file_line_and_field(tmp_path: Path, text: str, field: str, message: str) -> None:
    path, error = _error(tmp_path, text)
    assert re.match(rf"{re.escape(str(path))}:\d+: {field}: ", error), error
    assert message in error


def test_missing_front_matter(tmp_path: Path) -> None:
    path, error = _error(tmp_path, "company: Acme\n\nNotes only.\n")
    assert error == f"{path}:1: missing YAML front matter (the file must start with ---)"


def test_unclosed_front_matter(tmp_path: Path) -> None:
    path, error = _error(tmp_path, BASE.replace("---\nJo said", "Jo said"))
    assert error == f"{path}:1: front matter is not closed with a --- line"


def test_yaml_syntax_error_names_the_file_and_a_line(tmp_path: Path) -> None:
    path, error = _error(tmp_path, BASE.replace("status: active", "status: active: yes"))
    assert re.match(rf"{re.escape(str(path))}:\d+: front matter: mapping values are not allowed here", error), error


def test_duplicate_key_is_refused(tmp_path: Path) -> None:
    path, error = _error(tmp_path, BASE.replace("status: active", "status: active\ncompany: Other Co"))
    assert re.match(rf"{re.escape(str(path))}:\d+: front matter: duplicate key 'company'", error), error


def test_duplicate_key_inside_an_interviewer_is_refused(tmp_path: Path) -> None:
    _, error = _error(tmp_path, BASE.replace("    role: CTO", "    role: CTO\n    role: CEO"))
    assert "duplicate key 'role'" in error


@pytest.mark.slow  # PyYAML parses 100,000 keys
def test_a_duplicate_among_100000_keys_names_the_file_and_its_line(tmp_path: Path) -> None:
    # The audit's 989 KB file: the check used to compare every key with every other (380 s).
    keys = "".join(f"k{i}: 1\n" for i in range(100_000))
    path, error = _error(tmp_path, f"---\ncompany: Acme\ndate: 2026-11-20\n{keys}k99999: 2\n---\nNotes.\n")
    assert path.stat().st_size < 1024 * 1024
    assert error == f"{path}:100004: front matter: duplicate key 'k99999'"


def test_yaml_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    started = time.perf_counter()
    path, error = _error(tmp_path, BILLION_LAUGHS)
    assert time.perf_counter() - started < 1.0
    assert re.match(rf"{re.escape(str(path))}:\d+: front matter: aliases are not allowed", error), error


def test_nul_bytes_are_refused(tmp_path: Path) -> None:
    path, error = _error(tmp_path, BASE.replace("Jo said", "Jo\x00said"))
    assert error == f"{path}:11: contains NUL bytes; not a text file"


def test_non_utf8_names_the_line(tmp_path: Path) -> None:
    path, error = _error(tmp_path, BASE.replace("every evening", "caf\xe9").encode("latin-1"))
    assert error == f"{path}:11: not UTF-8 text"


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    path, error = _error(tmp_path, BASE + "x" * (1024 * 1024))
    assert re.match(rf"{re.escape(str(path))}:\d+: larger than 1048576 bytes", error)


# -- exact lines (were known bugs: off by one, a first-name line, an escaping ValueError) ---------

EXACT_LINES = [
    pytest.param(BASE.replace("status: active", "status: pending"), 4, id="status"),
    pytest.param(BASE.replace("2026-11-20", "next tuesday"), 3, id="date"),
    pytest.param(BASE.replace("    role: CTO", "    phone: 555"), 7, id="person-field"),
    pytest.param(BASE.replace("status: active", "status: active: yes"), 4, id="yaml-syntax"),
    pytest.param(BASE.replace("company: Acme Freight", "company: [Acme"), 3, id="yaml-flow"),
]


@pytest.mark.parametrize(("text", "line"), EXACT_LINES)
def test_errors_name_the_exact_line(tmp_path: Path, text: str, line: int) -> None:
    path, error = _error(tmp_path, text)
    assert error.startswith(f"{path}:{line}: "), error


def test_impossible_date_is_a_config_error(tmp_path: Path) -> None:
    path, error = _error(tmp_path, BASE.replace("2026-11-20", "2026-02-30"))
    assert error.startswith(f"{path}:3: date: ")


def test_nameless_second_interviewer_points_at_its_own_entry(tmp_path: Path) -> None:
    text = BASE.replace("      - Kafka consumer lag\n", "      - Kafka consumer lag\n  - role: CFO\n")
    path, error = _error(tmp_path, text)
    assert error.startswith(f"{path}:10: name: "), error


# -- follow-up fields: cadence, pin, ban, replied; attribution; the scaffold ----------------------


def test_cadence_pin_ban_and_replied_are_read(tmp_path: Path) -> None:
    text = BASE.replace("status: active\n", "status: active\ncadence:\n  min_gap_days: 10\n  max_per_month: 2\n")
    text = text.replace(
        "      - Kafka consumer lag\n",
        "      - Kafka consumer lag\n      - hiring plans\n    pin: schema registry\n    ban: [hiring]\n"
        "    replied: [2026-11-22, '2026-11-25']\n",
    )
    interview = parse_interview(_write(tmp_path, text))
    assert interview.cadence == {"min_gap_days": 10.0, "max_per_month": 2.0}
    (jo,) = interview.contacts
    assert [(i.text, i.origin) for i in jo.interests] == [
        ("Kafka consumer lag", "front_matter"),
        ("schema registry", "pin"),
    ]
    assert jo.replied == (dt.date(2026, 11, 22), dt.date(2026, 11, 25))
    assert jo.interests[0].quote == "their Kafka consumer lag doubles every evening"


FOLLOW_UP_ERRORS = [
    pytest.param(BASE.replace("status: active", "status: active\ncadence: weekly"), "cadence", "a mapping", id="cad"),
    pytest.param(
        BASE.replace("status: active", "status: active\ncadence: {gap: 3}"), "cadence", "unknown key", id="key"
    ),
    pytest.param(
        BASE.replace("status: active", "status: active\ncadence: {min_gap_days: -1}"), "cadence", "non-neg", id="neg"
    ),
    pytest.param(BASE.replace("    role: CTO", "    role: CTO\n    pin: [1, 2]"), "pin", "list of non-empty", id="pin"),
    pytest.param(
        BASE.replace("    role: CTO", "    role: CTO\n    replied: soon"), "replied", "YYYY-MM-DD", id="replied"
    ),
]


@pytest.mark.parametrize(("text", "field", "message"), FOLLOW_UP_ERRORS)
def test_follow_up_field_errors_name_file_line_and_field(tmp_path: Path, text: str, field: str, message: str) -> None:
    path, error = _error(tmp_path, text)
    assert re.match(rf"{re.escape(str(path))}:\d+: {field}: ", error), error
    assert message in error


def test_sentences_are_attributed_to_the_person_named_until_the_next_name() -> None:
    notes = (
        "Jo opened. She wants X.\nAl asked about Y. He also said Z.\n\nA new paragraph about nobody.\nJo and Al agreed."
    )
    assert attribute(notes, ["Jo", "Al"]) == {
        "Jo": ["Jo opened.", "She wants X."],
        "Al": ["Al asked about Y.", "He also said Z."],
    }


def test_the_scaffold_validates_once_its_notes_are_written_and_new_interview_never_overwrites(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pipeline.cli import main

    config = tmp_path / "gifts.toml"
    config.write_text("", encoding="utf-8")
    args = ["--config", str(config), "new-interview", "--company", "Acme: Freight", "--date", "2026-12-02"]
    result = CliRunner().invoke(main, [*args, "--interviewer", "Jo Smith", "--interviewer", "Al Bo"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "interviews" / "2026-12-02-acme-freight.md"
    lines = path.read_text(encoding="utf-8").splitlines()
    at = next(n for n, line in enumerate(lines, start=1) if line.startswith("Notes: what did each person say"))
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:{at}: notes: still the instructions"):
        parse_interview(path)
    path.write_text("\n".join(lines[: at - 1]) + "\nJo said the nightly loads break.\n", encoding="utf-8")
    interview = parse_interview(path)
    assert (interview.company, interview.date, interview.position) == ("Acme: Freight", dt.date(2026, 12, 2), None)
    assert [c.name for c in interview.contacts] == ["Jo Smith", "Al Bo"]
    assert all(c.interests == () for c in interview.contacts)
    for field in ("company", "position", "date", "status", "cadence", "interviewers", "role", "email", "pin", "ban"):
        line = next(line for line in path.read_text(encoding="utf-8").splitlines() if f"{field}:" in line)
        assert "#" in line, field
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 2 and "already exists" in again.stderr
    bad = CliRunner().invoke(main, [*args[:-1], "soon"])
    assert bad.exit_code == 2 and "--date" in bad.stderr


@pytest.mark.parametrize(
    ("old", "new", "field", "at"),
    [
        ("- name: Jo Smith", "- name: Interviewer Name", "name", "name:"),
        ("- name: Jo Smith", "- name: Interviewer", "name", "name:"),
        ("- Kafka consumer lag", "- what they want to achieve", "interests", "interests:"),
    ],
)
def test_an_interview_still_holding_the_new_interview_placeholders_is_refused(
    tmp_path: Path, old: str, new: str, field: str, at: str
) -> None:
    """No draft may greet "Hi Interviewer,": the file is refused with its line, in one line."""
    path = tmp_path / "placeholder.md"
    path.write_text(BASE.replace(old, new), encoding="utf-8")
    line = next(n for n, text in enumerate(BASE.splitlines(), start=1) if at in text)
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:{line}: {field}: .*new-interview") as caught:
        parse_interview(path)
    assert "\n" not in str(caught.value)


def test_a_fresh_scaffold_without_names_is_refused_at_its_placeholder_name(tmp_path: Path) -> None:
    from pipeline.interview_files import write_scaffold

    path = write_scaffold(tmp_path, "Acme", dt.date(2026, 12, 2), None, [])
    line = next(n for n, text in enumerate(path.read_text().splitlines(), start=1) if "Interviewer Name" in text)
    with pytest.raises(ConfigError, match=rf":{line}: name: 'Interviewer Name' is the placeholder"):
        parse_interview(path)
