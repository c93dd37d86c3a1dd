"""Folder sources: new or changed local files become documents; links, special and oversized files say why.

Nothing is read through a symbolic link and no file over the size cap is opened (see
`sources.folder_files`); what was not read is named in the source's reason.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pipeline.archive import Archive
from pipeline.db import sources as source_rows
from pipeline.db.states import DocState, SourceState
from pipeline.sources import FolderFile, FolderRefused, folder_files, too_large_reason
from pipeline.store import Store

log = logging.getLogger(__name__)


def scan_folder(
    store: Store, archive: Archive, source: str, folder: Path, now: str, max_bytes: int | None = None
) -> Counter[str]:
    """New or changed files of a folder source become pending documents; refused ones say why.

    Nothing is read through a link, and a file over `max_bytes` (None: fetch.max_bytes' default) is
    recorded as too_large from its size alone. Links and special files are skipped, and the
    source's reason names them (see `sources.folder_files`).
    """
    counts: Counter[str] = Counter({"sources": 1})
    run_id = store.current_run()
    started = time.monotonic()
    if not folder.is_dir():
        with store.transaction():
            source_rows.mark_failed(store, source, "folder missing", now)
            store.record_source_run(run_id, source, SourceState.FAILED, "folder missing", 0.0)
        counts["sources_failed"] += 1
        return counts
    listing = folder_files(folder, max_bytes)
    known = {
        r["id"]: (r["raw_sha"], r["state"], r["reason"])
        for r in store.query("SELECT id, raw_sha, state, reason FROM documents WHERE source_id = ?", (source,))
    }
    skipped = list(listing.skipped)
    too_large = [(file, too_large_reason(file.relative, file.size, listing.max_bytes)) for file in listing.too_large]
    changed = 0
    with store.transaction():
        for file in listing.files:
            doc_id = _folder_doc_id(source, file.relative)
            try:
                sha = archive.put(file.read(listing.max_bytes))
            except FolderRefused as exc:
                if exc.state == DocState.TOO_LARGE:  # it grew since it was listed
                    too_large.append((file, exc.reason))
                else:
                    skipped.append(exc.reason)
                continue
            except OSError as exc:
                skipped.append(f"{file.relative}: cannot be read ({exc.strerror})")
                continue
            if known.get(doc_id, (None, None, None))[0] == sha:
                continue
            changed += 1
            store.upsert("documents", _folder_document(source, doc_id, file, now, sha, DocState.PENDING, None))
        for file, reason in too_large:
            doc_id = _folder_doc_id(source, file.relative)
            if known.get(doc_id, (None, None, None))[1:] == (DocState.TOO_LARGE, reason):
                continue  # recorded on an earlier night
            log.warning("folder %s: %s", folder, reason)
            store.upsert("documents", _folder_document(source, doc_id, file, now, None, DocState.TOO_LARGE, reason))
            counts[DocState.TOO_LARGE] += 1
        skips = _skipped_reason(skipped)
        if skips:
            log.warning("folder %s: %s", folder, skips)
        state = SourceState.NEW if changed else SourceState.NOT_MODIFIED
        source_rows.record_scanned(store, source, state, skips, now)
        store.record_source_run(run_id, source, state, skips, time.monotonic() - started)
    counts["new_documents"] += changed
    if skipped:
        counts["skipped_files"] += len(skipped)
    counts[state] += 1
    counts[f"sources_{state}"] += 1
    return counts


SKIPPED_SHOWN = 3  # skipped paths named in a folder source's reason; the rest are counted


def _skipped_reason(skipped: list[str]) -> str | None:
    """The folder source's reason: how many entries were not read, naming the first few."""
    if not skipped:
        return None
    more = len(skipped) - SKIPPED_SHOWN
    named = "; ".join(skipped[:SKIPPED_SHOWN]) + (f"; and {more} more" if more > 0 else "")
    return f"skipped {len(skipped)}: {named}"


def _folder_doc_id(source: str, relative: str) -> str:
    return hashlib.sha256(f"{source}|{relative}".encode()).hexdigest()[:16]


def _folder_document(
    source: str, doc_id: str, file: FolderFile, now: str, sha: str | None, state: str, reason: str | None
) -> dict[str, Any]:
    return {
        "id": doc_id,
        "source_id": source,
        "url": None,
        "guid": file.relative,
        "title": file.path.stem.replace("-", " ").replace("_", " "),
        "published": None,
        "kind": file.kind,
        "raw_sha": sha,
        "state": state,
        "reason": reason,
        "first_seen": now,
        "simhash": None,
        "duplicate_of": None,
    }
