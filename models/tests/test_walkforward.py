"""Walk-forward retrains for bench:policy: the schedule's cuts, and nothing at or after a cut in its training data."""

import numpy as np
import pandas as pd

from understudy_trainer.data import MIN_TRAIN_STEPS, STEP, Series
from understudy_trainer.walkforward import READY_STEPS, cut_series, first_cut, plan


def series(start: str, days: float, name: str = "h/cpu", windows=None) -> Series:
    index = pd.date_range(start, periods=int(days * 288), freq=STEP)
    return Series(name, "cpu", pd.Series(np.arange(len(index), dtype=float), index=index), windows or [])


def test_the_first_cut_is_the_first_3am_with_two_days_to_fit_besides_the_validation_part():
    # Two days to fit are 2.5 days with the validation fifth.
    assert READY_STEPS == 720 and MIN_TRAIN_STEPS == 576
    assert first_cut(pd.Timestamp("2014-02-14 14:30")) == pd.Timestamp("2014-02-17 03:00")
    assert first_cut(pd.Timestamp("2014-02-14 15:05")) == pd.Timestamp("2014-02-18 03:00")
    # Exactly enough history at 03:00 is enough.
    start = pd.Timestamp("2014-02-13 15:00")
    assert start + READY_STEPS * STEP == pd.Timestamp("2014-02-16 03:00")
    assert first_cut(start) == pd.Timestamp("2014-02-16 03:00")


def test_each_trace_is_cut_on_its_own_schedule_until_it_ends():
    a = series("2014-02-14 14:30", 5, "a/cpu")
    b = series("2026-01-05 00:00", 3.5, "b/cpu")
    retrains = plan([a, b], retrain_days=1, max_retrains=None)
    # a: cut on 17, 18 and 19 February; b (ends 8 January, 11:55) on 8 January only.
    assert [sorted(r) for r in retrains] == [["a/cpu", "b/cpu"], ["a/cpu"], ["a/cpu"]]
    assert retrains[0]["b/cpu"] == pd.Timestamp("2026-01-08 03:00")
    assert retrains[2]["a/cpu"] == pd.Timestamp("2014-02-19 03:00")


def test_a_cut_trains_on_the_window_before_it_and_only_labels_that_had_ended():
    s = series(
        "2014-02-01 00:00",
        20,
        windows=[
            (pd.Timestamp("2014-02-03 00:00"), pd.Timestamp("2014-02-03 06:00")),
            (pd.Timestamp("2014-02-16 23:00"), pd.Timestamp("2014-02-17 05:00")),
        ],
    )
    cut = pd.Timestamp("2014-02-17 03:00")
    part = cut_series(s, cut, pd.Timedelta(days=14))
    assert part.values.index.max() < cut
    assert part.values.index.min() == cut - pd.Timedelta(days=14)
    # The incident still open at the cut is not known yet: only the first window is masked.
    assert part.anomaly_windows == [s.anomaly_windows[0]]
