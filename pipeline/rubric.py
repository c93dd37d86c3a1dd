"""The draft rubric: what a draft note must hold to for a candidate to send it unedited.

`check` returns one line per rule a draft breaks; the tests run it over every draft the sample
workspace writes, in every tone, and the evaluation benchmark counts its failures.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from pipeline.drafts import ISO_DATE, article_sentences, nested, quote_problem
from pipeline.interviews import sentences as notes_sentences

NOTES_RUN = 6  # this many words in a row shared with the notes is copying them
SIGNATURE_PLACEHOLDER = "[your name]"
_QUOTED = re.compile(r"\"([^\"\n]+)\"|\u201c([^\u201d\n]+)\u201d")
_WORDS = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
_MY_NOTES = re.compile(
    r"\bmy (?:interview )?notes\b|\bnotes (?:say|said)\b|\bI (?:noted|wrote down|jotted down)\b", flags=re.I
)
_THIRD_PERSON = re.compile(r"\b(?:he|she|him|his|her|hers|himself|herself)\b", flags=re.I)
_SECOND_PERSON = re.compile(r"\b(?:you|your|yours|yourself)\b", flags=re.I)
_PLACEHOLDER = re.compile(
    r"\[[^\]\n]*\]|\{\{|\}\}|\{%|%\}|\bTODO\b|\bTBD\b|\bXXX\b|(?<=[a-z,] )None\b|\bInterviewer\b|<[a-z ]+>"
    r"|\bLorem\b"
)
_URL_LINE = re.compile(r"^https?://\S+$")
_TYPOGRAPHY = re.compile(r"  |\s[,.;:!?](?:\s|$)|[,;:.][,;:]|[,;:]\.|(?<!\.)\.\.(?!\.)|\(\s|\s\)")


def check(
    draft: str,
    *,
    notes: str = "",
    interests: Sequence[str] = (),
    article: str | None = None,
    title: str | None = None,
    name: str | None = None,
    signature: str = "",
    models_dir: Path | None = None,
) -> list[str]:
    """Every rule `draft` breaks, as "rule: what was found"; an empty list when it can be sent as it is.

    Rules: the notes are not copied (no run of NOTES_RUN words of a notes sentence outside the
    candidate's own interest texts and text quoted from `article`) and never cited ("my notes");
    the person is addressed in the second person (you, your; no he/she/his/her outside quotes,
    their name only in the greeting); the title is quoted once, never again as the key line; each
    quoted text other than the title is one complete sentence of the article as the segmenter cuts
    it, of 12 to 40 words, with no heading, byline, date line or list in it (drafts.quote_problem);
    no ISO or numeric dates; a greeting line, body paragraphs separated by blank lines (a line break
    inside one only before a link on its own line) and a sign-off; no placeholders ([...], template
    syntax, "None", "Interviewer"), except SIGNATURE_PLACEHOLDER as the last line when `signature`
    is empty, the setting that asks for it; no doubled spaces or stray punctuation.

    Args:
        notes: the interview's notes (the text after its front matter).
        interests: the person's interests as the candidate wrote them: echoing them is not copying notes.
        article: the quoted article's text; None skips the quote's presence check.
        title: the article's title, the one quoted text that is not a sentence of it.
        name: the person's full name.
        signature: the drafts.signature setting the draft was written with.
    """
    failures: list[str] = []
    text = draft.strip()
    quotes = [a or b for a, b in _QUOTED.findall(text)]
    named = " ".join(nested(title).split()) if title is not None else None
    titled = [q for q in quotes if " ".join(q.split()) == named]
    quoted_sentences = [q for q in quotes if " ".join(q.split()) != named]
    outside = _QUOTED.sub('""', text)

    flat = " ".join(article.split()) if article else ""
    from_article = [q for q in quoted_sentences if flat and " ".join(q.split()) in flat]
    failures += _copied_notes(text, notes, [*interests, *from_article])
    failures += [f"cites the notes: {m.group()!r}" for m in _MY_NOTES.finditer(text)]
    failures += _person(text, outside, name)
    failures += _quotes(quoted_sentences, article, models_dir)
    if len(titled) > 1:
        failures.append("the title is quoted again as a line of the article")
    for found in ISO_DATE.findall(text):
        failures.append(f"a date written as {found!r}, not as people write it")
    failures += _layout(draft)
    failures += _placeholders(text, signature)
    for found in _TYPOGRAPHY.findall(outside):
        failures.append(f"stray spacing or punctuation: {found!r}")
    return failures


def _words(text: str) -> list[str]:
    return [w.lower().replace("\u2019", "'") for w in _WORDS.findall(text)]


def _copied_notes(text: str, notes: str, allowed: Sequence[str]) -> list[str]:
    """Runs of NOTES_RUN words (or a whole sentence of 4 or 5) of the notes found in the draft."""
    words = _words(text)
    kept = [True] * len(words)
    for phrase in allowed:  # the candidate's own interest texts and the article's sentence
        span = _words(phrase)
        for start in range(len(words) - len(span) + 1):
            if span and words[start : start + len(span)] == span:
                kept[start : start + len(span)] = [False] * len(span)
    runs: set[tuple[str, ...]] = set()
    for size in range(4, NOTES_RUN + 1):
        runs |= {tuple(words[i : i + size]) for i in range(len(words) - size + 1) if all(kept[i : i + size])}
    failures = []
    for sentence in notes_sentences(notes):
        said = _words(sentence)
        size = min(NOTES_RUN, len(said))
        if size < 4:
            continue
        if any(tuple(said[i : i + size]) in runs for i in range(len(said) - size + 1)):
            failures.append(f"copies the private notes: {sentence!r}")
    return failures


def _person(text: str, outside: str, name: str | None) -> list[str]:
    lines = text.splitlines()
    failures = []
    if not _SECOND_PERSON.search(outside):
        failures.append("never addresses the person as you")
    for found in sorted({m.group() for m in _THIRD_PERSON.finditer(outside)}):
        failures.append(f"speaks of the person in the third person: {found!r}")
    if name:
        first = name.split()[0]
        if not lines or first not in lines[0]:
            failures.append(f"the greeting does not name {first}")
        if re.search(rf"\b{re.escape(first)}\b", _QUOTED.sub('""', "\n".join(lines[1:]))):
            failures.append(f"names {first} after the greeting, as if writing about them")
    return failures


def _quotes(quoted: Sequence[str], article: str | None, models_dir: Path | None) -> list[str]:
    failures = []
    if len(quoted) > 1:
        failures.append(f"{len(quoted)} quotes from the article; one sentence is enough")
    whole = set(article_sentences([article], models_dir)[0]) if article else set()
    flat = " ".join(article.split()) if article else ""
    for quote in quoted:
        problem = quote_problem(quote, models_dir)
        if problem:
            failures.append(f"the quote is not a complete sentence ({problem}): {quote!r}")
        elif article is not None and quote not in whole:
            where = "is only part of a sentence of the article" if quote in flat else "is not in the article"
            failures.append(f"the quote {where}: {quote!r}")
    return failures


def _layout(draft: str) -> list[str]:
    failures = []
    if draft != draft.strip() + "\n":
        failures.append("does not end with exactly one newline, or starts with blank space")
    if "\n\n\n" in draft:
        failures.append("more than one blank line between paragraphs")
    if any(line != line.rstrip() for line in draft.splitlines()):
        failures.append("trailing spaces")
    blocks = [b.split("\n") for b in draft.strip().split("\n\n")]
    if len(blocks) < 3:
        return [*failures, "needs a greeting, a body and a sign-off, separated by blank lines"]
    greeting, *body, closing = blocks
    if len(greeting) != 1 or not greeting[0].endswith(","):
        failures.append(f"the greeting is not one line ending in a comma: {greeting[0]!r}")
    if len(closing) != 2 or not closing[0].endswith(","):
        failures.append("the sign-off is not a closing line with a comma and then the signature")
    for block in body:
        if any(not _URL_LINE.match(line) for line in block[1:]):
            failures.append(f"two paragraphs run together (no blank line): {block[0][:60]!r}")
    return failures


def _placeholders(text: str, signature: str) -> list[str]:
    lines = text.splitlines()
    if not signature.strip() and lines and lines[-1].strip() == SIGNATURE_PLACEHOLDER:
        lines = lines[:-1]  # the setting asks for it: drafts.signature is empty
    found = _PLACEHOLDER.findall(_QUOTED.sub('""', "\n".join(lines)))
    return [f"a placeholder or template leftover: {f!r}" for f in dict.fromkeys(found)]
