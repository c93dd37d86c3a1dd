"""What failed: every failed source, page and local file, named by its URL or path, with the reason.

Read by `gifts status` and the report's summary (a local file is named by its path, never by an id).
"""

from __future__ import annotations

from typing import Any

from pipeline.db.states import DocState, SourceKind, SourceState
from pipeline.display import shown
from pipeline.sources import document_path
from pipeline.store import Store

# Document states that mean "not read" (pages and local files alike), and source states that mean
# the source gave nothing tonight because of a failure (backoff and disabling come from failures).
FAILED_DOCUMENTS = (DocState.EXTRACT_FAILED, DocState.TOO_LARGE, DocState.BLOCKED)
FAILED_SOURCES = (SourceState.FAILED, SourceState.QUARANTINED, SourceState.BACKOFF_SKIP, SourceState.DISABLED)


def failures(store: Store) -> list[dict[str, Any]]:
    """Every source, page and local file that failed, each named by its URL or path, with the reason.

    Rows: kind (feed | folder | page | file), where (a URL or a file path, as `display.shown` allows),
    state, reason, and source (the source's title or location). A local file is named by its path on
    disk, never by a document id; a page by its URL.
    """
    found: list[dict[str, Any]] = []
    for r in store.query(
        "SELECT kind, location, COALESCE(title, location) AS title, state, reason FROM sources"
        f" WHERE state IN ({','.join('?' * len(FAILED_SOURCES))}) ORDER BY kind, location",
        FAILED_SOURCES,
    ):
        found.append(
            {
                "kind": r["kind"],
                "where": shown(r["location"]),
                "path": shown(r["location"]) if r["kind"] == SourceKind.FOLDER else None,
                "url": shown(r["location"]) if r["kind"] != SourceKind.FOLDER else None,
                "state": r["state"],
                "reason": shown(r["reason"]),
                "source": shown(r["title"]),
            }
        )
    for r in store.query(
        "SELECT d.id, d.url, d.guid, d.state, d.reason, s.kind AS source_kind, s.location,"
        " COALESCE(s.title, s.location) AS title FROM documents d LEFT JOIN sources s ON s.id = d.source_id"
        f" WHERE d.state IN ({','.join('?' * len(FAILED_DOCUMENTS))}) ORDER BY s.location, d.url, d.guid",
        FAILED_DOCUMENTS,
    ):
        path = document_path(r["source_kind"], r["location"], r["guid"])
        # An entry without a link has neither URL nor path: its title's source and guid are all there is.
        where = path or r["url"] or (f"{r['title']}: entry {r['guid']}" if r["guid"] else f"{r['title']}: entry")
        found.append(
            {
                "kind": "file" if path else "page",
                "where": shown(where),
                "path": shown(path),
                "url": shown(r["url"]),
                "state": r["state"],
                "reason": shown(r["reason"]),
                "source": shown(r["title"]),
            }
        )
    return found
