"""What the notes say about each person, and a listed interest read with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.context import in_context
from pipeline.notes_context import notes_about, query_texts
from pipeline.profile import profile_interviews
from pipeline.store import Store
from pipeline.vectors import text_sha

INTERVIEW = """---
company: Meridian Global Health
date: 2026-11-18
status: active
interviewers:
  - name: Leila Haddad
    interests:
      - artemisinin resistance in malaria parasites
  - name: Kwame Mensah
    interests:
      - treatment regimens for multidrug-resistant tuberculosis
---
Leila fears that artemisinin resistance spreads to Africa. She was sceptical of models that ignore
counterfeit and substandard drugs.

Kwame is watching the shorter regimens closely.
"""


def _store(tmp_path: Path) -> Store:
    folder = tmp_path / "interviews"
    folder.mkdir()
    (folder / "meridian.md").write_text(INTERVIEW, encoding="utf-8")
    store = Store(tmp_path / "gifts.sqlite")
    store.migrate()
    profile_interviews(store, folder)
    return store


def test_each_person_gets_the_sentences_about_them(tmp_path: Path) -> None:
    store = _store(tmp_path)
    about = notes_about(store)
    leila = next(v for k, v in about.items() if k.startswith("leila"))
    kwame = next(v for k, v in about.items() if k.startswith("kwame"))
    assert "counterfeit" in leila and "shorter regimens" not in leila
    assert kwame == "Kwame is watching the shorter regimens closely."
    assert notes_about(store, [k for k in about if k.startswith("kwame")]) == {
        k: v for k, v in about.items() if k.startswith("kwame")
    }


def test_the_embed_stage_is_given_the_interests_and_the_notes(tmp_path: Path) -> None:
    store = _store(tmp_path)
    texts = query_texts(store)
    assert set(texts.values()) == {
        "artemisinin resistance in malaria parasites",
        "treatment regimens for multidrug-resistant tuberculosis",
        *notes_about(store).values(),
    }
    assert all(text_sha(text) == sha for sha, text in texts.items())


def test_the_blend_is_normalised_and_zero_weight_or_no_notes_leave_the_interest() -> None:
    interest = np.array([1.0, 0.0], dtype=np.float32)
    notes = np.array([0.0, 1.0], dtype=np.float32)
    assert in_context(interest, None, 0.5) is interest
    assert in_context(interest, notes, 0.0) is interest
    blended = in_context(interest, notes, 0.5)
    assert np.allclose(blended, [2**-0.5, 2**-0.5])
    assert np.isclose(np.linalg.norm(in_context(interest, notes, 0.2)), 1.0)


def test_with_the_notes_the_article_on_their_concern_ranks_first(real_embedder) -> None:  # type: ignore[no-untyped-def]
    """Of two articles on the field, the one on what the notes say they care about wins with the notes."""
    interest, notes, concern, field = real_embedder.encode(
        [
            "artemisinin resistance in malaria parasites",
            "Leila fears that artemisinin resistance spreads to Africa. She was sceptical of models that"
            " ignore counterfeit and substandard drugs.",
            "Quality testing of artemisinin antimalarial drugs: a third of pharmacy samples were counterfeit"
            " or substandard, which breeds resistance.",
            "Artemisinin combination therapy reduced malaria transmission from treated patients to"
            " mosquitoes in a cluster-randomised trial of parasite clearance.",
        ]
    )
    alone, read = in_context(interest, notes, 0.0), in_context(interest, notes, 0.5)
    assert float(field @ alone) > float(concern @ alone)
    assert float(concern @ read) > float(field @ read)
