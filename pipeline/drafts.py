"""Draft notes in the candidate's voice: a thank-you and a follow-up, from Jinja2 templates.

The defaults ship in `pipeline/templates/notes/`; a workspace gets its own copies under
`templates/notes/` the first time a report is written, and its copies win from then on. Drafts are
text for the user to edit and send; nothing is ever sent from here.

What every draft holds to (pipeline/rubric.py checks it): the interviewer is addressed in the
second person through the interest as the candidate wrote it, never through the private notes
(templates are not given them); the article is quoted by one complete sentence of its body, or
not at all; dates read as people write them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import importlib.resources
import itertools
import math
import re
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jinja2

from pipeline.errors import ConfigError
from pipeline.retrieval import WORD, stems

TEMPLATES = {"thank_you": "thank_you.txt.j2", "follow_up": "follow_up.txt.j2"}
# SHA-256 of the default templates of earlier releases. A workspace copy still equal to one of them
# was never edited, so it is replaced by the current default (those pasted the private notes).
RETIRED_DEFAULTS = frozenset(
    {
        "0fe0f93f2d8041b9e23e91716227aa5486072d2a57ef75f9e172dc3f4d1c257e",  # thank_you, first release
        "d27f14ab081dda491023891d747e616afffd6fbff1cb26e2a0ffa7bfb02188bc",  # follow_up, first release
    }
)
QUOTE_MIN_WORDS = 12
QUOTE_MAX_WORDS = 40


# A quotation inside a quotation takes single marks: the title `Vitamin D: The "sunshine" vitamin.`
# quoted in a draft reads "Vitamin D: The 'sunshine' vitamin.", not as three quotations.
_NESTED = str.maketrans({'"': "'", "\u201c": "\u2018", "\u201d": "\u2019"})


def nested(text: str) -> str:
    """`text` as it reads inside double quotation marks: its own double marks become single ones."""
    return text.translate(_NESTED)


@dataclass(frozen=True, slots=True)
class Gift:
    title: str
    source: str
    url: str | None
    why: str  # one complete sentence of the article about the interest, or "" when none qualifies


def install_templates(folder: Path) -> list[Path]:
    """Copy the default note templates into `folder/notes/` where absent; never overwrite the user's.

    A copy byte-for-byte equal to a retired default (RETIRED_DEFAULTS) is not the user's work and
    is brought up to date. Returns the files written.
    """
    target = folder / "notes"
    copied = []
    defaults = importlib.resources.files("pipeline").joinpath("templates", "notes")
    for name in TEMPLATES.values():
        path = target / name
        if path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() not in RETIRED_DEFAULTS:
            continue
        target.mkdir(parents=True, exist_ok=True)
        path.write_text(defaults.joinpath(name).read_text(encoding="utf-8"), encoding="utf-8")
        copied.append(path)
    return copied


def environment(folder: Path | None) -> jinja2.Environment:
    """Templates from the workspace's `templates/notes/` first, then the packaged defaults.

    Plain text, no autoescape: a draft is pasted into an e-mail; the HTML report escapes it.
    """
    loaders: list[jinja2.BaseLoader] = []
    if folder is not None:
        loaders.append(jinja2.FileSystemLoader(folder / "notes"))
    loaders.append(jinja2.PackageLoader("pipeline", "templates/notes"))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=False,  # noqa: S701 -- plain-text e-mail drafts; the HTML report escapes them
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


# -- the sentence quoted from the article ---------------------------------------------------------------

_WORD = WORD
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_MONTH = rf"(?:{_MONTHS}|(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?)"
# A full date is how a byline or a date line reads ("October 29, 2026", "29 Oct 2026"); a sentence
# worth quoting never needs one. ISO and numeric dates are refused in a quote and anywhere in a note.
DATE = re.compile(rf"\b(?:{_MONTH} \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}|\d{{1,2}} {_MONTH},? \d{{4}})\b")
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b")
_BYLINE = re.compile(r"^(?:By|Written by|Posted by|Published|Updated|Posted)\s+[A-Z0-9]")
_HEADING_START = re.compile(
    r"^(?:Abstract|Introduction|Summary|Conclusions?|Background|Methods?|Results|Discussion|Overview|Keywords"
    r"|Key takeaways|TL;DR|Table \d+|Figure \d+|Fig\. ?\d+)\b",
    flags=re.I,
)
# A section label in capitals run into the sentence it heads ("CONCLUSIONS Antibiotic prescriptions ...",
# "OBJECTIVE To assess ..."), as abstracts print them: an all-caps word of four letters or more and
# then a capitalised one. (An acronym that starts a sentence is followed by a lower-case word.)
_CAPS_LABEL = re.compile(r"^[A-Z]{4,}:?\s+[A-Z][a-z]")
_BOILERPLATE = re.compile(
    r"\b(?:photo|image|picture|credit|caption|illustration)s?\s*:|\b(?:photo|image) credits?\b"
    r"|\bsubscri(?:be|ption)\b|\bcookies?\b"
    r"|\bnewsletter\b|\bsign up\b|\blog in\b|\ball rights reserved\b|\bcopyright\b|©|\bclick here\b|\bread more\b"
    r"|\bshare this\b|https?://|\bwww\.|\S@\S",
    flags=re.I,
)
_LIST_START = re.compile(r"^(?:[-\u2022*\u2013\u00b7>#]|\d+[.)]\s|[a-z][.)]\s)")
_LIST_INSIDE = re.compile(r"\s[-\u2022*\u2013\u00b7]\s+[A-Z0-9]|\u2022")
_CAPS_RUN = re.compile(r"\b[A-Z]{2,}(?:[\s,:]+[A-Z]{2,}){2,}\b")
_ENDS = re.compile(r"[.!?][\"\u201d\u2019')]?$")
_OPENING = "\"\u201c\u2018'("
# Words capitalised only when they start a sentence: one in mid-sentence, after a word with no
# punctuation, is where a heading ran into the text ("Deal with what cannot be tagged Some spend ...").
_STARTERS = frozenset(
    "The This These That Those Some Our We It Its In For But And What How Why When If Each Every Most Many"
    " They There Here Your You".split()
)
# Openers that lean on the sentence before; quoted alone they read as out of context.
_ANAPHORIC = frozenset(
    "It Its This These That Those They Their He She His Her Such Both Also However But And So Then Instead".split()
)
TITLE_CASE_SHARE = 0.3


def quote_problem(sentence: str, models_dir: Path | None = None) -> str | None:
    """Why `sentence` cannot be quoted as a complete sentence of an article's body; None when it can.

    A quotable sentence has the shape of one (`shape_problem`) and a verb at its root, so a list
    item or a caption that only names things ("Components embedded in ...") is not one.
    """
    return shape_problem(sentence) or (None if _has_main_verb(sentence, models_dir) else "no main verb")


def _has_main_verb(sentence: str, models_dir: Path | None = None) -> bool:
    from pipeline import language

    return any(t.dep_ == "ROOT" and t.pos_ in ("VERB", "AUX") for t in language.pipeline(models_dir)(sentence))


def shape_problem(sentence: str) -> str | None:
    """Why `sentence` does not have the shape of a quotable sentence; None when it has (no model needed).

    It has 12 to 40 words, starts like a sentence (a capital, a digit or an opening quote) and
    ends like one (. ! ? with an optional closing quote), and is not a heading, byline, date line,
    caption, table row, list fragment or site boilerplate.
    """
    words = sentence.split()
    if not QUOTE_MIN_WORDS <= len(words) <= QUOTE_MAX_WORDS:
        return f"{len(words)} words, not {QUOTE_MIN_WORDS} to {QUOTE_MAX_WORDS}"
    bare = sentence.lstrip(_OPENING)
    if not bare or not (bare[0].isupper() or bare[0].isdigit()):
        return "does not start a sentence"
    if sentence.endswith(("...", "\u2026")) or not _ENDS.search(sentence):
        return "does not end a sentence"
    if DATE.search(sentence) or ISO_DATE.search(sentence):
        return "holds a date line"
    if _BYLINE.match(bare):
        return "a byline"
    if _HEADING_START.match(bare) or _CAPS_LABEL.match(bare):
        return "starts with a heading"
    if "|" in sentence or "\t" in sentence:
        return "a table row"
    if _LIST_START.match(sentence) or _LIST_INSIDE.search(sentence):
        return "a list fragment"
    if _BOILERPLATE.search(sentence):
        return "boilerplate (caption, credit, subscription, link)"
    if _CAPS_RUN.search(sentence):
        return "an all-caps run"
    capitalised = sum(1 for w in words[1:] if w.lstrip(_OPENING)[:1].isupper())
    if capitalised > TITLE_CASE_SHARE * (len(words) - 1):
        return "title case, like a heading"
    for before, word in itertools.pairwise(words):
        if word in _STARTERS and before[-1].isalnum():
            return f"a heading runs into it (before {word!r})"
    if sentence.count("(") != sentence.count(")"):
        return "unbalanced brackets"
    # The draft puts the sentence in double quotes: one holding its own would read as two quotes
    # (and a quote ending mid-sentence), and changing its marks would no longer quote the article.
    if any(mark in sentence for mark in '"\u201c\u201d'):
        return "holds quotation marks of its own"
    return None


def _same_words(a: str, b: str) -> bool:
    return bool(a.strip()) and re.findall(r"\w+", a.lower()) == re.findall(r"\w+", b.lower())


def best_quote(
    sentences: Sequence[str],
    interest: str,
    passage: str | None = None,
    models_dir: Path | None = None,
    title: str = "",
) -> str:
    """The quotable sentence (see `quote_problem`) that best matches `interest`, or "" when none shares a word.

    A sentence that only repeats `title` (a page whose text opens with its headline) is not a line of
    the article: the draft names the title already.

    Scored by the stemmed content words it shares with the interest (the lexical ranking's terms);
    a sentence inside the best passage (the one the embedding model matched) counts half a word
    more, one that leans on the sentence before ("It", "This", "However") half a word less. Ties
    go to the sentence whose shared words are rarer in the article (its own topic words, not
    "data" or "team"), then to a length near 22 words, then to the earlier sentence.
    """
    wanted = stems(interest)
    near = " ".join((passage or "").split())
    found = [stems(sentence) & wanted for sentence in sentences]
    frequency = Counter(word for words in found for word in words)
    ranked = []
    for position, (sentence, shared) in enumerate(zip(sentences, found, strict=True)):
        if not shared or shape_problem(sentence) is not None or _same_words(sentence, title):
            continue
        first = sentence.lstrip(_OPENING).split(maxsplit=1)[0].rstrip(",")
        score = len(shared) + (0.5 if sentence in near else 0.0) - (0.5 if first in _ANAPHORIC else 0.0)
        rarity = sum(math.log(1 + len(sentences) / frequency[word]) for word in shared)
        ranked.append(((score, rarity, -abs(len(sentence.split()) - 22), -position), sentence))
    ranked.sort(reverse=True)
    # The parser only reads the best few: a sentence is checked for a verb when it would be quoted.
    return next((sentence for _, sentence in ranked if _has_main_verb(sentence, models_dir)), "")


class SentenceCache(Protocol):
    """Where segmented articles are kept between processes (the store's `sentences` table)."""

    def sentences(self, shas: Iterable[str]) -> dict[str, list[str]]: ...

    def put_sentences(self, items: Iterable[tuple[str, list[str]]]) -> None: ...


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def article_quotes(
    items: Sequence[tuple[str, str, str | None]],
    models_dir: Path | None = None,
    cache: SentenceCache | None = None,
    titles: Sequence[str] | None = None,
) -> list[str]:
    """For each (article text, interest, best passage): the sentence to quote, or "" (see `best_quote`).

    `titles`, aligned with `items`, are the articles' titles, which are never quoted as their lines.

    Each distinct text is segmented once, in one batch, by the language model (pipeline.language);
    with a `cache`, a text segmented by an earlier report or review page is not parsed again.
    """
    unique = list(dict.fromkeys(text for text, _, _ in items))
    parsed: dict[str, list[str]] = {}
    if cache is not None:
        by_sha = {_sha(text): text for text in unique}
        parsed = {by_sha[sha]: found for sha, found in cache.sentences(by_sha).items()}
    todo = [text for text in unique if text not in parsed]
    fresh = dict(zip(todo, article_sentences(todo, models_dir), strict=True))
    if cache is not None and fresh:
        cache.put_sentences((_sha(text), found) for text, found in fresh.items() if text.strip())
    parsed.update(fresh)
    named = titles if titles is not None else [""] * len(items)
    return [
        best_quote(parsed[text], interest, passage, models_dir, title)
        for (text, interest, passage), title in zip(items, named, strict=True)
    ]


_SEGMENTED: OrderedDict[tuple[Path | None, str], list[str]] = OrderedDict()
SEGMENTED_KEPT = 1024  # articles whose sentences stay in memory (a review app reloads its page often)


def article_sentences(texts: Sequence[str], models_dir: Path | None = None) -> list[list[str]]:
    """The sentences of each text (pipeline.language), parsing only those not segmented recently."""
    from pipeline import language

    missing = list(dict.fromkeys(t for t in texts if t.strip() and (models_dir, t) not in _SEGMENTED))
    for text, found in zip(missing, language.sentences_many(missing, models_dir) if missing else [], strict=True):
        _SEGMENTED[(models_dir, text)] = found
    out = []
    for text in texts:
        key = (models_dir, text)
        if key in _SEGMENTED:
            _SEGMENTED.move_to_end(key)
        out.append(_SEGMENTED.get(key, []))
    while len(_SEGMENTED) > SEGMENTED_KEPT:
        _SEGMENTED.popitem(last=False)
    return out


# -- how the interest and the day read in a note ---------------------------------------------------------

_COMMON_SUFFIXES = ("ing", "tion", "sion", "ment", "ity", "ness", "ance", "ence", "ism", "ics", "ship", "ure")


def mention(text: str, article: str = "") -> str:
    """An interest as it reads after "you mentioned": one line, no closing punctuation, and the
    first letter lowercased unless the first word is a name or an acronym.

    Whether a capitalised first word is a name: an acronym or a word with a digit is; otherwise the
    article decides when it uses the word (lowercase somewhere: a common word; capitalised in
    mid-sentence only: a name), then the word's ending (-ing, -tion ...: a common word), then
    the language model's part of speech.
    """
    text = _to_second_person(" ".join(text.split()).rstrip(" .;:,!?"))
    first = text.split(" ", 1)[0].rstrip(",;:") if text else ""
    if not first[:1].isupper() or _is_name(first, article):
        return text
    return text[0].lower() + text[1:]


_THIRD_PERSON = re.compile(r"\b(?:he|she|him|his|her|hers|himself|herself)\b", flags=re.I)
_SECOND_PERSON = {"PRP$": "your", "his": "your", "hers": "yours", "himself": "yourself", "herself": "yourself"}
_AGREE = {"is": "are", "was": "were", "has": "have", "does": "do", "'s": "'re"}


def _to_second_person(text: str) -> str:
    """An interest written about the person ("his team's on-call load", "she wants X") as said to
    them ("your team's on-call load", "you want X"); text without he/she/his/her is returned as is."""
    if not _THIRD_PERSON.search(text):
        return text
    from pipeline import language

    out: list[str] = []
    subject = False
    for token in language.pipeline()(text):
        word, lower = token.text, token.text.lower()
        if _THIRD_PERSON.fullmatch(word):
            new = _SECOND_PERSON.get(token.tag_ if lower == "her" else lower, "you")
            subject = lower in ("he", "she")
        elif subject and token.tag_ == "VBZ":
            new = _base_form(word)
            subject = False
        else:
            new, subject = word, subject and token.pos_ == "ADV"  # "she really wants"
        if word[:1].isupper():
            new = new[:1].upper() + new[1:]
        out.append(new + token.whitespace_)
    return "".join(out)


def _base_form(verb: str) -> str:
    """wants -> want, worries -> worry, watches -> watch, is -> are: the verb after "you"."""
    lower = verb.lower()
    if lower in _AGREE:
        return _AGREE[lower]
    if lower.endswith("ies") and len(lower) > 4:
        return verb[:-3] + "y"
    if lower.endswith(("ches", "shes", "sses", "xes", "zes", "oes")):
        return verb[:-2]
    return verb[:-1] if lower.endswith("s") else verb


def _is_name(word: str, article: str) -> bool:
    if sum(c.isupper() for c in word) > 1 or any(c.isdigit() for c in word):
        return True
    head = re.split(r"[-'\u2019]", word)[0]
    if article:
        if re.search(rf"\b{re.escape(head.lower())}\b", article):
            return False
        if re.search(rf"[a-z,] {re.escape(head)}\b", article):
            return True
    if head.lower().endswith(_COMMON_SUFFIXES):
        return False
    from pipeline import language

    return bool(language.pipeline()(word)[0].pos_ == "PROPN")


def human_day(iso: str, today: dt.date | None = None) -> str:
    """2026-11-24 -> 24 November; the year is added when it is not `today`'s year."""
    day = dt.date.fromisoformat(iso[:10])
    year = f" {day.year}" if today is not None and day.year != today.year else ""
    return f"{day.day} {day.strftime('%B')}{year}"


def spoken_day(iso: str, today: dt.date | None = None) -> str:
    """When a day was, as a person writes it: "today", "yesterday", "on Tuesday" earlier this week,
    "last Friday" in the week before (up to six days ago), else "on 24 November" (see `human_day`);
    without `today`, always the date."""
    day = dt.date.fromisoformat(iso[:10])
    if today is None or not 0 <= (today - day).days <= 6:
        return f"on {human_day(iso, today)}"
    ago = (today - day).days
    if ago <= 1:
        return ("today", "yesterday")[ago]
    same_week = day.isocalendar()[:2] == today.isocalendar()[:2]
    return f"{'on' if same_week else 'last'} {day.strftime('%A')}"


def note(
    env: jinja2.Environment,
    kind: str,
    *,
    tone: str,
    signature: str,
    name: str,
    company: str,
    position: str | None,
    interview_date: str,
    interest: Mapping[str, Any] | None,
    gift: Gift | None,
    today: dt.date | None = None,
    article: str = "",
) -> str:
    """One draft note; `kind` is thank_you or follow_up (a follow-up needs a gift).

    Templates get the interest's text as `mention` writes it, never the notes it came from (its
    `quote` and `snippet` are None), and the interview's day both as `day` (24 November) and as
    `when` (yesterday, on Tuesday, on 24 November: relative to `today`).

    Args:
        today: the day the draft is written for; None writes every date as a date.
        article: the gift's text, which tells whether the interest's first word is a name.

    Raises:
        ConfigError: when the workspace's template does not render, naming the template.
    """
    if kind not in TEMPLATES:
        raise ValueError(f"unknown note kind {kind!r}")
    name_ = TEMPLATES[kind]
    said = None
    if interest and str(interest.get("text") or "").strip():
        said = {"text": mention(str(interest["text"]), article), "quote": None, "snippet": None}
    try:
        text = env.get_template(name_).render(
            tone=tone,
            signature=signature.strip(),
            first_name=name.split()[0],
            name=name,
            company=company,
            position=position or "",
            day=human_day(interview_date, today),
            when=spoken_day(interview_date, today),
            interest=said,
            gift=None if gift is None else dataclasses.replace(gift, title=nested(gift.title)),
        )
    except jinja2.TemplateError as exc:
        where = getattr(exc, "filename", None) or name_
        line = getattr(exc, "lineno", None)
        raise ConfigError(f"{where}{f':{line}' if line else ''}: draft template: {exc.message}") from None
    lines = "\n".join(line.rstrip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", lines).strip() + "\n"
