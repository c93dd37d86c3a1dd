"""The profile stage: interviews, listed, pinned and inferred interests in the store, ban and pin, and --show."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from conftest import SAMPLE, FakeEmbedder

from pipeline.cli import main
from pipeline.config import InterestSettings
from pipeline.contacts import describe
from pipeline.interviews import parse_interview
from pipeline.keyphrases import infer_interests
from pipeline.profile import profile_interviews
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


def test_a_store_inferred_by_another_method_or_blind_to_your_name_is_inferred_again(tmp_path: Path) -> None:
    _interview(tmp_path, NOTES.replace("interview loops.", "interview loops with Kim Lee and the Kim Lee platform."))
    settings = InterestSettings(min_similarity=0.0)
    with Store(tmp_path / "gifts.sqlite") as store:
        profile_interviews(store, tmp_path / "interviews", settings, FakeEmbedder)
        inferred = [r["text"] for r in store.query("SELECT text FROM interests WHERE kind = 'inferred'")]
        assert any("Kim Lee" in t for t in inferred)  # nobody said Kim Lee is the candidate
        again = profile_interviews(store, tmp_path / "interviews", settings, FakeEmbedder, candidate="Kim Lee")
        assert again["profiled"] == 1
        inferred = [r["text"] for r in store.query("SELECT text FROM interests WHERE kind = 'inferred'")]
        assert inferred and not [t for t in inferred if "Kim" in t or "Lee" in t]
        store.set_meta("profile_settings", repr(settings))  # as the n-gram method stored it
        assert profile_interviews(store, tmp_path / "interviews", settings, FakeEmbedder, "Kim Lee")["profiled"] == 1


def test_the_readme_excerpt_of_profile_show_is_what_the_sample_prints(tmp_path: Path, real_embedder) -> None:  # type: ignore[no-untyped-def]
    from conftest import ROOT

    from pipeline.config import load

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = readme.index("`gifts profile --show tom` prints")
    block = readme[readme.index("```text\n", command) + 8 : readme.index("```", readme.index("```text\n", command) + 8)]
    excerpt = [line.strip() for line in block.splitlines() if line.strip()]
    config = load(SAMPLE / "gifts.toml")
    with Store(tmp_path / "gifts.sqlite") as store:
        profile_interviews(
            store, SAMPLE / "interviews", config.interests, lambda: real_embedder, candidate=config.drafts.signature
        )
        shown = [line.strip() for line in describe(store, "tom").splitlines()]
    start = shown.index(excerpt[0]) if excerpt[0] in shown else -1
    assert start >= 0 and shown[start : start + len(excerpt)] == excerpt, "\n".join(shown)
