"""The live retrain window: long enough for Prophet's monthly term, while the LSTM learns from its last two weeks."""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from understudy_trainer import train
from understudy_trainer.data import STEP, Series

# The window a scheduled retrain reads (DEFAULT_RETRAIN_DAYS in src/forecast/retraining.ts).
RETRAIN_DAYS = train.INFLUX_DAYS


def month_end_series(days: float) -> Series:
    rng = np.random.default_rng(5)
    index = pd.date_range("2026-01-05", periods=int(days * 288), freq=STEP)
    t = np.arange(len(index)) / 288
    month_end = np.where(index.day >= index.days_in_month - 1, 25.0, 0.0)
    values = 40 + 15 * np.sin(2 * np.pi * t) + month_end + rng.normal(0, 2, len(index))
    return Series("h/cpu", "cpu", pd.Series(values, index=index))


def test_last_days_keeps_the_tail_or_everything_when_shorter():
    s = month_end_series(20)
    tail = s.last_days(14)
    assert tail.values.index[-1] == s.values.index[-1]
    assert len(tail.values) == 14 * 288
    assert len(s.last_days(30).values) == len(s.values)


def test_an_eleven_week_window_fits_monthly_and_trains_the_lstm_on_two_weeks(tmp_path, monkeypatch):
    series = month_end_series(RETRAIN_DAYS)
    spans, fitted = [], []
    real_train = train.lstm.train
    real_fit = train.fit_prophet

    def recording_fit(s):
        fit = real_fit(s)
        fitted.append(fit.seasonalities)
        return fit

    def recording_train(parts, **kwargs):
        spans.extend((p.values.index[0], p.values.index[-1]) for p in parts)
        return real_train(parts, **{**kwargs, "epochs": 1})

    monkeypatch.setattr(train.lstm, "train", recording_train)
    monkeypatch.setattr(train, "fit_prophet", recording_fit)
    summary = train.train_all([series], tmp_path, epochs=1, log=lambda m: None)

    prophet = json.loads((Path(summary["prophet"]) / "manifest.json").read_text())
    assert prophet["parameters"]["series"][0]["seasonalities"] == ["daily", "weekly", "monthly"]
    # The fit that validation scores (on the window's first 80%) holds the monthly term as well as the final one.
    assert fitted == [["daily", "weekly", "monthly"]] * 2
    assert "prophet" in summary["median_validation_mase"]

    fit_end = series.head_fraction(1 - train.VALIDATION_FRACTION).values.index[-1]
    assert len(spans) == 1
    start, end = spans[0]
    assert end == fit_end
    assert end - start < pd.Timedelta(days=train.LSTM_TRAIN_DAYS)
    assert end - start >= pd.Timedelta(days=train.LSTM_TRAIN_DAYS) - 2 * STEP
    lstm = json.loads((Path(summary["lstm"]) / "manifest.json").read_text())
    assert lstm["parameters"]["train_days"] == train.LSTM_TRAIN_DAYS
