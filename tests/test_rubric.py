"""The draft rubric: each rule caught on its own, and every draft of the sample workspace, in every tone, passing."""

from __future__ import annotations

import dataclasses
import shutil
from typing import Any

import pytest
from conftest import NOW, ROOT, SAMPLE, FakeEmbedder

from pipeline import report, runner
from pipeline.config import Config, load
from pipeline.embed import model_key
from pipeline.interviews import read_interviews
from pipeline.rubric import check
from pipeline.store import Store

NOTES = (
    "Tom spent most of his slot on their move from nightly batch to Kafka. They are replacing database dumps "
    "with change data capture and worry about consumer lag and schema changes breaking downstream consumers."
)
ARTICLE = (
    "Schema Evolution for Event Topics\nBy Ana Lima, October 29, 2026\n\n"
    "A schema registry can reject incompatible changes before they reach production, but only if the topic has "
    "a compatibility mode set deliberately.\nMost teams leave the default and find out during an incident.\n"
    "Teams said that Confluent Schema Registry rejected three breaking changes in the first month of use.\n"
)
QUOTE = (
    "A schema registry can reject incompatible changes before they reach production, but only if the topic has a "
    "compatibility mode set deliberately."
)
TITLE = "Schema Evolution for Event Topics"
GOOD = f"""Hi Tom,

When we spoke on 24 November, you mentioned schema changes breaking downstream consumers, and it has stayed with me.

I just read "{TITLE}" from The Pipeline Post and thought of you:
https://pipeline-post.example/schema-evolution

One line stood out: "{QUOTE}"

All the best,
Kim
"""


def _check(draft: str, **changes: Any) -> list[str]:
    args: dict[str, Any] = {
        "notes": NOTES, "interests": ["schema changes breaking downstream consumers"], "article": ARTICLE,
        "title": TITLE, "name": "Tom Becker", "signature": "Kim",
    }  # fmt: skip
    args.update(changes)
    return check(draft, **args)


def test_a_draft_that_follows_every_rule_passes() -> None:
    assert _check(GOOD) == []


@pytest.mark.parametrize(
    ("old", "new", "rule"),
    [
        ("and it has stayed with me.", 'my notes say "worry about consumer lag".', "cites the notes"),
        (
            "and it has stayed with me.",
            "and that they are replacing database dumps with change data capture.",
            "copies the private notes",
        ),
        ("you mentioned", "he mentioned", "third person"),
        ("you mentioned", "Tom mentioned", "names Tom after the greeting"),
        ("When we spoke on 24 November, you", "When we spoke on 2026-11-24, Tom", "date written as '2026-11-24'"),
        (QUOTE, QUOTE[:60], "not a complete sentence"),
        (QUOTE, "Most teams leave the default and find out during an incident, every single time.", "not in the"),
        (QUOTE, "Most teams leave the default and find out during an incident.", "not a complete sentence"),
        (QUOTE, f"By Ana Lima, October 29, 2026 {QUOTE}", "not a complete sentence"),
        (QUOTE, "Confluent Schema Registry rejected three breaking changes in the first month of use.", "only part"),
        ("me.\n\nI just read", "me.\nI just read", "two paragraphs run together"),
        ("Kim\n", "[your name]\n", "placeholder"),
        ("Hi Tom,", "Hi Interviewer,", "greeting does not name Tom"),
        ("you mentioned", "you mentioned {{ interest.text }} and", "template leftover"),
        ("from The Pipeline", "from  The Pipeline", "stray spacing"),
        ("consumers, and", "consumers., and", "stray spacing or punctuation"),
        ("thought of you:", "thought of them:", "never addresses the person as you"),
    ],
)
def test_each_rule_is_caught(old: str, new: str, rule: str) -> None:
    if new == "thought of them:":  # every "you" gone
        draft = GOOD.replace("you mentioned", "we discussed").replace(old, new)
    else:
        assert old in GOOD
        draft = GOOD.replace(old, new, 1)
    failures = _check(draft)
    assert any(rule in failure for failure in failures), failures


def test_the_signature_placeholder_is_allowed_only_when_no_signature_is_set() -> None:
    unsigned = GOOD.replace("Kim\n", "[your name]\n")
    assert _check(unsigned, signature="") == []
    assert _check(unsigned.replace("you mentioned", "you [mentioned]"), signature="") != []


def test_layout_rules() -> None:
    assert any("blank line" in f for f in _check(GOOD.replace("\n\nI just", "\n\n\nI just")))
    assert any("trailing spaces" in f for f in _check(GOOD.replace("me.\n", "me. \n")))
    assert any("greeting, a body" in f for f in _check("Hi Tom,\nThanks, you were great.\nKim\n"))


def test_an_article_quote_that_echoes_the_notes_is_not_copying_them() -> None:
    echo = "They are replacing database dumps with change data capture and worry about consumer lag every day."
    article = ARTICLE + f"\n{echo}\n"
    draft = GOOD.replace(QUOTE, echo)
    assert _check(draft, article=article) == []
    assert any("copies the private notes" in f for f in _check(draft, article=None))


# -- every draft the sample workspace writes ------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The sample workspace run once (fake embedder) for all tones."""
    target = tmp_path_factory.mktemp("rubric") / "sample"
    shutil.copytree(SAMPLE, target, ignore=shutil.ignore_patterns("interim", "processed"))
    config = load(target / "gifts.toml")
    key = model_key("all-MiniLM-L6-v2", ROOT / "models")
    assert runner.run(config, now=NOW, embedder_factory=lambda: FakeEmbedder(name=key)).status == "ok"
    return config


@pytest.mark.parametrize(("tone", "signature"), [("warm", None), ("formal", None), ("brief", None), ("warm", "Kim")])
def test_every_sample_draft_passes_the_rubric_in_every_tone(
    sample_store: Config, tone: str, signature: str | None
) -> None:
    settings = dataclasses.replace(sample_store.drafts, tone=tone)
    if signature is not None:
        settings = dataclasses.replace(settings, signature=signature)
    config = dataclasses.replace(sample_store, drafts=settings)
    notes = {c.id: i.notes for i in read_interviews(config.paths.interviews) for c in i.contacts}
    with Store(config.paths.store) as store:
        context = report.report_context(store, config, NOW)
        texts = {r["id"]: r["text"] for r in store.query("SELECT id, text FROM documents")}
    checked = quoted = 0
    for card in context["cards"]:
        alone = [d for d in context["due"] if d["contact_id"] == card.contact_id and d["suggestion_id"] is None]
        for draft, row in [(s["draft"], s) for s in card.suggestions] + [(d["draft"], None) for d in alone]:
            failures = check(
                draft,
                notes=notes[card.contact_id],
                interests=[i["text"] for i in card.interests],
                article=texts[row["doc_id"]] if row else None,
                title=row["title"] if row else None,
                name=card.name,
                signature=config.drafts.signature,
            )
            assert failures == [], f"{card.name}, {tone}:\n{draft}\n" + "\n".join(failures)
            checked += 1
            quoted += draft.count('"') == 4  # the title and one sentence of the article
    assert checked >= 5  # the sample's open contacts each have a gift
    assert quoted >= 0.8 * checked  # most gifts have a sentence worth quoting
