"""One document per story: near-duplicate text (the same article syndicated twice) collapses to one.

Canonical URLs and feed GUIDs collapse at parse time (feeds, ingest); this module catches the same
text under different URLs with a 64-bit SimHash over word 3-grams. Four 16-bit bands index the
fingerprints, so a new document is compared only with candidates that can be within the distance.
The earliest seen document of a story wins (ties by id), so the outcome does not depend on the
order in which workers finish or on where a killed run stopped.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Mapping

from pipeline.db import documents
from pipeline.db.states import DocState
from pipeline.store import Store

MAX_DISTANCE = 3  # bits of 64; four bands guarantee any pair this close shares a band
MIN_WORDS = 60  # shorter texts (stubs, teasers) are too alike to compare safely
_BANDS = 4


def simhash(text: str) -> int:
    """A 64-bit SimHash (as a signed int, to fit SQLite) of the text's word 3-grams."""
    words = re.findall(r"\w+", text.lower())
    grams = [" ".join(words[i : i + 3]) for i in range(max(1, len(words) - 2))]
    weights = [0] * 64
    for gram in grams:
        value = int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=8).digest(), "big")
        for bit in range(64):
            weights[bit] += 1 if value >> bit & 1 else -1
    out = sum(1 << bit for bit in range(64) if weights[bit] > 0)
    return out - (1 << 64) if out >= 1 << 63 else out


def distance(a: int, b: int) -> int:
    return ((a ^ b) & (1 << 64) - 1).bit_count()


def _bands(value: int) -> list[tuple[int, int]]:
    unsigned = value & (1 << 64) - 1
    return [(i, unsigned >> (16 * i) & 0xFFFF) for i in range(_BANDS)]


class Index:
    """Fingerprints of kept documents, looked up by band."""

    def __init__(self) -> None:
        self._by_band: dict[tuple[int, int], list[tuple[int, str]]] = {}

    def add(self, value: int, doc_id: str) -> None:
        for band in _bands(value):
            self._by_band.setdefault(band, []).append((value, doc_id))

    def find(self, value: int) -> str | None:
        best: tuple[int, str] | None = None
        for band in _bands(value):
            for other, doc_id in self._by_band.get(band, []):
                d = distance(value, other)
                if d <= MAX_DISTANCE and (best is None or (d, doc_id) < best):
                    best = (d, doc_id)
        return best[1] if best else None


def collapse(store: Store, batch: int = 100, fingerprints: Mapping[str, int] | None = None) -> Counter[str]:
    """Fingerprint newly extracted documents; a near-copy of a kept one becomes `duplicate`.

    Args:
        fingerprints: SimHashes computed elsewhere (the Ray engine keeps texts out of the store);
            a document not in it is fingerprinted from its stored text.
    """
    counts: Counter[str] = Counter()
    index = Index()
    for row in store.query(
        "SELECT id, simhash FROM documents WHERE state = ? AND simhash IS NOT NULL AND words >= ?",
        (DocState.EXTRACTED, MIN_WORDS),
    ):
        index.add(int(row["simhash"]), row["id"])
    rows = store.query(
        "SELECT id, text, words FROM documents WHERE state = ? AND simhash IS NULL ORDER BY first_seen, id",
        (DocState.EXTRACTED,),
    )
    for start in range(0, len(rows), batch):
        with store.transaction():
            for row in rows[start : start + batch]:
                known = fingerprints.get(row["id"]) if fingerprints else None
                value = known if known is not None else simhash(row["text"] or "")
                original = index.find(value) if (row["words"] or 0) >= MIN_WORDS else None
                if original is None:
                    documents.set_simhash(store, row["id"], value)
                    if (row["words"] or 0) >= MIN_WORDS:
                        index.add(value, row["id"])
                    continue
                documents.mark_duplicate(store, row["id"], value, original)
                counts[DocState.DUPLICATE] += 1
    return counts
