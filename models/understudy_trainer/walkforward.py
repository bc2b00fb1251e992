"""The live retrain schedule replayed over a folder of traces, for bench:policy: models that never saw the future.

Each CSV is one host's cpu demand, in percent of the host. The live system retrains daily at 03:00 UTC on every host's
last eleven weeks (src/forecast/retraining.ts; bench:policy passes it as ``--window-days``); here retrain ``k`` runs
``train_all`` (the trainer itself, selection included) on every trace cut at its own ``k``-th 03:00 UTC after its
first two days, on the ``--window-days`` before that cut, and writes ``<out>/retrain-<k>/`` (``prophet-v1``,
``lstm-v1``). Traces start at different dates, so the fleet is aligned on each trace's own schedule: no trace
contributes a sample from after the cut of the retrain that serves it. Label windows (``--labels``) are masked only
once they have ended before the cut: an operator's record of an incident, known at the time.

``<out>/walkforward.json`` lists, per retrain, each trace's cut (epoch ms), so the benchmark uses for a decision at
time t the newest retrain whose cut is at or before t, and no learned model before the first.

Usage: python -m understudy_trainer.walkforward --traces-dir DIR --out DIR [--labels FILE] [--window-days 77]
       [--retrain-days 1] [--epochs 12] [--max-retrains N]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import pandas as pd

from .data import MIN_TRAIN_STEPS, STEP, Series, SeriesError, load_dir
from .train import VALIDATION_FRACTION, train_all

RETRAIN_HOUR_UTC = 3
# The trainer fits on all but the validation part, which alone must hold MIN_TRAIN_STEPS.
READY_STEPS = math.ceil(MIN_TRAIN_STEPS / (1 - VALIDATION_FRACTION))


def first_cut(start: pd.Timestamp) -> pd.Timestamp:
    """The first scheduled retrain (03:00 UTC) at which a trace starting at ``start`` has enough history for the
    trainer to fit it (READY_STEPS samples)."""
    ready = start + READY_STEPS * STEP
    cut = ready.normalize() + pd.Timedelta(hours=RETRAIN_HOUR_UTC)
    return cut if cut >= ready else cut + pd.Timedelta(days=1)


def cut_series(s: Series, cut: pd.Timestamp, window: pd.Timedelta) -> Series:
    """The trace's samples in ``[cut - window, cut)``, with the label windows that had ended by then."""
    values = s.values[(s.values.index >= cut - window) & (s.values.index < cut)]
    known = [(a, b) for a, b in s.anomaly_windows if b < cut]
    return Series(s.series_id, s.resource, values, known)


def plan(series: list[Series], retrain_days: float, max_retrains: int | None) -> list[dict[str, pd.Timestamp]]:
    """Per retrain, the cut of every trace that still has data after it."""
    every = pd.Timedelta(days=retrain_days)
    retrains: list[dict[str, pd.Timestamp]] = []
    k = 0
    while max_retrains is None or k < max_retrains:
        cuts = {}
        for s in series:
            cut = first_cut(s.values.index[0]) + k * every
            if cut <= s.values.index[-1]:
                cuts[s.series_id] = cut
        if not cuts:
            break
        retrains.append(cuts)
        k += 1
    return retrains


def run(
    traces_dir: Path,
    out: Path,
    labels: Path | None = None,
    window_days: float = 77.0,
    retrain_days: float = 1.0,
    epochs: int = 12,
    max_retrains: int | None = None,
    log=lambda m: print(m, file=sys.stderr),
) -> dict:
    loaded = load_dir(traces_dir, labels)
    if not loaded:
        raise SeriesError(f"{traces_dir}: no .csv traces")
    # Every trace is the cpu demand of one host, named as the forecaster names a host's cpu series.
    series = [Series(f"{s.series_id}/cpu", "cpu", s.values, s.anomaly_windows) for s in loaded]
    window = pd.Timedelta(days=window_days)
    retrains = plan(series, retrain_days, max_retrains)
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    index = []
    for k, cuts in enumerate(retrains):
        parts = [cut_series(s, cuts[s.series_id], window) for s in series if s.series_id in cuts]
        folder = out / f"retrain-{k}"
        t0 = time.monotonic()
        try:
            summary = train_all(parts, folder, epochs=epochs, log=lambda m: None, source={"source": "walk-forward"})
        except SeriesError as exc:
            # As a failed scheduled retrain: the models of the previous one keep serving.
            log(f"walk-forward: retrain {k + 1}/{len(retrains)} skipped: {str(exc)[:300]}")
            continue
        seconds = round(time.monotonic() - t0, 1)
        log(f"walk-forward: retrain {k + 1}/{len(retrains)} on {len(parts)} traces in {seconds} s")
        index.append(
            {
                "folder": folder.name,
                "cuts": {sid: int(cut.value // 1_000_000) for sid, cut in cuts.items()},
                "selected": summary["selected"],
                "selected15m": summary["selected_15m"],
                "skipped": summary["skipped"],
                "seconds": seconds,
            }
        )
    result = {
        "retrainHourUtc": RETRAIN_HOUR_UTC,
        "windowDays": window_days,
        "retrainDays": retrain_days,
        "epochs": epochs,
        "retrains": index,
        "seconds": round(time.monotonic() - started, 1),
    }
    (out / "walkforward.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--traces-dir", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--labels", type=Path, default=None)
    p.add_argument("--window-days", type=float, default=77.0)
    p.add_argument("--retrain-days", type=float, default=1.0)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--max-retrains", type=int, default=None)
    a = p.parse_args(argv)
    if not (a.window_days > 0 and a.retrain_days > 0 and a.epochs > 0):
        p.error("--window-days, --retrain-days and --epochs must be above 0")
    try:
        result = run(a.traces_dir, a.out, a.labels, a.window_days, a.retrain_days, a.epochs, a.max_retrains)
    except SeriesError as exc:
        print(f"walkforward: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"retrains": len(result["retrains"]), "seconds": result["seconds"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
