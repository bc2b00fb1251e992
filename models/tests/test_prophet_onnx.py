"""The exported Prophet graph reproduces prophet's own predict on timestamps the fit never saw."""

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest

from understudy_trainer.data import STEP, Series, SeriesError, epoch_seconds
from understudy_trainer.prophet_onnx import build_graph, fit_prophet, prophet_predict


def synthetic(series_id: str, days: float, level: float, trend: float, seed: int, per_day: int = 288) -> Series:
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2026-01-05 00:03:00", periods=int(days * per_day), freq=pd.Timedelta(days=1) / per_day)
    t = np.arange(len(idx)) / per_day
    daily = 10 * np.sin(2 * np.pi * t) + 3 * np.cos(4 * np.pi * t)
    weekly = 4 * np.sin(2 * np.pi * t / 7) + 3 * np.sin(2 * np.pi * t / 30.5)
    kink = np.where(t > days * 0.6, (t - days * 0.6) * 2 * trend, 0)
    y = level + trend * t + kink + daily + weekly + rng.normal(0, 1.0, len(idx))
    return Series(series_id, "cpu", pd.Series(y, index=idx))


@pytest.fixture(scope="module")
def fitted():
    series = [
        synthetic("a", 15, 40, 0.5, 1),
        synthetic("b", 3, 20, -1.0, 2),
        synthetic("c", 20, 5, 0.1, 3),
        # Hourly for 80 days: enough history for weekly and monthly seasonality (two cycles each).
        synthetic("d", 80, 60, 0.05, 4, per_day=24),
    ]
    # An anomaly window in "a": a spike that masking must keep out of the fit.
    a = series[0]
    a.values.iloc[1000:1020] += 500
    a.anomaly_windows = [(a.values.index[995], a.values.index[1025])]
    train = [s.head_fraction(0.8) for s in series]
    return series, [fit_prophet(s) for s in train]


def test_seasonalities_follow_history_length(fitted):
    _, fits = fitted
    assert fits[0].seasonalities == ["daily"]  # 12 days of training: under two weekly cycles
    assert fits[1].seasonalities == ["daily"]
    assert fits[2].seasonalities == ["daily", "weekly"]  # 16 days of training
    assert fits[3].seasonalities == ["daily", "weekly", "monthly"]  # 64 days of training


def test_onnx_yhat_matches_prophet_predict_on_unseen_timestamps(fitted):
    series, fits = fitted
    session = ort.InferenceSession(build_graph(fits).SerializeToString())
    # Many series in one run, in a shuffled order, each on its own unseen future timestamps (irregular too).
    order = [2, 0, 3, 1, 0, 3]
    rows, refs = [], []
    for i in order:
        test_idx = series[i].values.index[int(len(series[i].values) * 0.8) :][:100]
        test_idx = test_idx + pd.to_timedelta(np.arange(len(test_idx)) % 7, unit="s")
        rows.append(epoch_seconds(test_idx))
        refs.append(prophet_predict(fits[i], test_idx))
    out = session.run(["yhat", "yhat_lower", "yhat_upper"], {"series": np.array(order, dtype=np.int64), "ds": np.stack(rows)})
    yhat = out[0]
    for got, ref in zip(yhat, refs):
        rel = np.abs(got - ref) / np.maximum(np.abs(ref), 1e-9)
        assert rel.max() < 1e-6, rel.max()
    assert (out[1] < yhat).all() and (out[2] > yhat).all()


def test_anomaly_window_is_masked_out_of_the_fit(fitted):
    series, fits = fitted
    # Prophet's fitted values inside the masked spike stay near the clean signal, far below the +500 spike.
    idx = series[0].values.index[1000:1020]
    assert np.abs(prophet_predict(fits[0], idx) - series[0].values.iloc[1000:1020].to_numpy()).min() > 400


def test_too_short_series_is_refused_by_name():
    with pytest.raises(SeriesError, match="series tiny"):
        fit_prophet(synthetic("tiny", 1, 10, 0, 4))


def test_level_shifts_average_the_last_known_residuals():
    from understudy_trainer.prophet_onnx import LEVEL_STEPS, level_shifts

    assert LEVEL_STEPS == 6
    yhat = np.full(10, np.nan)
    yhat[2:] = 10.0
    actual = np.array([0, 0, 11, 12, 13, np.nan, 15, 16, 17, 18], dtype=float)
    shifts = level_shifts(actual, yhat)
    # Nothing known before step 2; then the mean residual of the known steps among the last six.
    assert shifts[0] == 0 and shifts[1] == 0
    assert shifts[2] == 1 and shifts[4] == 2
    assert shifts[7] == np.mean([1, 2, 3, 5, 6])
    assert shifts[9] == np.mean([3, 5, 6, 7, 8])
