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


def test_selection_prefers_the_simplest_model_near_the_best():
    from understudy_trainer.train import select

    # Within 5% of the best: the simplest wins (the LSTM's 3% edge is noise on a day or two of validation).
    assert select({"lstm": 0.67, "short_mean": 0.69, "seasonal_naive": 0.68, "naive": 0.9}) == "short_mean"
    assert select({"lstm": 0.60, "short_mean": 0.69, "seasonal_naive": 0.68, "naive": 0.9}) == "lstm"
    # A seasonal model is not forced on a series where persistence does as well.
    assert select({"lstm": 0.8, "seasonal_naive": 0.70, "naive": 0.72}) == "naive"
    # Prophet only when clearly better than every other model.
    assert select({"prophet": 0.65, "lstm": 0.67, "naive": 0.9}) == "lstm"
    assert select({"prophet": 0.5, "lstm": 0.67, "naive": 0.9}) == "prophet"
    assert select({"prophet": 0.5}) == "prophet"


def test_validation_scores_every_model_at_the_selection_leads_even_without_prophet():
    from understudy_trainer.data import Series
    from understudy_trainer.train import HORIZON_BUCKETS, validate

    index = pd.date_range("2026-01-01", periods=3 * 288, freq="5min")
    values = pd.Series(50 + 10 * np.sin(np.arange(len(index)) * 2 * np.pi / 288), index=index)
    scores = validate(Series("s", "cpu", values), 2 * 288, None, None, sorted(HORIZON_BUCKETS.values()))
    assert set(scores) == {3, 12}
    assert set(scores[3]) == {"naive", "seasonal_naive", "short_mean"}
    # A clean daily cycle: seasonal-naive is exact, persistence is not, and further ahead is harder for it.
    assert scores[3]["seasonal_naive"] < 1e-9 < scores[3]["naive"] < scores[12]["naive"]


def test_a_timestamp_in_the_future_is_refused_naming_the_file(tmp_path):
    ahead = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    with pytest.raises(SeriesError, match=r"ahead.csv: timestamp .* on data row 2 is in the future"):
        load_csv(write(tmp_path, [("2014-01-01 00:00:00", 1), (ahead, 2)], "ahead.csv"))


def test_a_series_too_short_to_train_is_refused_naming_it(tmp_path):
    from understudy_trainer.data import load_dir
    from understudy_trainer.train import train_all

    day = pd.date_range("2014-01-01", periods=288, freq="5min")
    write(tmp_path, [(t, 10 + i % 7) for i, t in enumerate(day)], "one_day.csv")
    with pytest.raises(SeriesError, match=r"no series long enough to train on: series one_day: \d+ usable samples"):
        train_all(load_dir(tmp_path), tmp_path / "artifacts", epochs=1, log=lambda m: None)
    assert not (tmp_path / "artifacts").exists()  # nothing half-written


def test_series_names_map_to_resources_as_the_shared_examples_say():
    from understudy_trainer.data import SERIES_RESOURCES, resource_of

    assert len(SERIES_RESOURCES["examples"]) >= 10
    for name, resource in SERIES_RESOURCES["examples"]:
        assert resource_of(name) == resource, name


def test_grid_is_aligned_to_the_clock_not_the_first_sample(tmp_path):
    rows = [("2014-02-14 14:27:00", 1), ("2014-02-14 14:32:00", 2), ("2014-02-14 14:37:00", 3)]
    s = load_csv(write(tmp_path, rows))
    assert list(s.index) == [pd.Timestamp("2014-02-14 14:25:00"), pd.Timestamp("2014-02-14 14:30:00"),
                             pd.Timestamp("2014-02-14 14:35:00")]
    assert list(s.values) == [1, 2, 3]
