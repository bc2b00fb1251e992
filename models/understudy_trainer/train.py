"""Trains a new model version: Prophet per series and the global LSTM, both exported to ONNX with manifests.

For each series the first ``fit_fraction`` is the training data (the rest is never read). Its last
``validation_fraction`` scores every candidate (Prophet, LSTM and the three baselines) by MASE over horizon steps
1..12, so the TypeScript selector can pick per series the model that forecast it best; then Prophet is refitted
on all the training data (the LSTM keeps the weights trained before the validation part: it reads the recent
window at inference time anyway).

Writes ``<artifacts>/prophet-v<N>/`` and ``<artifacts>/lstm-v<N>/`` (N = one more than any existing version),
each through a temporary folder renamed into place, so a worker hot-reloading never sees half a version.

Usage: python -m understudy_trainer.train --data-dir DIR --artifacts DIR [--labels FILE] [--fit-fraction 1.0]
       [--epochs 12] [--only ID,ID] [--limit N] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
import torch

from . import lstm
from .data import Series, SeriesError, epoch_seconds, load_dir
from .prophet_onnx import INTERVAL_WIDTH, _z, build_graph, fit_prophet, parameters, prophet_predict

HORIZON_STEPS = 12
SEASON_STEPS = 288
SHORT_MEAN_STEPS = 6
MODELS = ["prophet", "lstm", "naive", "seasonal_naive", "short_mean"]


def mase_scale(values: np.ndarray) -> float:
    """Mean absolute one-step change over the training part: the MASE denominator (naive in-sample error)."""
    d = np.abs(np.diff(values))
    d = d[np.isfinite(d)]
    return float(d.mean()) if len(d) and d.mean() > 0 else 1.0


def baseline_forecasts(values: np.ndarray, origin: int) -> dict[str, np.ndarray]:
    """Forecasts for steps 1..H from history values[: origin + 1] (the TypeScript baselines do the same)."""
    h = np.arange(1, HORIZON_STEPS + 1)
    return {
        "naive": np.full(HORIZON_STEPS, values[origin]),
        "seasonal_naive": values[origin + h - SEASON_STEPS] if origin + 1 >= SEASON_STEPS else np.full(HORIZON_STEPS, np.nan),
        "short_mean": np.full(HORIZON_STEPS, values[origin - SHORT_MEAN_STEPS + 1 : origin + 1].mean()),
    }


def lstm_input(values_by_resource: dict[str, np.ndarray], seconds: np.ndarray, origin: int) -> np.ndarray | None:
    x = np.zeros((lstm.WINDOW, len(lstm.RESOURCES) + len(lstm.CALENDAR)), dtype=np.float32)
    lo = origin + 1 - lstm.WINDOW
    if lo < 0:
        return None
    for r, vals in values_by_resource.items():
        seg = vals[lo : origin + 1]
        if np.isnan(seg).any():
            return None
        x[:, lstm.RESOURCES.index(r)] = seg
    x[:, len(lstm.RESOURCES) :] = lstm.calendar_features(seconds[lo : origin + 1])
    return x


# Selection buckets: a request for at most 15 minutes is served by the model that validated best over steps 1..3,
# longer ones by the best over steps 1..12 (a short-horizon winner, like a short mean, often differs).
HORIZON_BUCKETS = {"15": 3, "60": HORIZON_STEPS}


def validate(
    series: Series, fit_end: int, prophet_fit, lstm_model, stride: int = 3, steps: int = HORIZON_STEPS
) -> dict[str, float]:
    """MASE (mean over steps 1..steps) of every model on series.values[fit_end:], origins every ``stride``."""
    raw = series.values.to_numpy(dtype=np.float64)
    target = series.masked().to_numpy(dtype=np.float64)
    seconds = epoch_seconds(series.values.index)
    scale = mase_scale(raw[:fit_end])
    prophet_yhat = prophet_predict(prophet_fit, series.values.index[fit_end:]) if prophet_fit else None
    errors: dict[str, list[np.ndarray]] = {m: [] for m in MODELS}
    origins = list(range(fit_end - 1, len(raw) - HORIZON_STEPS, stride))
    xs, lstm_rows = [], []
    for o in origins:
        actual = target[o + 1 : o + 1 + HORIZON_STEPS]
        if np.isnan(raw[o]) or np.isnan(actual).all():
            continue
        for name, f in baseline_forecasts(raw, o).items():
            errors[name].append(np.abs(f - actual))
        if prophet_yhat is not None:
            errors["prophet"].append(np.abs(prophet_yhat[o + 1 - fit_end : o + 1 - fit_end + HORIZON_STEPS] - actual))
        x = lstm_input({series.resource: raw}, seconds, o)
        if x is not None:
            xs.append(x)
            lstm_rows.append(actual)
    if lstm_model is not None and xs:
        yhat = lstm.predict(lstm_model, np.stack(xs))[:, :, lstm.RESOURCES.index(series.resource)]
        errors["lstm"] = [np.abs(p - a) for p, a in zip(yhat, lstm_rows)]
    out = {}
    for name, errs in errors.items():
        if errs:
            per_step = np.nanmean(np.stack(errs), axis=0)
            if np.isfinite(per_step).all():
                out[name] = float(per_step[:steps].mean() / scale)
    return out


# A series leaves the global default only for a model at least this much better on its validation part: with a
# day or two of validation, smaller differences are noise, and a wrong pick (Prophet extrapolating a trend) is
# far more costly than a slightly suboptimal default.
SELECTION_MARGIN = 0.10


def select(scores: dict[str, float], medians: dict[str, float]) -> str:
    """The model for one series: its best by validation MASE, unless that is not clearly better than the global
    default (the model with the best median MASE that needs no per-series fit)."""
    best = min(scores, key=scores.get)
    default = min((m for m in medians if m != "prophet"), key=medians.get, default=None)
    if default is None or default not in scores or best == default:
        return best
    return best if scores[best] < (1 - SELECTION_MARGIN) * scores[default] else default


def next_version(root: Path) -> int:
    found = [int(m.group(1)) for p in root.glob("*-v*") if (m := re.fullmatch(r"(?:prophet|lstm)-v(\d+)", p.name))]
    return max(found, default=0) + 1


def write_artifact(root: Path, kind: str, version: int, model_bytes: bytes, manifest: dict) -> Path:
    final = root / f"{kind}-v{version}"
    tmp = root / f".{kind}-v{version}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "model.onnx").write_bytes(model_bytes)
    manifest = {**manifest, "version": str(version), "sha256": hashlib.sha256(model_bytes).hexdigest()}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.rename(final)
    return final


def train_all(
    series: list[Series],
    artifacts: Path,
    fit_fraction: float = 1.0,
    validation_fraction: float = 0.2,
    epochs: int = 12,
    log=lambda m: print(m, file=sys.stderr),
) -> dict:
    started = time.monotonic()
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    train_parts = [s.head_fraction(fit_fraction) for s in series]
    fits_val, fits, skipped, val_ends = {}, [], {}, {}
    for s in train_parts:
        n = len(s.values)
        val_ends[s.series_id] = int(n * (1 - validation_fraction))
        try:
            fits_val[s.series_id] = fit_prophet(s.head_fraction(1 - validation_fraction))
            fits.append(fit_prophet(s))
        except SeriesError as exc:
            skipped[s.series_id] = str(exc)
            log(f"prophet: skipping {exc}")
    log(f"prophet: fitted {len(fits)} series twice in {time.monotonic() - started:.1f} s")

    t0 = time.monotonic()
    lstm_train = [s.head_fraction(1 - validation_fraction) for s in train_parts if s.series_id not in skipped]
    if not lstm_train:
        raise SeriesError("no series long enough to train on: " + "; ".join(skipped.values()))
    model = lstm.train(lstm_train, epochs=epochs, log=log)
    model.eval()
    val_parts = [
        Series(s.series_id, s.resource, s.values.iloc[val_ends[s.series_id] - lstm.WINDOW :], s.anomaly_windows)
        for s in train_parts
        if s.series_id not in skipped
    ]
    lstm.calibrate(model, val_parts, INTERVAL_WIDTH)
    log(f"lstm: trained in {time.monotonic() - t0:.1f} s")

    by_horizon = {}
    for bucket, steps in HORIZON_BUCKETS.items():
        per_series = {
            s.series_id: validate(s, val_ends[s.series_id], fits_val[s.series_id], model, steps=steps)
            for s in train_parts
            if s.series_id not in skipped
        }
        medians = {
            m: float(np.median([v[m] for v in per_series.values() if m in v]))
            for m in MODELS
            if any(m in v for v in per_series.values())
        }
        selected = {sid: select(scores, medians) for sid, scores in per_series.items()}
        by_horizon[bucket] = {"max_steps": steps, "per_series": per_series, "selected": selected, "median": medians}
    # The 1-hour bucket is also the table for any longer horizon.
    per_series, selected, medians = (by_horizon["60"][k] for k in ("per_series", "selected", "median"))
    metrics = {
        "metric": "MASE, mean over horizon steps 1..12 (5-minute steps), scale = mean |one-step change| of the fit part",
        "selection": f"lowest validation MASE if at least {SELECTION_MARGIN:.0%} below the global default's, else the default",
        "validation_fraction": validation_fraction,
        "per_series": per_series,
        "selected": selected,
        "median": medians,
        "skipped": skipped,
        "by_horizon_minutes": by_horizon,
    }
    version = next_version(artifacts)
    trained_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    window = {
        "fit_fraction": fit_fraction,
        "series": {s.series_id: [str(s.values.index[0]), str(s.values.index[-1])] for s in train_parts},
    }
    artifacts.mkdir(parents=True, exist_ok=True)

    lstm_path = artifacts / f".lstm-v{version}.onnx.tmp"
    lstm.export(model, lstm_path)
    lstm_bytes = lstm_path.read_bytes()
    lstm_path.unlink()
    lstm_dir = write_artifact(
        artifacts,
        "lstm",
        version,
        lstm_bytes,
        {
            "model_type": "lstm",
            "trained_at": trained_at,
            "parameters": {
                "window_steps": lstm.WINDOW,
                "horizon_steps": lstm.HORIZON,
                "step_minutes": 5,
                "hidden": lstm.HIDDEN,
                "resources": lstm.RESOURCES,
                "calendar": lstm.CALENDAR,
                "epochs": epochs,
                "interval": {"width": INTERVAL_WIDTH, "from": "validation |residual| quantile per step, normalised units"},
                "series": [s.series_id for s in lstm_train],
            },
            "prediction_horizon": {"minutes": 5 * lstm.HORIZON, "steps": lstm.HORIZON},
            "inputs": [
                {"name": "x", "shape": ["batch", lstm.WINDOW, 8], "features": lstm.RESOURCES + lstm.CALENDAR},
            ],
            "outputs": [{"name": n, "shape": ["batch", lstm.HORIZON, 4]} for n in ("yhat", "yhat_lower", "yhat_upper")],
            "scaling": {"kind": "per-window mean/std inside the graph", "floor": "std + 0.1*|mean| + 1e-3"},
            "training_window": window,
            "backtest_metrics": metrics,
        },
    )
    graph = build_graph(fits)
    prophet_bytes = graph.SerializeToString()
    prophet_dir = write_artifact(
        artifacts,
        "prophet",
        version,
        prophet_bytes,
        {
            "model_type": "prophet",
            "trained_at": trained_at,
            "parameters": parameters(fits),
            "prediction_horizon": {"minutes": 60, "steps": 12},
            "inputs": [
                {"name": "series", "shape": ["batch"], "features": ["series_index"]},
                {"name": "ds", "shape": ["batch", "steps"], "features": ["epoch_seconds"]},
            ],
            "outputs": [{"name": n, "shape": ["batch", "steps"]} for n in ("yhat", "yhat_lower", "yhat_upper", "trend")],
            "scaling": {"kind": "prophet absmax y_scale and t_scale per series, inside the graph"},
            "training_window": window,
            "backtest_metrics": metrics,
        },
    )
    summary = {
        "version": str(version),
        "prophet": str(prophet_dir),
        "lstm": str(lstm_dir),
        "series": len(fits),
        "skipped": skipped,
        "selected": selected,
        "selected_15m": by_horizon["15"]["selected"],
        "median_validation_mase": medians,
        "seconds": round(time.monotonic() - started, 1),
    }
    log(f"trained version {version} in {summary['seconds']} s: {prophet_dir}, {lstm_dir}")
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", required=True, type=Path)
    p.add_argument("--labels", type=Path, default=None)
    p.add_argument("--artifacts", required=True, type=Path)
    p.add_argument("--fit-fraction", type=float, default=1.0)
    p.add_argument("--validation-fraction", type=float, default=0.2)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--only", default=None, help="comma-separated series ids (file names without .csv)")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    a = p.parse_args(argv)
    try:
        series = load_dir(a.data_dir, a.labels, a.only.split(",") if a.only else None, a.limit)
        if not series:
            raise SeriesError(f"{a.data_dir}: no .csv series found")
        summary = train_all(series, a.artifacts, a.fit_fraction, a.validation_fraction, a.epochs)
    except SeriesError as exc:
        print(f"train: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary) if a.json else json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
