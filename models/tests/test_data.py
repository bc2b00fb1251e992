"""Cleaning: irregular steps, duplicates, gaps; bad input is refused with the file name."""

import numpy as np
import pandas as pd
import pytest

from understudy_trainer.data import SeriesError, load_csv


def write(tmp_path, rows, name="s.csv"):
    p = tmp_path / name
    p.write_text("timestamp,value\n" + "\n".join(f"{t},{v}" for t, v in rows) + "\n")
    return p


def test_duplicates_gaps_and_irregular_steps(tmp_path):
    rows = [("2014-03-09 01:50:00", 1), ("2014-03-09 01:55:00", 2), ("2014-03-09 03:00:00", 4),
            ("2014-03-09 03:00:00", 6), ("2014-03-09 03:06:00", 7), ("2014-03-09 03:10:00", 8)]
    s = load_csv(write(tmp_path, rows))
    assert s.index.to_series().diff().dropna().eq(pd.Timedelta(minutes=5)).all()
    assert s.iloc[0] == 1 and not s.isna().any()
    assert s[pd.Timestamp("2014-03-09 03:00:00")] == pytest.approx(5.0)  # 1 h gap interpolated, duplicates averaged


def test_negative_and_nan_are_refused_naming_the_file(tmp_path):
    with pytest.raises(SeriesError, match="neg.csv.*negative"):
        load_csv(write(tmp_path, [("2014-01-01 00:00:00", 1), ("2014-01-01 00:05:00", -2)], "neg.csv"))
    with pytest.raises(SeriesError, match="nan.csv"):
        load_csv(write(tmp_path, [("2014-01-01 00:00:00", 1), ("2014-01-01 00:05:00", "x")], "nan.csv"))


def test_selection_keeps_the_global_default_unless_clearly_beaten():
    from understudy_trainer.train import select

    medians = {"prophet": 0.9, "lstm": 0.7, "naive": 1.0, "short_mean": 0.8}
    assert select({"prophet": 0.65, "lstm": 0.67, "naive": 0.9}, medians) == "lstm"  # 3% better: noise
    assert select({"prophet": 0.5, "lstm": 0.67, "naive": 0.9}, medians) == "prophet"  # 25% better
    assert select({"naive": 0.9, "short_mean": 0.95}, medians) == "naive"  # no default score: plain best
