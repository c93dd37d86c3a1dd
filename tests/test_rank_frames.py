"""The rank stage's frames: suggestions survive the trip through a DataFrame and Parquet."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pipeline.rank import Suggestion
from pipeline.rank_frames import SUGGESTIONS, suggestions_frame, suggestions_from_frame


def test_suggestions_survive_a_frame_round_trip(tmp_path: Path) -> None:
    made = [
        Suggestion("i1", "c1", "d1", 1, 0.81, "int1", "kafka", None, "best", {"dense": 0.7, "lexical": 1.0}),
        Suggestion("i2", "c1", "d2", 2, 0.5, "int1", "kafka", "said it", "p", {"dense": 0.4, "feedback": 0.9}),
    ]
    frame = suggestions_frame(made)
    assert list(frame.columns) == list(SUGGESTIONS)
    assert json.loads(frame["parts"].iloc[1]) == {"dense": 0.4, "feedback": 0.9}
    parquet = tmp_path / "s.parquet"
    frame.to_parquet(parquet)
    assert suggestions_from_frame(pd.read_parquet(parquet)) == made
