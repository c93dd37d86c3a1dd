"""The raw archive: every fetched body, content-addressed under `data/raw/`, with a URL index.

Bodies are immutable files named by their SHA-256; `index.jsonl` is append-only and the last
line for a URL wins, so a crash mid-write loses at most the line being written.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """What the archive knows about one URL's latest successful fetch."""

    url: str
    sha256: str
    content_type: str
    fetched_at: str
    etag: str | None = None
    last_modified: str | None = None
    final_url: str | None = None


class Archive:
    """Content-addressed store of raw bodies with a URL index."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._index: dict[str, ArchiveEntry] | None = None
        # Pages are fetched by several threads at once (pipeline/pages.py): one writer of the index at a time.
        self._lock = threading.RLock()

    @property
    def index_path(self) -> Path:
        return self.root / "index.jsonl"

    def _object_path(self, sha256: str) -> Path:
        return self.root / "objects" / sha256[:2] / sha256

    def index(self) -> dict[str, ArchiveEntry]:
        """URL -> latest entry; a torn last line from a crash is skipped."""
        with self._lock:
            return self._load_index()

    def _load_index(self) -> dict[str, ArchiveEntry]:
        if self._index is None:
            entries: dict[str, ArchiveEntry] = {}
            if self.index_path.exists():
                with self.index_path.open(encoding="utf-8") as handle:
                    for line in handle:
                        try:
                            entry = ArchiveEntry(**json.loads(line))
                        except (ValueError, TypeError):
                            continue
                        entries[entry.url] = entry
            self._index = entries
        return self._index

    def get(self, url: str) -> ArchiveEntry | None:
        return self.index().get(url)

    def put(self, body: bytes) -> str:
        """Store a body once; returns its SHA-256. Written to a temp file, then renamed."""
        sha = hashlib.sha256(body).hexdigest()
        target = self._object_path(sha)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".tmp{os.getpid()}-{threading.get_ident()}")
            tmp.write_bytes(body)
            tmp.replace(target)
        return sha

    def record(self, entry: ArchiveEntry) -> None:
        """Append a URL index line (unless it repeats what the index already says)."""
        with self._lock:
            self._record(entry)

    def _record(self, entry: ArchiveEntry) -> None:
        current = self.index().get(entry.url)
        if current is not None and (current.sha256, current.etag, current.last_modified) == (
            entry.sha256,
            entry.etag,
            entry.last_modified,
        ):
            return  # same body and validators: a new line would only churn the index
        self.root.mkdir(parents=True, exist_ok=True)
        with self.index_path.open("a+b") as handle:
            # A crash may have left a torn last line; start a fresh line so this one is not glued to it.
            torn = handle.tell() > 0 and handle.seek(-1, os.SEEK_END) >= 0 and handle.read(1) != b"\n"
            handle.write((("\n" if torn else "") + json.dumps(asdict(entry), sort_keys=True) + "\n").encode())
            handle.flush()
            os.fsync(handle.fileno())
        self.index()[entry.url] = entry

    def read(self, sha256: str) -> bytes:
        return self._object_path(sha256).read_bytes()

    def path_of(self, sha256: str) -> Path:
        """The file holding a body (for extraction workers, which read it themselves)."""
        return self._object_path(sha256)

    def has(self, sha256: str) -> bool:
        return self._object_path(sha256).exists()
