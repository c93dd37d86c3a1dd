"""Passages: a document's text cut into overlapping word windows, and the content hash that keys them.

The embed stage, `gifts eval` and the embedding backends' calibration all cut text here, so a
passage is the same wherever it is embedded, and so is its key in the vector cache.
"""

from __future__ import annotations

import hashlib


def text_sha(text: str) -> str:
    """The key of a text (a document's, a passage's, an interest's) in the store and the vector cache."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def passages(title: str, text: str, words: int, overlap: int, limit: int) -> list[str]:
    """Cut a document into overlapping word windows; the title leads the first one.

    Passage-level vectors let one relevant section of a long white paper score on its own
    instead of being averaged away by the rest of the document.
    """
    tokens = text.split()
    if not tokens:
        return [title] if title else []
    step = max(1, words - overlap)
    out: list[str] = []
    for start in range(0, len(tokens), step):
        window = " ".join(tokens[start : start + words])
        # The title leads the first passage, unless the text already opens with it.
        lead = start == 0 and title and not window.lower().startswith(title.lower()[:60])
        out.append(f"{title}. {window}" if lead else window)
        if start + words >= len(tokens) or len(out) >= limit:
            break
    return out
