"""Learning from feedback: a logistic re-ranker over score parts, trained on the user's sent/skip decisions.

It is trained once enough decisions exist, checked on a time-ordered split (the newest decisions
held out), and used only when it ranks the held-out decisions better than the base score. It is
saved as JSON under the workspace's `models/` (numbers, never a pickle) with its training date,
size and held-out metric, and applied with numpy, so ranking never imports scikit-learn.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.db.states import ActionKind
from pipeline.errors import ModelError

MODEL_FILE = "feedback.json"
NUMERIC = ("dense", "lexical", "fused", "freshness", "interest_weight", "inferred", "score", "log_words")
CATEGORICAL = ("source_id", "doc_kind", "interest_kind")
MIN_CATEGORY_COUNT = 2  # a source seen once says nothing general
POSITIVE = ActionKind.SENT
NEGATIVE = (ActionKind.SKIP, ActionKind.NEVER)


@dataclass(frozen=True, slots=True)
class Example:
    at: dt.datetime
    features: Mapping[str, Any]
    label: int  # 1 sent, 0 skipped or refused


@dataclass(frozen=True, slots=True)
class FeedbackModel:
    names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    categories: dict[str, tuple[str, ...]]
    trained_at: str
    size: int  # decisions it was trained on
    metric: float  # held-out ROC AUC of the model
    base_metric: float  # held-out ROC AUC of the base score
    used: bool  # False when the base ranking did as well or better on the held-out decisions

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Probability that the user sends each suggestion."""
        x = (_matrix(rows, self.names, self.categories) - np.array(self.mean)) / np.array(self.scale)
        return np.asarray(1.0 / (1.0 + np.exp(-(x @ np.array(self.coef) + self.intercept))), dtype=np.float64)


def features(
    parts: Mapping[str, Any], *, words: float, doc_kind: str, source_id: str, interest_kind: str
) -> dict[str, Any]:
    """The feature row of one suggestion, the same at decision time and at ranking time."""
    return {
        **{k: float(parts.get(k, 0.0) or 0.0) for k in NUMERIC if k not in ("log_words", "score")},
        "score": float(parts.get("score", 0.0) or 0.0),
        "log_words": math.log1p(max(float(words or 0), 0.0)),
        "source_id": source_id,
        "doc_kind": doc_kind,
        "interest_kind": interest_kind,
    }


def examples_from_actions(rows: Iterable[Mapping[str, Any]]) -> list[Example]:
    """Training examples from action rows (action, at, features JSON); others are ignored."""
    out = []
    for r in rows:
        if r["action"] not in (POSITIVE, *NEGATIVE) or not r["features"]:
            continue
        raw = json.loads(r["features"])
        row = features(
            raw,
            words=raw.get("words", 0),
            doc_kind=str(raw.get("doc_kind", "")),
            source_id=str(raw.get("source_id", "")),
            interest_kind=str(raw.get("interest_kind", "said")),
        )
        out.append(Example(dt.datetime.fromisoformat(r["at"]), row, 1 if r["action"] == POSITIVE else 0))
    return out


def _matrix(
    rows: Sequence[Mapping[str, Any]], names: Sequence[str], categories: Mapping[str, Sequence[str]]
) -> np.ndarray:
    columns = {name: i for i, name in enumerate(names)}
    x = np.zeros((len(rows), len(names)), dtype=np.float64)
    for r, row in enumerate(rows):
        for name in NUMERIC:
            if name in columns:
                x[r, columns[name]] = float(row.get(name, 0.0) or 0.0)
        for col, values in categories.items():
            value = str(row.get(col, ""))
            if value in values:
                x[r, columns[f"{col}={value}"]] = 1.0
    return x


def _fit(
    examples: Sequence[Example],
) -> tuple[Any, tuple[str, ...], dict[str, tuple[str, ...]], np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    categories = {}
    for col in CATEGORICAL:
        counts = Counter(str(e.features.get(col, "")) for e in examples)
        categories[col] = tuple(sorted(v for v, n in counts.items() if n >= MIN_CATEGORY_COUNT))
    names = (*NUMERIC, *(f"{col}={v}" for col, values in categories.items() for v in values))
    x = _matrix([e.features for e in examples], names, categories)
    mean = x.mean(axis=0)
    scale = np.where(x.std(axis=0) > 1e-9, x.std(axis=0), 1.0)
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000)
    model.fit((x - mean) / scale, [e.label for e in examples])
    return model, names, categories, mean, scale


def _auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def train(examples: Sequence[Example], holdout: float, now: dt.datetime) -> FeedbackModel | None:
    """Fit on the older decisions, compare with the base score on the newest `holdout` share, refit on all.

    Returns None when either the training part or the held-out part lacks a sent or a skipped
    example: then no honest comparison is possible and the base ranking stays.
    """
    ordered = sorted(examples, key=lambda e: e.at)
    cut = round(len(ordered) * (1 - holdout))
    fit_part, held = ordered[:cut], ordered[cut:]
    if len({e.label for e in fit_part}) < 2 or len({e.label for e in held}) < 2:
        return None
    model, names, categories, mean, scale = _fit(fit_part)
    held_x = (_matrix([e.features for e in held], names, categories) - mean) / scale
    labels = [e.label for e in held]
    metric = _auc(labels, model.decision_function(held_x))
    base_metric = _auc(labels, [float(e.features.get("score", 0.0)) for e in held])
    model, names, categories, mean, scale = _fit(ordered)
    return FeedbackModel(
        names=names,
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        coef=tuple(float(v) for v in model.coef_[0]),
        intercept=float(model.intercept_[0]),
        categories=categories,
        trained_at=now.isoformat(timespec="seconds"),
        size=len(ordered),
        metric=round(metric, 4),
        base_metric=round(base_metric, 4),
        used=metric > base_metric,
    )


def save(model: FeedbackModel, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MODEL_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(dataclasses.asdict(model), indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
    return path


def load(folder: Path) -> FeedbackModel | None:
    path = folder / MODEL_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["categories"] = {k: tuple(v) for k, v in data["categories"].items()}
        for key in ("names", "mean", "scale", "coef"):
            data[key] = tuple(data[key])
        return FeedbackModel(**data)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ModelError(f"{path}: unreadable feedback model ({exc}); delete it to retrain") from None


def rerank_order(model: FeedbackModel, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indexes of `rows` by the model's probability, best first; ties keep the base order."""
    if not rows:
        return []
    probability = model.predict(rows)
    return sorted(range(len(rows)), key=lambda i: (-round(float(probability[i]), 6), i))
