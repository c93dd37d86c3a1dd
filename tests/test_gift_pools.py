"""The pool analysis (benchmarks/gift_pools.py): its figures on hand-made pools, where the answer is known."""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

import numpy as np
import pytest
from conftest import ROOT


def _module() -> Any:
    spec = importlib.util.spec_from_file_location("gift_pools", ROOT / "benchmarks" / "gift_pools.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gift_pools"] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


gp = _module()


def _row(group: str, useful: bool, dense: float, coverage: float = 1.0, shown: float | None = None) -> Any:
    return gp.Judged(group, useful, dense if shown is None else shown, dense, dense - 0.1, 0.5, coverage)


def test_auc_and_precision_at_k_per_pool() -> None:
    # Pool a: useful documents ranked 1st and 3rd of four; pool b: a perfect order.
    rows = [
        _row("a", True, 0.9), _row("a", False, 0.8), _row("a", True, 0.7), _row("a", False, 0.6),
        _row("b", True, 0.9), _row("b", False, 0.1),
    ]  # fmt: skip
    f = gp.figures(rows, np.array([r.dense for r in rows]))
    assert f["auc"] == pytest.approx((0.75 + 1.0) / 2)  # a: 3 of 4 (useful, not) pairs in order
    assert f["p@1"] == 1.0
    assert f["p@3"] == pytest.approx((2 / 3 + 1 / 2) / 2)  # b has two documents: its top 3 is both
    assert f["p@5"] == pytest.approx((2 / 4 + 1 / 2) / 2)
    assert gp.auc(np.array([0.5]), np.array([0.5])) == 0.5 and gp.auc(np.array([]), np.array([0.1])) is None


def test_the_coverage_gate_sinks_a_document_under_the_share() -> None:
    rows = [_row("a", False, 0.9, coverage=0.2), _row("a", True, 0.8, coverage=0.9)]
    gated = gp.scorers()["coverage>=0.5"](rows)
    assert gated[1] > gated[0]
    assert gp.figures(rows, gated)["p@1"] == 1.0 and gp.figures(rows, gp.scorers()["shown"](rows))["p@1"] == 0.0


def test_the_learned_score_is_fitted_on_other_pools_and_learns_what_they_teach() -> None:
    # In the training pools useful documents have the higher dense score; the test pool's order follows.
    rng = np.random.default_rng(7)
    train = [_row(f"t{g}", bool(u), 0.5 + 0.3 * u + 0.05 * rng.random()) for g in range(4) for u in (0, 1) * 5]
    test = [_row("x", True, 0.75), _row("x", False, 0.52)]
    scores = gp.learned(train, test)
    assert scores[0] > scores[1]
    gaps = gp.features(test)[:, gp.FEATURES.index("gap")]
    assert list(gaps) == pytest.approx([0.0, 0.52 - 0.75])  # the gap to the pool's best dense score
