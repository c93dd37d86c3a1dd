"""`gifts status`: what the store says about sources, documents, contacts and runs (read-only).

Text from feeds and configs is shown as `display.shown` allows: no URL credentials, no bidi controls.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline.checks import run_warnings
from pipeline.config import Config
from pipeline.db.states import ActionKind
from pipeline.display import shown
from pipeline.failures import failures
from pipeline.store import Store


def collect(config: Config) -> dict[str, Any]:
    """A JSON-ready snapshot; an empty workspace (never run) gives empty lists."""
    info: dict[str, Any] = {
        "workspace": config.name,
        "config": str(config.path),
        "store": str(config.paths.store),
        "sources": [],
        "documents": {},
        "failures": [],
        "warnings": [],
        "failed_files": [],
        "contacts": [],
        "runs": [],
    }
    if not config.paths.store.exists():
        return info
    with Store(config.paths.store, readonly=True) as store:
        info["sources"] = [{key: shown(value) for key, value in r.items()} for r in store.sources_with_counts()]
        info["documents"] = {
            r["state"]: r["n"] for r in store.query("SELECT state, COUNT(*) AS n FROM documents GROUP BY state")
        }
        info["failures"] = failures(store)
        info["warnings"] = run_warnings(store)  # the last run's, one line each (pipeline.checks)
        # Local files that could not be read, each by the path a person finds it at.
        info["failed_files"] = [
            {key: f[key] for key in ("path", "state", "reason")} for f in info["failures"] if f["kind"] == "file"
        ]
        info["contacts"] = [
            {key: shown(value) for key, value in dict(r).items()}
            for r in store.query(
                "SELECT c.id, c.name, c.company, i.status,"
                " (SELECT COUNT(*) FROM suggestions s WHERE s.contact_id = c.id AND s.active = 1) AS suggestions,"
                " (SELECT COUNT(*) FROM actions a WHERE a.contact_id = c.id AND a.action = ?) AS sent"
                " FROM contacts c JOIN interviews i ON i.id = c.interview_id ORDER BY i.date DESC, c.name",
                (ActionKind.SENT,),
            )
        ]
        runs = []
        for r in store.query("SELECT * FROM runs ORDER BY id DESC LIMIT 5"):
            row = dict(r)
            row["counts"] = json.loads(row["counts"] or "{}")
            row["timings"] = json.loads(row["timings"] or "{}")
            runs.append(row)
        info["runs"] = runs
        # The morning digest's latest outcome, send and failure (pipeline.notify keeps them in meta).
        from pipeline.notify import recorded

        info["notify"] = recorded(store)
    return info
