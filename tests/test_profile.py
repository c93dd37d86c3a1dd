"""Interests inferred from the notes (KeyBERT-style, with the project's embedder), pin and ban, and --show."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from conftest import SAMPLE, FakeEmbedder

from pipeline.cli import main
from pipeline.config import InterestSettings
from pipeline.interviews import parse_interview
from pipeline.profile import candidate_phrases, describe, infer_interests, profile_interviews
from pipeline.store import Store

NOTES = """\
---
company: Acme Freight
date: 2026-11-20
interviewers:
  - name: Jo Smith
    interests:
      - Kafka consumer lag
  - name: Al Bo
    interests:
      - hiring senior engineers
---
Jo said their warehouse robots stall when the battery telemetry drops out, and the robot fleet
dashboards go blank. She wants battery telemetry alerts before robots stall. Jo also said Kafka
consumer lag doubles at night.

Al asked about hiring senior engineers and interview loops.
"""


def _interview(tmp_path: Path, text: str = NOTES) -> Path:
    folder = tmp_path / "interviews"
    folder.mkdir(exist_ok=True)
    path = folder / "2026-11-20-acme.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_candidates_skip_stop_words_names_and_verb_endings() -> None:
    found = candidate_phrases(["Jo said the battery telemetry drops out and the robot fleet grew."], ["Jo", "Smith"])
    assert "battery telemetry" in found and "robot fleet" in found
    assert not [p for p in found if "jo" in p.lower().split() or p.endswith("grew") or p.startswith("the ")]
    assert found["battery telemetry"].startswith("Jo said")


def test_inferred_interests_come_from_the_persons_own_sentences_with_snippet_weight_and_why(tmp_path: Path) -> None:
    jo, al = parse_interview(_interview(tmp_path)).contacts
    assert all("Al" not in s for s in jo.said) and al.said == (
        "Al asked about hiring senior engineers and interview loops.",
    )
    inferred = infer_interests(jo, ["Jo", "Smith", "Al", "Bo"], FakeEmbedder(), InterestSettings(min_similarity=0.1))
    texts = [i.text for i in inferred]
    assert texts and len(texts) <= 3
    assert any("battery telemetry" in t or "robot" in t for t in texts), texts
    assert not any("kafka" in t.lower() and "lag" in t.lower() for t in texts)  # repeats the listed interest
    for interest in inferred:
        assert (interest.kind, interest.origin, interest.weight) == ("inferred", "notes", 0.8)
        assert interest.snippet in jo.said and interest.why and "similarity" in interest.why
        assert interest.quote and set(interest.text.lower().split()) <= set(
            interest.snippet.lower().replace(",", "").split()
        )


def test_ban_drops_inferred_and_listed_interests_and_pin_adds_one(tmp_path: Path) -> None:
    text = NOTES.replace(
        "      - Kafka consumer lag\n",
        "      - Kafka consumer lag\n    ban: [battery, kafka]\n    pin: [robot fleet dashboards]\n",
    )
    jo = parse_interview(_interview(tmp_path, text)).contacts[0]
    assert [(i.text, i.origin) for i in jo.interests] == [("robot fleet dashboards", "pin")]
    inferred = infer_interests(jo, ["Jo", "Smith"], FakeEmbedder(), InterestSettings(min_similarity=0.0))
    assert not [i for i in inferred if "battery" in i.text or "kafka" in i.text.lower()]


def test_profile_stores_inferred_interests_and_show_explains_them(tmp_path: Path) -> None:
    _interview(tmp_path)
    embedder = FakeEmbedder()
    settings = InterestSettings(min_similarity=0.1)
    with Store(tmp_path / "gifts.sqlite") as store:
        counts = profile_interviews(store, tmp_path / "interviews", settings, lambda: embedder)
        assert counts["inferred"] >= 1 and embedder.calls == 2  # one batch per person
        kinds = {r["kind"] for r in store.query("SELECT kind FROM interests WHERE contact_id LIKE 'jo-%'")}
        assert kinds == {"said", "inferred"}
        again = profile_interviews(store, tmp_path / "interviews", settings, lambda: embedder)
        assert again["profiled"] == 0 and embedder.calls == 2  # unchanged file: no model call
        profile_interviews(store, tmp_path / "interviews", InterestSettings(infer=False), lambda: embedder)
        assert not store.scalar("SELECT COUNT(*) FROM interests WHERE kind = 'inferred'")  # settings changed
        profile_interviews(store, tmp_path / "interviews", settings, lambda: embedder)
        text = describe(store, "jo")
    assert text.startswith("Jo Smith (Acme Freight)")
    assert "[said, weight 1.00, listed in the front matter]" in text
    assert "[inferred, weight 0.80, inferred from the notes]" in text and "why: key phrase" in text
    assert 'notes: "Jo said their warehouse robots' in text


def test_profile_show_on_the_cli(workspace: Path) -> None:
    result = CliRunner().invoke(main, ["--config", str(workspace), "profile", "--show", "priya"])
    assert result.exit_code == 2 and "no store yet" in result.stderr
    from pipeline.config import load

    config = load(workspace)
    with Store(config.paths.store) as store:
        profile_interviews(store, SAMPLE / "interviews")
    result = CliRunner().invoke(main, ["--config", str(workspace), "profile", "--show", "priya"])
    assert result.exit_code == 0, result.output
    assert "Priya Raman" in result.stdout and "cadence overrides: max_per_month 2, min_gap_days 10" in result.stdout
    assert "banned: data team" in result.stdout
