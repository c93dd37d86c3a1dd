"""The SQLite store under `data/interim/`: schema, migrations, the writer lock, and queries.

WAL mode keeps readers (notebooks, `gifts status`) unblocked while a run writes; every stage
commits per batch, so a killed run loses at most the batch in flight.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.db.states import DocState, RunStatus, SourceState
from pipeline.errors import LockedError

# Each entry migrates the schema from version N to N+1; never edit a shipped entry, append.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE sources (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,                 -- feed | folder
        location TEXT NOT NULL,             -- URL or absolute folder path
        title TEXT,
        origin TEXT,                        -- config | OPML file it came from
        etag TEXT,
        last_modified TEXT,
        raw_sha TEXT,                       -- body of the latest successful fetch
        parsed_sha TEXT,                    -- body the parse stage last read
        state TEXT,                         -- new | not_modified | failed | ...
        reason TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        last_attempt_at TEXT,
        last_ok_at TEXT
    );
    CREATE TABLE documents (
        id TEXT PRIMARY KEY,
        source_id TEXT NOT NULL,
        url TEXT,
        guid TEXT,
        title TEXT NOT NULL,
        author TEXT,
        published TEXT,
        summary TEXT,
        kind TEXT,                          -- html | pdf | text | feed
        raw_sha TEXT,
        state TEXT NOT NULL,                -- pending | extracted | extract_failed | too_large | blocked
        reason TEXT,
        text TEXT,
        text_sha TEXT,
        words INTEGER,
        first_seen TEXT NOT NULL,
        extracted_at TEXT
    );
    CREATE INDEX documents_state ON documents(state);
    CREATE TABLE passages (
        doc_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        text TEXT NOT NULL,
        sha TEXT NOT NULL,
        text_sha TEXT NOT NULL,             -- the document text these passages were cut from
        PRIMARY KEY (doc_id, idx)
    );
    CREATE TABLE vectors (
        model TEXT NOT NULL,
        sha TEXT NOT NULL,
        dim INTEGER NOT NULL,
        vec BLOB NOT NULL,
        PRIMARY KEY (model, sha)
    );
    CREATE TABLE interviews (
        id TEXT PRIMARY KEY,
        path TEXT NOT NULL,
        sha TEXT NOT NULL,
        company TEXT NOT NULL,
        position TEXT,
        date TEXT NOT NULL,
        status TEXT NOT NULL,
        notes TEXT
    );
    CREATE TABLE contacts (
        id TEXT PRIMARY KEY,
        interview_id TEXT NOT NULL,
        name TEXT NOT NULL,
        role TEXT,
        email TEXT,
        company TEXT NOT NULL
    );
    CREATE TABLE interests (
        id TEXT PRIMARY KEY,
        contact_id TEXT NOT NULL,
        text TEXT NOT NULL,
        snippet TEXT,
        kind TEXT NOT NULL,                 -- said | inferred
        weight REAL NOT NULL
    );
    CREATE TABLE suggestions (
        id TEXT PRIMARY KEY,                -- stable for (contact, document)
        contact_id TEXT NOT NULL,
        doc_id TEXT NOT NULL,
        run_id INTEGER,
        active INTEGER NOT NULL DEFAULT 0,
        rank INTEGER,
        score REAL,
        parts TEXT,
        interest_id TEXT,
        matched_interest TEXT,
        best_passage TEXT
    );
    CREATE TABLE actions (
        id INTEGER PRIMARY KEY,
        suggestion_id TEXT,
        contact_id TEXT NOT NULL,
        doc_id TEXT,
        action TEXT NOT NULL,               -- sent | skip | never | reply
        at TEXT NOT NULL,
        note TEXT
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL,               -- running | ok | partial | failed
        counts TEXT,
        timings TEXT
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: follow-up memory (interests from notes, per-interview cadence, replies, feedback, forget).
    """
    ALTER TABLE interests ADD COLUMN origin TEXT;       -- front_matter | notes | pin
    ALTER TABLE interests ADD COLUMN quote TEXT;        -- the interviewer's words as the notes give them
    ALTER TABLE interests ADD COLUMN why TEXT;          -- how an inferred interest was found
    ALTER TABLE interviews ADD COLUMN cadence TEXT;     -- JSON: the interview's cadence overrides
    ALTER TABLE contacts ADD COLUMN replied TEXT;       -- JSON: reply dates written in the interview file
    ALTER TABLE actions ADD COLUMN scope TEXT;          -- never: source | topic
    ALTER TABLE actions ADD COLUMN interest_id TEXT;    -- the topic a `never topic` refers to
    ALTER TABLE actions ADD COLUMN features TEXT;       -- JSON: score parts at decision time, for feedback
    CREATE TABLE forgotten (id_hash TEXT PRIMARY KEY, at TEXT NOT NULL);
    """,
    # 3: source health (backoff, disabled), one recorded state per source per run, near-duplicates.
    """
    ALTER TABLE sources ADD COLUMN next_attempt_on TEXT;    -- YYYY-MM-DD; before it: backoff_skip
    ALTER TABLE sources ADD COLUMN disabled_at TEXT;        -- set after too many failures; `gifts enable`
    ALTER TABLE sources ADD COLUMN last_failed_on TEXT;     -- YYYY-MM-DD of the latest failure
    ALTER TABLE documents ADD COLUMN simhash INTEGER;       -- 64-bit text fingerprint (signed)
    ALTER TABLE documents ADD COLUMN duplicate_of TEXT;     -- the document this one repeats
    ALTER TABLE documents ADD COLUMN seconds REAL;          -- how long its fetch and extraction held the run
    CREATE TABLE source_runs (
        run_id INTEGER NOT NULL,
        source_id TEXT NOT NULL,
        state TEXT NOT NULL,                -- new | not_modified | failed | backoff_skip | disabled
        reason TEXT,
        seconds REAL,
        PRIMARY KEY (run_id, source_id)
    );
    """,
    # 4: transient page failures are retried on later nights, a bounded number of times.
    """
    ALTER TABLE documents ADD COLUMN fetch_attempts INTEGER NOT NULL DEFAULT 0;
    """,
    # 5: one story once: a suggestion names the other outlets' articles on the same story.
    """
    ALTER TABLE suggestions ADD COLUMN also TEXT;       -- JSON: ids of the same story's other documents
    """,
    # 6: a draft note the user edited in `gifts review`, kept with its suggestion (rank never writes it).
    """
    ALTER TABLE suggestions ADD COLUMN draft_edit TEXT;
    """,
    # 7: an article's sentences as the language model cut them, by text hash: drafts quote from
    # them, and parsing every suggested article again for each report (or each review page) is slow.
    """
    CREATE TABLE sentences (text_sha TEXT PRIMARY KEY, sentences TEXT NOT NULL);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


class Store:
    """All reads and writes of the SQLite store go through this class."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        if readonly:
            uri = f"file:{path}?mode=ro"
            self.db = sqlite3.connect(uri, uri=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path)
            self.db.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable at checkpoint boundaries in WAL mode; a crash loses at most
            # the last transaction, which the next run redoes.
            self.db.execute("PRAGMA synchronous=NORMAL")
            # The store holds interview notes: deleted rows must not linger in free space, and a
            # build's default is not to be trusted (Debian's is on, others off; any can be forced off).
            self.db.execute("PRAGMA secure_delete=ON")
            self.migrate()
        self.db.row_factory = sqlite3.Row

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -----------------------------------------------------------------------------
    def migrate(self) -> None:
        version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        for number in range(version, SCHEMA_VERSION):
            with self.db:
                self.db.executescript("BEGIN;" + MIGRATIONS[number] + f"PRAGMA user_version={number + 1};COMMIT;")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.db:
            yield self.db

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return list(self.db.execute(sql, params))

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.db.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def upsert(self, table: str, row: dict[str, Any], key: Sequence[str] = ("id",)) -> None:
        """Insert or update one row by its key columns (no commit: callers batch)."""
        columns = list(row)
        updates = [c for c in columns if c not in key]
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            f" ON CONFLICT ({', '.join(key)}) DO "
            + (f"UPDATE SET {', '.join(f'{c}=excluded.{c}' for c in updates)}" if updates else "NOTHING")
        )
        self.db.execute(sql, [row[c] for c in columns])

    # -- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        value = self.scalar("SELECT value FROM meta WHERE key = ?", (key,))
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        self.upsert("meta", {"key": key, "value": value}, key=("key",))

    # -- vectors ----------------------------------------------------------------------------
    def vectors(self, model: str, shas: Iterable[str]) -> dict[str, np.ndarray]:
        """Cached vectors for these content hashes (missing ones are simply absent)."""
        found: dict[str, np.ndarray] = {}
        wanted = list(dict.fromkeys(shas))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = self.db.execute(
                f"SELECT sha, vec FROM vectors WHERE model = ? AND sha IN ({','.join('?' * len(chunk))})",
                [model, *chunk],
            )
            for sha, blob in rows:
                found[sha] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_vectors(self, model: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO vectors (model, sha, dim, vec) VALUES (?, ?, ?, ?)",
            [(model, sha, int(v.shape[0]), np.asarray(v, dtype=np.float32).tobytes()) for sha, v in items],
        )

    # -- sources ------------------------------------------------------------------------------
    def sources_with_counts(self, *, include_removed: bool = True) -> list[dict[str, Any]]:
        """Every source with its health and how many extracted documents it holds (status and report)."""
        where = "" if include_removed else " WHERE COALESCE(s.state, '') != ?"
        return [
            dict(r)
            for r in self.query(
                "SELECT s.id, s.kind, COALESCE(s.title, s.location) AS title, s.location, s.state, s.reason,"
                " s.consecutive_failures, s.last_attempt_at, s.last_ok_at, s.next_attempt_on, s.disabled_at,"
                " (SELECT COUNT(*) FROM documents d WHERE d.source_id = s.id AND d.state = ?) AS documents"
                f" FROM sources s{where} ORDER BY s.kind, title",
                (DocState.EXTRACTED,) if include_removed else (DocState.EXTRACTED, SourceState.REMOVED),
            )
        ]

    # -- sentences ----------------------------------------------------------------------------
    def sentences(self, shas: Iterable[str]) -> dict[str, list[str]]:
        """Cached sentence lists by text hash (only those present)."""
        wanted = list(dict.fromkeys(shas))
        out: dict[str, list[str]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            try:
                rows = self.db.execute(
                    f"SELECT text_sha, sentences FROM sentences WHERE text_sha IN ({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
            except sqlite3.OperationalError:  # a read-only store made before the cache existed
                return out
            out.update((sha, json.loads(found)) for sha, found in rows)
        return out

    def put_sentences(self, items: Iterable[tuple[str, list[str]]]) -> None:
        """Remember sentence lists by text hash. Only a cache: a store opened read-only, or one a
        run is busy writing, is left alone and the sentences are simply parsed again next time."""
        try:
            with self.transaction():
                self.db.executemany(
                    "INSERT OR REPLACE INTO sentences (text_sha, sentences) VALUES (?, ?)",
                    ((sha, json.dumps(found)) for sha, found in items),
                )
        except sqlite3.OperationalError:
            return

    # -- runs -------------------------------------------------------------------------------
    def current_run(self) -> int:
        """The id of the run in progress (0 when a stage is called outside a run, as in tests)."""
        return int(self.scalar("SELECT MAX(id) FROM runs") or 0)

    def record_source_run(self, run_id: int, source_id: str, state: str, reason: str | None, seconds: float) -> None:
        """This run's one state for a source (no commit: the caller's transaction holds it)."""
        self.db.execute(
            "INSERT OR REPLACE INTO source_runs (run_id, source_id, state, reason, seconds) VALUES (?, ?, ?, ?, ?)",
            (run_id, source_id, state, reason, round(seconds, 3)),
        )

    def start_run(self, started_at: str) -> int:
        with self.db:
            # Callers hold the workspace lock, so a run still marked running was killed mid-way.
            self.db.execute("UPDATE runs SET status = ? WHERE status = ?", (RunStatus.KILLED, RunStatus.RUNNING))
            cursor = self.db.execute(
                "INSERT INTO runs (started_at, status) VALUES (?, ?)", (started_at, RunStatus.RUNNING)
            )
        return int(cursor.lastrowid or 0)

    def finish_run(
        self,
        run_id: int,
        finished_at: str,
        status: str,
        counts: dict[str, Any],
        timings: dict[str, float],
    ) -> None:
        with self.db:
            self.db.execute(
                "UPDATE runs SET finished_at = ?, status = ?, counts = ?, timings = ? WHERE id = ?",
                (finished_at, status, json.dumps(counts), json.dumps(timings), run_id),
            )


class WorkspaceLock:
    """An exclusive, non-blocking flock: one writer per workspace, released by the kernel on death."""

    def __init__(self, interim: Path) -> None:
        self.path = interim / "gifts.lock"
        self._fd: int | None = None

    def __enter__(self) -> WorkspaceLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise LockedError(
                f"{self.path}: another gifts run (pid {holder}) holds this workspace; try again later"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
