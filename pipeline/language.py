"""Sentences and noun phrases of English text: spaCy's en_core_web_sm, shipped in a package, verified by checksum.

Drafts quote one complete sentence of an article and interests are inferred as noun phrases of
the notes; both need a real segmenter and a part-of-speech parser, not regular expressions. The
pipeline's files are listed with their SHA-256 in `models/manifest.json` and checked before the
first load in a process, exactly as the embedding model's are; nothing is downloaded.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import ModelError
from pipeline.manifest import PROJECT_MODELS, load_manifest, locate_model, verify_model
from pipeline.offline import keep_offline

log = logging.getLogger(__name__)

LANGUAGE_MODEL = "en_core_web_sm"
# Named entities and lemmas are not used; leaving them out halves the time per text.
_EXCLUDE = ("ner", "lemmatizer")
MAX_CHARS = 200_000  # a document's body is cut here before parsing (spaCy's own limit is 1,000,000)


@dataclass(frozen=True, slots=True)
class Phrase:
    """A noun phrase as written, with the sentence it stands in and its head word's part of speech."""

    text: str
    sentence: str
    head_pos: str  # NOUN | PROPN | PRON ...
    words: tuple[str, ...]  # the phrase's words
    pos: tuple[str, ...]  # each word's coarse part of speech
    tags: tuple[str, ...]  # each word's fine tag (Penn Treebank)


@functools.cache
def _pipeline(models_dir: Path) -> Any:
    keep_offline()
    manifest = load_manifest(models_dir)
    if LANGUAGE_MODEL not in manifest:
        raise ModelError(f"{models_dir / 'manifest.json'}: no entry for the language model {LANGUAGE_MODEL}")
    try:
        folder = locate_model(LANGUAGE_MODEL, manifest, None)
    except ModelError:
        package = manifest[LANGUAGE_MODEL].get("package")
        raise ModelError(f"the language model package {package!r} is not installed (run `make install`)") from None
    verify_model(folder, manifest[LANGUAGE_MODEL]["files"])
    import spacy

    log.debug("loading %s from %s", LANGUAGE_MODEL, folder)
    return spacy.load(folder, exclude=list(_EXCLUDE))


def pipeline(models_dir: Path | None = None) -> Any:
    """The verified spaCy pipeline (loaded once per process)."""
    return _pipeline((models_dir or PROJECT_MODELS).resolve())


def sentences(text: str, models_dir: Path | None = None) -> list[str]:
    """The sentences of `text` as the parser segments them, whitespace collapsed, in order."""
    nlp = pipeline(models_dir)
    out = []
    for paragraph in _paragraphs(text[:MAX_CHARS]):
        out += [" ".join(s.text.split()) for s in nlp(paragraph).sents if s.text.strip()]
    return out


def sentences_many(texts: list[str], models_dir: Path | None = None) -> list[list[str]]:
    """`sentences` of many texts, parsed in one batch."""
    nlp = pipeline(models_dir)
    flat: list[tuple[int, str]] = [
        (number, paragraph) for number, text in enumerate(texts) for paragraph in _paragraphs(text[:MAX_CHARS])
    ]
    out: list[list[str]] = [[] for _ in texts]
    for (number, _), doc in zip(flat, nlp.pipe([p for _, p in flat], batch_size=64), strict=True):
        out[number] += [" ".join(s.text.split()) for s in doc.sents if s.text.strip()]
    return out


def noun_phrases(text: str, models_dir: Path | None = None) -> list[Phrase]:
    """Every noun chunk of `text` (spaCy's base noun phrases), with its sentence and parts of speech."""
    nlp = pipeline(models_dir)
    phrases = []
    for paragraph in _paragraphs(text[:MAX_CHARS]):
        doc = nlp(paragraph)
        for chunk in doc.noun_chunks:
            phrases.append(
                Phrase(
                    text=chunk.text,
                    sentence=" ".join(chunk.sent.text.split()),
                    head_pos=chunk.root.pos_,
                    words=tuple(t.text for t in chunk),
                    pos=tuple(t.pos_ for t in chunk),
                    tags=tuple(t.tag_ for t in chunk),
                )
            )
    return phrases


_ENDS_SENTENCE = (".", "!", "?", ":", '"', "\u201d", ")", "'")


def _paragraphs(text: str) -> list[str]:
    """Paragraphs of extracted text, so a heading or a caption never runs into the next sentence.

    trafilatura gives one paragraph per line; pypdf gives hard-wrapped lines with blank lines
    between paragraphs. A line ends a paragraph when it ends like a sentence, or when it is much
    shorter than the longest line of its block (a heading, or a paragraph's last wrapped line);
    otherwise it is a wrapped line and joins the next one.
    """
    out: list[str] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [" ".join(line.split()) for line in block.split("\n")]
        lines = [line for line in lines if line]
        if not lines:
            continue
        longest = max(len(line) for line in lines)
        current: list[str] = []
        for line in lines:
            current.append(line)
            if line.endswith(_ENDS_SENTENCE) or len(line) < 0.6 * longest:
                out.append(" ".join(current))
                current = []
        if current:
            out.append(" ".join(current))
    return out
