"""Tests for pipeline.archive: content-addressed bodies and the append-only URL index."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from pipeline.archive import Archive, ArchiveEntry

BODY = b"<rss><channel><title>T</title></channel></rss>"
SHA = hashlib.sha256(BODY).hexdigest()


def entry(url: str = "https://a.example/feed", sha: str = SHA, etag: str | None = '"v1"') -> ArchiveEntry:
    return ArchiveEntry(
        url=url,
        sha256=sha,
        content_type="application/rss+xml",
        fetched_at="2026-11-25T06:00:00Z",
        etag=etag,
        last_modified="Wed, 25 Nov 2026 06:00:00 GMT",
    )


def index_lines(root: Path) -> list[str]:
    return (root / "index.jsonl").read_text(encoding="utf-8").splitlines()


def test_put_is_content_addressed(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "raw")
    assert archive.put(BODY) == SHA
    stored = tmp_path / "raw" / "objects" / SHA[:2] / SHA
    assert stored.read_bytes() == BODY
    assert archive.has(SHA)
    assert archive.read(SHA) == BODY
    assert not archive.has(hashlib.sha256(b"other").hexdigest())


def test_put_is_idempotent_and_leaves_no_temp_files(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "raw")
    first = archive.put(BODY)
    mtime = (tmp_path / "raw" / "objects" / SHA[:2] / SHA).stat().st_mtime_ns
    assert archive.put(BODY) == first
    files = sorted(p.name for p in (tmp_path / "raw").rglob("*") if p.is_file())
    assert files == [SHA]
    assert (tmp_path / "raw" / "objects" / SHA[:2] / SHA).stat().st_mtime_ns == mtime
    other = archive.put(b"second body")
    assert other != first
    assert archive.read(other) == b"second body"


def test_record_and_get_round_trip_across_instances(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    first = Archive(root)
    first.put(BODY)
    recorded = entry()
    first.record(recorded)
    assert first.get(recorded.url) == recorded
    fresh = Archive(root)
    assert fresh.get(recorded.url) == recorded
    assert fresh.get("https://unknown.example/") is None
    assert json.loads(index_lines(root)[0])["sha256"] == SHA


def test_get_on_an_empty_archive(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "nothing-here")
    assert archive.get("https://a.example/feed") is None
    assert archive.index() == {}


def test_last_line_for_a_url_wins(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    archive = Archive(root)
    newer = entry(sha="b" * 64, etag='"v2"')
    archive.record(entry())
    archive.record(newer)
    assert len(index_lines(root)) == 2
    assert archive.get(newer.url) == newer
    assert Archive(root).get(newer.url) == newer


def test_identical_rerecord_does_not_append(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    Archive(root).record(entry())
    again = Archive(root)
    # Same body and validators, only a later fetch time: the index already says this.
    again.record(dataclasses.replace(entry(), fetched_at="2026-11-26T06:00:00Z"))
    again.record(entry())
    assert len(index_lines(root)) == 1


def test_changed_validator_appends(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    archive = Archive(root)
    archive.record(entry())
    archive.record(entry(etag='"v2"'))
    assert len(index_lines(root)) == 2
    assert Archive(root).get(entry().url).etag == '"v2"'  # type: ignore[union-attr]


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    Archive(root).record(entry())
    with (root / "index.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"url": "https://b.example/feed", "sha2')  # a crash mid-write
    index = Archive(root).index()
    assert list(index) == ["https://a.example/feed"]
    assert index["https://a.example/feed"] == entry()


def test_line_with_unknown_fields_is_skipped(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    root.mkdir()
    good = json.dumps(dataclasses.asdict(entry()))
    (root / "index.jsonl").write_text('{"url": "x", "bogus": 1}\n' + good + "\n", encoding="utf-8")
    assert list(Archive(root).index()) == ["https://a.example/feed"]


def test_record_after_a_torn_line_survives_reload(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    Archive(root).record(entry())
    with (root / "index.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"url": "https://b.example/feed", "sha2')
    after_crash = Archive(root)
    later = entry(url="https://c.example/feed")
    after_crash.record(later)
    assert Archive(root).get(later.url) == later
