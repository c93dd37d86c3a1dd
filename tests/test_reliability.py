"""A few SIGKILL trials of scripts/reliability.py (the full 50-trial run is the script itself)."""

from __future__ import annotations

import importlib.util
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow  # SIGKILL trials of whole runs: `make test-fast` leaves it out


def _script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("reliability", ROOT / "scripts" / "reliability.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["reliability"] = module
    spec.loader.exec_module(module)
    return module


def test_killed_runs_lose_nothing_and_end_like_a_clean_run() -> None:
    reliability = _script()
    # Slow faults cost each run their whole limit; tests/test_fetch.py and test_workers.py cover them.
    reliability.SKIPPED.update(reliability.SLOW_FAULTS)
    report = reliability.run_trials(3, seed=7, stages=["fetch", "parse", "extract"], overlap=False)
    assert report["lost"] == 0
    assert report["integrity_failures"] == 0
    assert report["survived"] == report["same"] == 3, report["results"]
    summary = report["summary"]
    # The clean run met every fault and recorded each one instead of stopping.
    for state in ("extracted", "duplicate", "extract_failed", "too_large", "blocked", "sources_failed"):
        assert summary.get(state, 0) >= 1, state
    assert report["faults"]["gzip_bomb"] >= 1 and report["faults"]["entity_bomb"] >= 1
    assert report["faults"]["quadratic_entities"] >= 1 and report["faults"]["credentials_in_url"] >= 1
    assert summary["sources_quarantined"] == 2  # both entity feeds, refused before parsing
    assert summary["leaks"] == []  # the feed URL's token and the environment behind a symlink
    assert summary["store_bytes"] < 5_000_000
    # Nothing slow was served, so nothing waited for a limit (a count, not the clock, says so).
    assert summary.get("extract_timeouts", 0) == 0
    assert not [d for d in report["clean_documents"] if "timeout" in str(d[2]) or "longer than" in str(d[2])]
