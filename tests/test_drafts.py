"""Draft notes: first name, the quoted interest, the article and its source, one sentence of why; templates you own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.drafts import Gift, environment, install_templates, note, relevance_sentence
from pipeline.errors import ConfigError

PASSAGE = (
    "... upstream teams. What we changed. Feature-level drift monitoring now runs daily on every model input, "
    "and owners are paged when a lab assay changes. Budgets were also discussed at length"
)
INTEREST = {"text": "monitoring deployed models for drift", "quote": "nobody noticed the drift for weeks"}
GIFT = Gift("Post-Mortem: a Lactate Assay Change", "Clinical AI Review", "https://r.example/a", "It monitors drift.")


def _note(env: Any, kind: str = "thank_you", tone: str = "warm", **changes: Any) -> str:
    args: dict[str, Any] = {
        "tone": tone, "signature": "Kim", "name": "Amara Okafor", "company": "Helix Health",
        "position": "ML Engineer", "interview_date": "2026-11-20", "interest": INTEREST, "gift": GIFT,
    }  # fmt: skip
    args.update(changes)
    return note(env, kind, **args)


def test_relevance_sentence_is_the_passage_sentence_about_the_interest() -> None:
    why = relevance_sentence(PASSAGE, INTEREST["text"], INTEREST["quote"])
    assert why.startswith("Feature-level drift monitoring now runs daily")
    assert relevance_sentence("") == ""
    long = relevance_sentence("Drift " + "word " * 80 + "end.", "drift")
    assert long.endswith("...") and len(long.split()) <= 47


@pytest.mark.parametrize("kind", ["thank_you", "follow_up"])
@pytest.mark.parametrize("tone", ["warm", "formal", "brief"])
def test_every_note_has_the_first_name_quote_article_source_and_why(kind: str, tone: str) -> None:
    text = _note(environment(None), kind, tone)
    assert "Amara" in text.splitlines()[0] and "Okafor" not in text.splitlines()[0]
    assert '"nobody noticed the drift for weeks"' in text
    assert "Post-Mortem: a Lactate Assay Change" in text and "Clinical AI Review" in text
    assert '"It monitors drift."' in text and "https://r.example/a" in text
    assert text.rstrip().endswith("Kim")


def test_tones_differ_and_a_thank_you_can_go_without_a_gift() -> None:
    env = environment(None)
    assert len({_note(env, tone=tone) for tone in ("warm", "formal", "brief")}) == 3
    assert _note(env, tone="formal").startswith("Dear Amara,")
    alone = _note(env, gift=None, interest=None, signature="")
    assert "Thank you" in alone and "came across" not in alone and "[your name]" in alone


def test_workspace_templates_are_installed_once_and_override_the_defaults(tmp_path: Path) -> None:
    copied = install_templates(tmp_path / "templates")
    assert sorted(p.name for p in copied) == ["follow_up.txt.j2", "thank_you.txt.j2"]
    mine = tmp_path / "templates" / "notes" / "thank_you.txt.j2"
    mine.write_text("Yo {{ first_name }}! {{ gift.title }}\n", encoding="utf-8")
    assert install_templates(tmp_path / "templates") == []  # never overwrites
    assert _note(environment(tmp_path / "templates")) == "Yo Amara! Post-Mortem: a Lactate Assay Change\n"
    mine.write_text("{{ no_such_variable }}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"thank_you\.txt\.j2"):
        _note(environment(tmp_path / "templates"))
