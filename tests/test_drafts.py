"""Draft notes: "you", never the private notes; one whole sentence quoted; dates as people write them."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

from pipeline import drafts, rubric
from pipeline.drafts import (
    RETIRED_DEFAULTS,
    Gift,
    article_quotes,
    best_quote,
    environment,
    install_templates,
    mention,
    note,
    quote_problem,
    shape_problem,
    spoken_day,
)
from pipeline.errors import ConfigError

NOTES = (
    "Amara said their discharge-summary assistant scores well on public benchmarks. She also mentioned a model "
    "that quietly got worse after a lab system change, and that nobody noticed the drift for weeks."
)
INTEREST = {"text": "Monitoring deployed models for drift.", "quote": "and that nobody noticed the drift for weeks"}
WHY = "Feature-level drift monitoring now runs daily on every model input, and owners are paged when an assay changes."
GIFT = Gift("Post-Mortem: a Lactate Assay Change", "Clinical AI Review", "https://r.example/a", WHY)
TONES = ("warm", "formal", "brief")
KINDS = ("thank_you", "follow_up")


def _note(env: Any, kind: str = "thank_you", tone: str = "warm", **changes: Any) -> str:
    args: dict[str, Any] = {
        "tone": tone, "signature": "Kim", "name": "Amara Okafor", "company": "Helix Health",
        "position": "ML Engineer", "interview_date": "2026-11-20", "interest": INTEREST, "gift": GIFT,
        "today": dt.date(2026, 11, 21),
    }  # fmt: skip
    args.update(changes)
    return note(env, kind, **args)


def _failures(text: str, **changes: Any) -> list[str]:
    args: dict[str, Any] = {
        "notes": NOTES, "interests": [INTEREST["text"]], "title": GIFT.title, "name": "Amara Okafor",
        "signature": "Kim",
    }  # fmt: skip
    args.update(changes)
    return rubric.check(text, **args)


# -- the notes stay private; the person is "you" ----------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("tone", TONES)
def test_every_note_speaks_to_the_person_through_the_interest_never_the_notes(kind: str, tone: str) -> None:
    text = _note(environment(None), kind, tone)
    assert text.splitlines()[0] in ("Hi Amara,", "Dear Amara,")
    assert "ou mentioned monitoring deployed models for drift" in text  # "You mentioned" or "you mentioned"
    assert "drift." not in text.replace(WHY, "")  # the interest's own full stop is gone
    assert "nobody noticed" not in text and "notes" not in text.lower()
    assert f'"{GIFT.title}"' in text and "Clinical AI Review" in text and "https://r.example/a" in text
    assert f'"{WHY}"' in text
    assert text.rstrip().endswith("Kim")
    assert _failures(text) == []


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("tone", TONES)
def test_without_a_quote_or_an_interest_the_draft_is_shorter_and_still_passes(kind: str, tone: str) -> None:
    env = environment(None)
    bare = _note(env, kind, tone, gift=Gift(GIFT.title, GIFT.source, GIFT.url, ""), interest=None)
    assert '"' + GIFT.title + '"' in bare and bare.count('"') == 2
    assert len(bare) < len(_note(env, kind, tone))
    assert _failures(bare) == []


@pytest.mark.parametrize("tone", TONES)
def test_a_local_file_has_no_publisher_and_is_offered(tone: str) -> None:
    text = _note(environment(None), "follow_up", tone, gift=Gift("On-Call Notes", "", None, ""))
    assert "from ." not in text and "()" not in text and "send it" in text
    assert _failures(text, title="On-Call Notes") == []


def test_tones_differ_and_a_thank_you_can_go_without_a_gift() -> None:
    env = environment(None)
    assert len({_note(env, tone=tone) for tone in TONES}) == 3
    assert _note(env, tone="formal").startswith("Dear Amara,")
    alone = _note(env, gift=None, interest=None, signature="")
    assert "Thank you" in alone and "came across" not in alone and alone.rstrip().endswith("[your name]")
    assert _failures(alone, signature="") == []
    assert any("[your name]" in f for f in _failures(alone, signature="Kim"))


def test_the_position_is_left_out_when_unknown() -> None:
    for tone in TONES:
        text = _note(environment(None), tone=tone, position=None)
        assert "None" not in text and "the  " not in text and "open role" not in text


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("Monitoring deployed models for drift.", "monitoring deployed models for drift"),
        ("Data pipeline reliability;", "data pipeline reliability"),
        ("  growing junior\n engineers  ", "growing junior engineers"),
        ("GDPR and cross-border sharing", "GDPR and cross-border sharing"),
        ("FinOps practice", "FinOps practice"),
        ("LLM-generated summaries", "LLM-generated summaries"),
        ("his team's on-call load", "your team's on-call load"),
        ("She wants mutual TLS everywhere", "you want mutual TLS everywhere"),
        ("he worries about consumer lag", "you worry about consumer lag"),
        ("mentoring juniors under her", "mentoring juniors under you"),
    ],
)
def test_an_interest_reads_well_after_you_mentioned(written: str, said: str) -> None:
    assert mention(written) == said


def test_the_article_says_whether_a_capitalised_first_word_is_a_name() -> None:
    assert mention("Kafka consumer lag", "We moved from nightly batch to Kafka last year.") == "Kafka consumer lag"
    assert mention("Lag in consumers", "Consumer lag grew when the lag alert was muted.") == "lag in consumers"


@pytest.mark.parametrize(
    ("today", "said"),
    [
        (dt.date(2026, 11, 24), "today"),
        (dt.date(2026, 11, 25), "yesterday"),
        (dt.date(2026, 11, 27), "on Tuesday"),  # Friday of the same week
        (dt.date(2026, 11, 30), "last Tuesday"),  # the Monday after
        (dt.date(2026, 12, 10), "on 24 November"),
        (dt.date(2027, 1, 12), "on 24 November 2026"),
        (None, "on 24 November"),
    ],
)
def test_dates_read_as_people_write_them(today: dt.date | None, said: str) -> None:
    assert spoken_day("2026-11-24", today) == said


def test_no_draft_holds_an_iso_date() -> None:
    env = environment(None)
    for kind in KINDS:
        for today in (dt.date(2026, 11, 20), dt.date(2026, 11, 23), dt.date(2027, 3, 1), None):
            text = _note(env, kind, today=today)
            assert "2026-11-20" not in text and "11/20" not in text
            assert _failures(text) == []


# -- the quoted sentence ----------------------------------------------------------------------------

GOOD = [
    "Organizations invest heavily in data quality tooling yet struggle to say whether their pipelines are reliable.",
    "Some spend resists tagging: shared networking, data transfer, support charges, and some managed services.",
    "HIV testing rates rose in every district once the clinics offered results on the same day as the visit.",
    "40% of the teams we spoke with had no owner for a model once it had been deployed to the wards.",
]
BAD = [
    # The three wrong quotes seen in real drafts: a title, byline and date line run into the
    # abstract; a heading run into its first sentence; the tail of a sentence.
    "A Maturity Model for Data Quality Testing... Osvaldo Reinholt, Research Digest: White Papers, October 29, 2026 "
    "Abstract Organizations invest heavily in data quality tooling.",
    "Deal with what cannot be tagged Some spend resists tagging: shared networking, data transfer, support charges.",
    # A capitalised section label run into the sentence, as SciFact abstracts print them.
    "CONCLUSIONS Antibiotic prescriptions for childhood infections in primary care often result from doubt.",
    "OBJECTIVE To assess whether home blood pressure readings lead to better control than readings taken in clinic.",
    # Quotation marks of its own: inside the draft's quote it would read as two quotes.
    '"We had no idea the assay had changed," the lead engineer said, "until the alerts stopped firing entirely."',
    "Clinicians described a 'just in case' habit that parents called \u201creassuring\u201d in most interviews.",
    "and that nobody noticed the drift for weeks after the lab system changed its units without telling anyone.",
    "By Ravi Castellanos and the editors of the journal, with reporting from our correspondents in three cities.",
    "Photo: a nurse checks a deterioration alert on the ward's central monitor during the night shift in March.",
    "Subscribe to our newsletter to get every post about data reliability and incident response in your inbox.",
    "We use cookies to improve your experience of the site and to measure how our articles are being read.",
    "Tool | Price per month | Seats included | Support level | Notes on the integration with existing systems.",
    "- Feature-level drift monitoring now runs daily on the top fifteen model inputs with a manual review.",
    "What we changed - Feature-level drift monitoring now runs daily - The model inventory lists upstream data.",
    "THE DATA QUALITY REPORT found that most teams had no incident process at all for their nightly pipelines.",
    "How Health Systems Actually Monitor Deployed Models: Notes From Fourteen Teams And What They Learned.",
    "Figure 3 shows the population stability index of each input over the twelve weeks after the change.",
    "Feature-level drift monitoring now runs daily on every model input, and owners are paged when it changes",
    "Drift went unnoticed.",
    "Drift " + "went unnoticed for weeks because nobody owned the model " * 6 + "today.",
    "Published October 29, 2026, this review covers the monitoring practice of fourteen hospital systems.",
    "The nightly pipeline failed on 2026-11-14 and nobody noticed the missing rows for a full working day.",
]


@pytest.mark.parametrize("sentence", GOOD)
def test_complete_sentences_of_the_body_are_quotable(sentence: str) -> None:
    assert shape_problem(sentence) is None


@pytest.mark.parametrize("sentence", BAD)
def test_headings_bylines_captions_tables_lists_and_fragments_are_not(sentence: str) -> None:
    assert shape_problem(sentence) is not None


def test_a_list_item_that_names_things_has_no_main_verb() -> None:
    item = "Components embedded in data pipelines, APIs, research extract tools, and exchange interfaces that call it."
    assert shape_problem(item) is None
    assert quote_problem(item) == "no main verb"
    assert quote_problem(GOOD[0]) is None


def test_the_quote_is_the_body_sentence_closest_to_the_interest() -> None:
    article = (
        "Measuring Data Downtime: Metrics and a Cost Model for Pipeline Incidents\n"
        "Osvaldo Reinholt, Research Digest: White Papers, October 29, 2026\n\n"
        "Abstract\n"
        "Data teams are routinely asked to justify investment in reliability, yet few can quantify what it costs.\n"
        "We present a practical method for collecting incident records and a cost model for data downtime.\n\n"
        "Deal with what cannot be tagged\n"
        "Incident response for data pipelines starts with an owner, a runbook and a clear severity scale for every "
        "failure.\n"
        "- Page the owner\n"
        "It was the third release in a row.\n"
    )
    (quote,) = article_quotes([(article, "data pipeline reliability and incident response", None)])
    assert quote.startswith("Incident response for data pipelines starts with an owner")
    assert quote_problem(quote) is None
    # Nothing in the article shares a word with the interest: no quote at all, never a fragment.
    assert article_quotes([(article, "hospital staffing", None)]) == [""]
    assert article_quotes([("", "anything", None)]) == [""]


def test_a_sentence_of_the_best_passage_wins_a_tie_and_rarer_shared_words_beat_common_ones() -> None:
    first = "Monitoring dashboards for deployed systems are reviewed by the platform team each Monday morning."
    second = "Monitoring of deployed systems is owned by the team that built them, not by a central platform group."
    assert best_quote([first, second], "monitoring deployed systems") == second  # nearer 22 words
    assert best_quote([first, second], "monitoring deployed systems", passage="... " + first + " ...") == first
    common = "The data team shipped a new data catalogue this quarter and asked every data owner to fill it in."
    rare = "Streaming pipelines differ from request-response services in that overload is often silent and slow."
    other = "The data warehouse holds the raw data of every source, and each data model is rebuilt every night."
    assert best_quote([common, rare, other], "stream processing data") == rare


# -- templates you own --------------------------------------------------------------------------------


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


def test_an_unedited_copy_of_a_retired_default_is_brought_up_to_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_templates(tmp_path / "templates")
    old = tmp_path / "templates" / "notes" / "thank_you.txt.j2"
    old.write_text('{% if interest and interest.quote %}my notes say "{{ interest.quote }}"{% endif %}Hi\n')
    assert install_templates(tmp_path / "templates") == []  # the user's edit: kept
    # A template written for the first release still renders, and the notes it asks for are not given.
    assert _note(environment(tmp_path / "templates")) == "Hi\n"
    monkeypatch.setattr(drafts, "RETIRED_DEFAULTS", frozenset({hashlib.sha256(old.read_bytes()).hexdigest()}))
    assert install_templates(tmp_path / "templates") == [old]
    assert "my notes" not in old.read_text(encoding="utf-8")


def test_the_sample_workspace_holds_the_current_default_templates() -> None:
    for name in ("thank_you.txt.j2", "follow_up.txt.j2"):
        shipped = (ROOT / "pipeline" / "templates" / "notes" / name).read_bytes()
        assert (ROOT / "data" / "sample" / "templates" / "notes" / name).read_bytes() == shipped
        assert hashlib.sha256(shipped).hexdigest() not in RETIRED_DEFAULTS


def test_an_article_segmented_once_is_not_parsed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store keeps each article's sentences: a later report or review page quotes from them."""
    from pipeline import drafts, language
    from pipeline.store import Store

    text = (
        "Consumer lag grows quietly when partitions rebalance during a deploy and nobody watches the dashboards. "
        "The team added alerts on lag per partition and the incidents stopped within a month of the change."
    )
    item = [(text, "consumer lag in Kafka", None)]
    with Store(tmp_path / "gifts.sqlite") as store:
        drafts._SEGMENTED.clear()
        first = drafts.article_quotes(item, cache=store)
        drafts._SEGMENTED.clear()  # another process: nothing in memory

        def parse_again(*_args: object, **_kwargs: object) -> list[list[str]]:
            raise AssertionError("parsed again")

        monkeypatch.setattr(language, "sentences_many", parse_again)
        assert drafts.article_quotes(item, cache=store) == first
    assert first[0].startswith("Consumer lag grows quietly")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("tone", TONES)
def test_a_title_with_quotation_marks_of_its_own_is_quoted_with_single_marks_inside(kind: str, tone: str) -> None:
    """Seen on a held-out evaluation: `Vitamin D: The "sunshine" vitamin.` read as three broken quotations."""
    titled = [
        ('Vitamin D: The "sunshine" vitamin.', "'sunshine'"),
        ("The \u201cquiet\u201d drift", "\u2018quiet\u2019"),
    ]
    for title, inner in titled:
        gift = Gift(title, GIFT.source, GIFT.url, WHY)
        text = _note(environment(None), kind, tone, gift=gift)
        assert inner in text
        assert _failures(text, title=title) == []
        # Without the nesting the rubric sees the broken quotations (the check can fail).
        raw = text.replace(drafts.nested(title), title)
        assert _failures(raw, title=title)


def test_a_headline_the_page_repeats_as_its_first_sentence_is_not_quoted_as_its_key_line() -> None:
    """Seen on a held-out evaluation: the key line of a draft was the article's own title."""
    title = "Patent ductus arteriosus: are current neonatal treatment options better or worse than no treatment at all?"
    body = "Treating a patent duct in very premature infants has not reduced death or lung disease in trials."
    article = f"{title}\n\n{body}"
    interest = "patent ductus arteriosus in preterm babies"
    assert article_quotes([(article, interest, None)]) == [title]  # without the title, the headline wins
    assert article_quotes([(article, interest, None)], titles=[title]) == [body]
    assert best_quote([title], interest, title=title.upper()) == ""  # the same words, whatever the case


@pytest.mark.parametrize("tone", TONES)
def test_the_rubric_refuses_a_draft_whose_key_line_is_the_title(tone: str) -> None:
    title = "Why Deployed Clinical Models Degrade Quietly and Which Signals Each Hospital Team Should Review Daily"
    text = _note(environment(None), "follow_up", tone, gift=Gift(title, GIFT.source, GIFT.url, title))
    assert "the title is quoted again as a line of the article" in _failures(text, title=title)
    assert (
        _failures(
            _note(environment(None), "follow_up", tone, gift=Gift(title, GIFT.source, GIFT.url, WHY)), title=title
        )
        == []
    )
