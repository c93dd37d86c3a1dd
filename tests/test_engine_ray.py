"""The Ray engine on a real local Ray cluster: the sample workspace gives the local engine's suggestions."""

from __future__ import annotations

import builtins
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import ray
from conftest import NOW, ROOT, SAMPLE, write_acme_interview
from pytest_httpserver import HTTPServer

from pipeline.config import load
from pipeline.engine_ray import read_parquet
from pipeline.errors import ConfigError
from pipeline.offline import keep_offline
from pipeline.runner import run

pytestmark = pytest.mark.slow  # a real local Ray cluster: `make test-fast` leaves it out


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """One local cluster for the module (each start costs seconds); runs join it instead of starting their own."""
    keep_offline()  # as the engine does before it starts a cluster: no usage statistics
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _copy_sample(target: Path) -> Path:
    shutil.copytree(SAMPLE, target, ignore=shutil.ignore_patterns("interim", "processed"))
    return target / "gifts.toml"


def _suggestions(config_path: Path) -> list[tuple[str, str, int, float]]:
    store = load(config_path).paths.store
    with sqlite3.connect(store) as db:
        rows = db.execute(
            "SELECT contact_id, doc_id, rank, score FROM suggestions WHERE active = 1 ORDER BY contact_id, rank"
        ).fetchall()
    return [(c, d, int(r), float(s)) for c, d, r, s in rows]


def test_sample_through_ray_gives_the_local_suggestions(cluster: None, tmp_path: Path) -> None:
    local_path = _copy_sample(tmp_path / "local")
    ray_path = _copy_sample(tmp_path / "ray")
    local = run(load(local_path), now=NOW)
    remote = run(load(ray_path), now=NOW, engine="ray")
    assert remote.status == local.status == "ok"
    for key in ("archive_hits", "extracted", "duplicate", "embedded", "suggestions"):
        assert remote.counts.get(key) == local.counts.get(key), key

    want, got = _suggestions(local_path), _suggestions(ray_path)
    assert len(want) == 24  # five contacts' five slots, less one below the no-filler floors
    # Same contacts, documents and ranks; scores agree to the rounding of batched int8 inference
    # (the two engines put different passages side by side in a batch).
    assert [w[:3] for w in want] == [g[:3] for g in got]
    assert max(abs(w[3] - g[3]) for w, g in zip(want, got, strict=True)) < 2e-3

    # With Ray, texts and vectors live in the Parquet datasets, not in the store.
    config = load(ray_path)
    dataset = config.paths.processed / "dataset"
    for name in ("documents", "passages", "vectors"):
        assert list((dataset / name).rglob("*.parquet")), name
    with sqlite3.connect(config.paths.store) as db:
        assert db.execute("SELECT COUNT(*) FROM documents WHERE text IS NOT NULL").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM passages").fetchone()[0] == 0
        cached = {sha for (sha,) in db.execute("SELECT sha FROM vectors")}
    passage_shas = set(read_parquet(str(dataset / "passages"), ["sha"])["sha"])
    assert len(passage_shas) == local.counts["embedded"] - len(cached)  # the store holds interest vectors only
    assert not passage_shas & cached

    # A second night re-embeds nothing and re-reads the same corpus from Parquet.
    again = run(load(ray_path), now=NOW, engine="ray")
    assert again.counts.get("embedded", 0) == 0 and again.counts.get("extracted", 0) == 0
    assert [g[:3] for g in _suggestions(ray_path)] == [g[:3] for g in got]
    report = (config.paths.processed / "reports" / NOW.date().isoformat() / "index.html").read_text("utf-8")
    assert "Priya Raman" in report


def test_a_workspace_can_switch_engines_both_ways(cluster: None, tmp_path: Path) -> None:
    path = _copy_sample(tmp_path / "ws")
    local = run(load(path), now=NOW)
    want = [s[:3] for s in _suggestions(path)]
    # Ray after local: the texts the local engine stored are read from the store.
    run(load(path), now=NOW, engine="ray")
    assert [s[:3] for s in _suggestions(path)] == want
    # Local after Ray: what Ray extracted (texts in Parquet only) is extracted again from the archive.
    fresh = _copy_sample(tmp_path / "ray-first")
    run(load(fresh), now=NOW, engine="ray")
    back = run(load(fresh), now=NOW)
    assert back.counts["extracted"] == local.counts["extracted"]
    assert [s[:3] for s in _suggestions(fresh)] == want


def test_ray_workers_fetch_pages_from_a_live_server(cluster: None, tmp_path: Path, httpserver: HTTPServer) -> None:
    base = httpserver.url_for("").rstrip("/")
    items = "".join(
        f"<item><title>Kafka note {i}</title><link>{base}/post/{i}</link><guid>{base}/post/{i}</guid></item>"
        for i in range(3)
    )
    httpserver.expect_request("/feed.xml").respond_with_data(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Loop</title>{items}</channel></rss>',
        content_type="application/rss+xml",
    )
    bodies = (
        "Consumer lag grows when partitions rebalance too often and the stream job cannot keep up. " * 30,
        "Battery degradation depends on cycling depth, temperature and the charge rate of the storage fleet. " * 30,
    )
    for i, words in enumerate(bodies):
        httpserver.expect_request(f"/post/{i}").respond_with_data(
            f"<html><body><article><h1>Note {i}</h1><p>{words}</p></article></body></html>",
            content_type="text/html",
        )
    httpserver.expect_request("/post/2").respond_with_data("gone", status=404)
    write_acme_interview(tmp_path)
    config = tmp_path / "gifts.toml"
    config.write_text(
        f'[sources]\nfeeds = ["{base}/feed.xml"]\n[fetch]\nallow_private_networks = true\n'
        "[rank]\nmin_score = 0.1\n[ray]\nworkers = 1\n",
        encoding="utf-8",
    )
    result = run(load(config), now=NOW, engine="ray")
    assert result.counts["fetched"] == 3  # the feed, then two pages fetched by the Ray workers
    assert result.counts["extract_failed"] == 1  # the 404 page, with its reason in the store
    assert result.counts["extracted"] == 2
    with sqlite3.connect(load(config).paths.store) as db:
        reason = db.execute("SELECT reason FROM documents WHERE url LIKE '%/post/2'").fetchone()[0]
    assert "404" in reason
    assert result.counts["suggestions"] >= 1


def test_the_local_engine_never_imports_ray(tmp_path: Path) -> None:
    config = _copy_sample(tmp_path / "ws")
    code = (
        "import sys, datetime as dt; sys.path.insert(0, 'tests')\n"
        "from conftest import nightly_fake\n"
        "from pipeline.config import load\nfrom pipeline.runner import run\n"
        f"run(load({str(config)!r}), now=dt.datetime(2026, 11, 26, 6, tzinfo=dt.UTC), embedder_factory=nightly_fake)\n"
        "print('ray' in sys.modules, 'faiss' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False False"


def test_missing_ray_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_ray(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "ray" or name.startswith("ray."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ConfigError, match=r"research-gifts\[ray\]"):
        run(load(_copy_sample(tmp_path / "ws")), now=NOW, engine="ray")


def test_an_unknown_engine_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not local or ray"):
        run(load(_copy_sample(tmp_path / "ws")), now=NOW, engine="spark")


def test_a_body_missing_from_the_archive_fails_that_document_alone(tmp_path: Path) -> None:
    from pipeline.archive import Archive
    from pipeline.engine_ray import extract_bodies

    archive = Archive(tmp_path)
    sha = archive.put(b"<html><body><article><p>" + b"Readable words here. " * 40 + b"</p></article></body></html>")
    batch = pd.DataFrame(
        [("ok", sha, "html", "T", "https://example.org/a"), ("gone", "0" * 64, "html", None, "https://example.org/b")],
        columns=["id", "raw_sha", "kind", "title", "url"],
    )
    out = extract_bodies(batch, str(tmp_path)).set_index("id")
    assert out.loc["ok", "state"] == "extracted"
    assert out.loc["gone", "state"] == "extract_failed"
    assert "missing from the archive" in out.loc["gone", "reason"]


def test_embedding_workers_ask_for_a_gpu_only_when_the_cluster_has_one_and_torch_can_use_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from pipeline import engine_ray

    config = load(_copy_sample(tmp_path / "ws"))
    torch_config = dataclasses.replace(config, embed=dataclasses.replace(config.embed, backend="torch"))
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 8.0, "GPU": 2.0})
    assert engine_ray.embed_resources(torch_config)["num_gpus"] == 1
    assert "num_gpus" not in engine_ray.embed_resources(config)  # OpenVINO runs on the CPU
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0})
    assert "num_gpus" not in engine_ray.embed_resources(torch_config)


def test_a_page_that_hangs_the_extractor_is_cut_off_inside_a_ray_worker(cluster: None, tmp_path: Path) -> None:
    from pipeline.archive import Archive
    from pipeline.engine_ray import extract_bodies

    archive = Archive(tmp_path)
    slow = archive.put(("<html><body><table><tr>" + "<td>x</td>" * 300_000 + "</tr></table>").encode())
    words = b"Readable words about drift. " * 40
    good = archive.put(b"<html><body><article><p>" + words + b"</p></article></body></html>")
    batch = pd.DataFrame(
        [("slow", slow, "html", None, "https://example.org/s"), ("good", good, "html", None, "https://example.org/g")],
        columns=["id", "raw_sha", "kind", "title", "url"],
    )
    ds = ray.data.from_pandas([batch]).map_batches(
        extract_bodies, fn_kwargs={"raw": str(tmp_path), "timeout_s": 1.0}, batch_format="pandas", batch_size=None
    )
    out = ds.to_pandas().set_index("id")
    assert out.loc["slow", "state"] == "extract_failed"
    assert "longer than 1 s" in out.loc["slow", "reason"]
    assert out.loc["good", "state"] == "extracted"


def test_a_ray_run_keeps_rays_start_up_noise_out_of_the_terminal(tmp_path: Path) -> None:
    """A run that starts its own cluster: Ray's token, core-worker and Ray Data lines go to the run's
    log file; the terminal shows the summary only."""
    import subprocess
    import sys

    config = _copy_sample(tmp_path / "sample")
    gifts = Path(sys.executable).parent / "gifts"
    result = subprocess.run(
        [str(gifts), "--config", str(config), "run", "--engine", "ray"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
    assert "report:" in result.stdout


def _titles(config_path: Path) -> dict[str, str]:
    with sqlite3.connect(load(config_path).paths.store) as db:
        return dict(db.execute("SELECT id, title FROM documents WHERE state = 'extracted'").fetchall())


def test_a_workspace_of_local_files_gets_the_same_titles_and_lists_from_both_engines(
    cluster: None, tmp_path: Path
) -> None:
    """Only the sample's inbox (PDF, HTML and text files): titles come from the files' content in
    both engines, and the lists agree (scores within the int8 tolerance)."""
    paths = []
    for name in ("local", "ray"):
        path = _copy_sample(tmp_path / name)
        text = path.read_text(encoding="utf-8")
        assert 'opml = ["sources.opml"]' in text
        path.write_text(text.replace('opml = ["sources.opml"]', "opml = []"), encoding="utf-8")
        paths.append(path)
    local_path, ray_path = paths
    local = run(load(local_path), now=NOW)
    remote = run(load(ray_path), now=NOW, engine="ray")
    assert (
        local.counts["extracted"] == remote.counts["extracted"] == len(list((tmp_path / "local" / "inbox").iterdir()))
    )
    titles = _titles(local_path)
    assert titles == _titles(ray_path)
    assert not [t for t in titles.values() if t.replace(" ", "-").lower() in {"inbox", ""}]
    want, got = _suggestions(local_path), _suggestions(ray_path)
    assert want and [w[:3] for w in want] == [g[:3] for g in got]
    assert max(abs(w[3] - g[3]) for w, g in zip(want, got, strict=True)) < 2e-3


def test_a_file_ray_extracts_again_is_not_read_with_its_old_text_after_a_switch_back(
    cluster: None, tmp_path: Path
) -> None:
    """Local, then Ray after the file changed, then local again: the store never pairs the new text's
    hash with the old text (Ray keeps texts in Parquet, so it clears the column it does not fill)."""
    path = _copy_sample(tmp_path / "ws")
    path.write_text(path.read_text(encoding="utf-8").replace('opml = ["sources.opml"]', "opml = []"), encoding="utf-8")
    note = tmp_path / "ws" / "inbox" / "on-call-practices-data-teams-notes.txt"
    run(load(path), now=NOW)
    added = "A rotation that pairs each new engineer with a veteran for two weeks halved the pages that escalated."
    note.write_text(note.read_text(encoding="utf-8") + "\n\n" + added + "\n", encoding="utf-8")
    remote = run(load(path), now=NOW, engine="ray")
    assert remote.counts["extracted"] == 1
    run(load(path), now=NOW)
    with sqlite3.connect(load(path).paths.store) as db:
        texts = [t for (t,) in db.execute("SELECT text FROM documents WHERE text LIKE '%new engineer%'")]
    assert len(texts) == 1 and added in texts[0]
