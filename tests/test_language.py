"""The language pipeline: verified before use, real sentences and noun phrases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT

from pipeline import language
from pipeline.errors import ModelError


def test_sentences_keep_abbreviations_and_split_headings_from_text() -> None:
    text = (
        "Deal with what cannot be tagged\n"
        "Dr. Smith said the U.S. team shipped late. It was the third release in a row.\n"
    )
    assert language.sentences(text) == [
        "Deal with what cannot be tagged",
        "Dr. Smith said the U.S. team shipped late.",
        "It was the third release in a row.",
    ]


def test_wrapped_pdf_lines_join_into_one_sentence() -> None:
    text = (
        "The organisation had no mechanism linking upstream operational changes to\n"
        "downstream model owners, so nobody noticed the drift for weeks.\n\nNext paragraph here."
    )
    assert language.sentences(text)[0].startswith("The organisation had no mechanism linking upstream")
    assert language.sentences(text)[0].endswith("for weeks.")


def test_noun_phrases_carry_their_sentence_and_parts_of_speech() -> None:
    (phrase,) = [p for p in language.noun_phrases("She worries about consumer lag in Kafka.") if "lag" in p.text]
    assert phrase.text == "consumer lag"
    assert phrase.sentence == "She worries about consumer lag in Kafka."
    assert phrase.head_pos == "NOUN" and phrase.pos == ("NOUN", "NOUN")


def test_a_tampered_file_is_refused_before_loading(tmp_path: Path) -> None:
    manifest = json.loads((ROOT / "models" / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest[language.LANGUAGE_MODEL]
    first = sorted(entry["files"])[0]
    entry["files"][first] = "0" * 64
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelError, match="does not match the manifest"):
        language.pipeline(tmp_path)


def test_a_manifest_without_the_language_model_says_so(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ModelError, match="no entry for the language model"):
        language.pipeline(tmp_path)
