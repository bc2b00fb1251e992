"""Trains a new model version: Prophet per series and the global LSTM, both exported to ONNX with manifests.

For each series the first ``fit_fraction`` is the training data (the rest is never read). Its last
``validation_fraction`` scores every candidate (Prophet, LSTM and the three baselines) by MASE at 15 minutes and at
1 hour ahead (what the backtest reports), and ``select`` picks per series and horizon the model the TypeScript
forecaster serves it with (the simplest one within a small margin of the best); then Prophet is refitted
on all the training data (the LSTM keeps the weights trained before the validation part: it reads the recent
window at inference time anyway).

Writes ``<artifacts>/prophet-v<N>/`` and ``<artifacts>/lstm-v<N>/`` (N = one more than any existing version),
each through a temporary folder renamed into place, so a worker hot-reloading never sees half a version.

Usage: python -m understudy_trainer.train --data-dir DIR --artifacts DIR [--labels FILE] [--fit-fraction 1.0]
       [--epochs 12] [--only ID,ID] [--limit N] [--json]
       python -m understudy_trainer.train --influx-url URL [--influx-db understudy] [--days 77] [--until ISO]
       [--hosts H,H] [--network-mbps N] --artifacts DIR [--json]    (the Telegraf measurements in InfluxDB 1.x)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import torch

from . import lstm
from .data import InfluxError, InfluxSource, Series, SeriesError, epoch_seconds, latest_sample, load_dir, load_influx
from .prophet_onnx import INTERVAL_WIDTH, _z, build_graph, fit_prophet, parameters, served_from

HORIZON_STEPS = 12
SEASON_STEPS = 288
SHORT_MEAN_STEPS = 6
MODELS = ["prophet", "lstm", "naive", "seasonal_naive", "short_mean"]
# The last fifth of each series' training window validates the candidates; the models are fitted on the rest first.
VALIDATION_FRACTION = 0.2
# The LSTM reads four hours at a time and learns daily and weekly shapes from two weeks of each series. A window long
# enough for Prophet's monthly term (see src/forecast/retraining.ts) would only multiply its training time.
LSTM_TRAIN_DAYS = 14
# How much InfluxDB history a retrain reads unless told: the scheduled retrain's window (DEFAULT_RETRAIN_DAYS in
# src/forecast/retraining.ts, which says why).
INFLUX_DAYS = 77.0


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


# Selection buckets, as the backtest scores them: a request for at most 15 minutes is served by the model whose
# validation error at 15 minutes ahead (step 3) was lowest, longer ones by the best at 1 hour ahead (step 12).
HORIZON_BUCKETS = {"15": 3, "60": HORIZON_STEPS}


def validate(series: Series, fit_end: int, prophet_fit, lstm_model, leads: list[int]) -> dict[int, dict[str, float]]:
    """MASE of every model at each lead (in steps) on series.values[fit_end:], from every origin there: the
    metric the backtest reports, at the same horizons. Prophet is left out when it has no fit for the series."""
    raw = series.values.to_numpy(dtype=np.float64)
    target = series.masked().to_numpy(dtype=np.float64)
    seconds = epoch_seconds(series.values.index)
    scale = mase_scale(raw[:fit_end])
    prophet_yhat, shifts = served_from(prophet_fit, series.values, fit_end) if prophet_fit else (None, None)
    errors: dict[str, list[np.ndarray]] = {m: [] for m in MODELS}
    origins = list(range(fit_end - 1, len(raw) - HORIZON_STEPS))
    xs, lstm_rows = [], []
    for o in origins:
        actual = target[o + 1 : o + 1 + HORIZON_STEPS]
        if np.isnan(raw[o]) or np.isnan(actual).all():
            continue
        for name, f in baseline_forecasts(raw, o).items():
            errors[name].append(np.abs(f - actual))
        if prophet_yhat is not None:
            errors["prophet"].append(np.abs(prophet_yhat[o + 1 : o + 1 + HORIZON_STEPS] + shifts[o] - actual))
        x = lstm_input({series.resource: raw}, seconds, o)
        if x is not None:
            xs.append(x)
            lstm_rows.append(actual)
    if lstm_model is not None and xs:
        yhat = lstm.predict(lstm_model, np.stack(xs))[:, :, lstm.RESOURCES.index(series.resource)]
        errors["lstm"] = [np.abs(p - a) for p, a in zip(yhat, lstm_rows)]
    out: dict[int, dict[str, float]] = {lead: {} for lead in leads}
    for name, errs in errors.items():
        if not errs:
            continue
        stacked = np.stack(errs)
        for lead in leads:
            column = stacked[:, lead - 1]
            if np.isfinite(column).any():
                out[lead][name] = float(np.nanmean(column) / scale)
    return out


# A validation part of a day or two ranks close models by chance. Among the models within this margin of the best,
# the simplest one wins: it has the least to get wrong on data it has not seen (a weakly seasonal series is not
# handed a seasonal or learned model for a difference that is noise).
NEAR_BEST_MARGIN = 0.05
SIMPLEST_FIRST = ["naive", "short_mean", "seasonal_naive", "lstm"]
# Prophet is fitted per series and extrapolates its trend, so a wrong pick costs far more than a slightly
# suboptimal one: it must beat every other model on the series' validation part by this much to be chosen.
PER_SERIES_FIT_MARGIN = 0.10


def select(scores: dict[str, float]) -> str:
    """The model for one series from its validation MASE at the bucket's horizon: Prophet when it is clearly
    better than every other model, else the simplest model within NEAR_BEST_MARGIN of the best."""
    others = {m: v for m, v in scores.items() if m != "prophet"}
    if not others:
        return "prophet"
    best = min(others.values())
    if "prophet" in scores and scores["prophet"] < (1 - PER_SERIES_FIT_MARGIN) * best:
        return "prophet"
    return next(m for m in SIMPLEST_FIRST if m in others and others[m] <= (1 + NEAR_BEST_MARGIN) * best)


def next_version(root: Path, number_after: list[Path] | None = None) -> int:
    """One more than any version in ``root`` or in ``number_after`` (the folders a worker also loads from, such as
    the models the repository ships): the newest model is always the highest number."""
    found = [
        int(m.group(1))
        for folder in [root, *(number_after or [])]
        for p in folder.glob("*-v*")
        if (m := re.fullmatch(r"(?:prophet|lstm)-v(\d+)", p.name))
    ]
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
    validation_fraction: float = VALIDATION_FRACTION,
    epochs: int = 12,
    log=lambda m: print(m, file=sys.stderr),
    source: dict | None = None,
    left_out: dict[str, str] | None = None,
    number_after: list[Path] | None = None,
) -> dict:
    """``source`` describes where the series came from (recorded in the training window); ``left_out`` names
    series the loader could not use and why (recorded with the ones Prophet skipped)."""
    started = time.monotonic()
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    train_parts = [s.head_fraction(fit_fraction) for s in series]
    fits_val, fits, skipped, val_ends = {}, [], dict(left_out or {}), {}
    for s in train_parts:
        n = len(s.values)
        val_ends[s.series_id] = int(n * (1 - validation_fraction))
        try:
            fit_val = fit_prophet(s.head_fraction(1 - validation_fraction))
            fits.append(fit_prophet(s))
            fits_val[s.series_id] = fit_val
        except SeriesError as exc:
            skipped[s.series_id] = str(exc)
            log(f"prophet: skipping {exc}")
    log(f"prophet: fitted {len(fits)} series twice in {time.monotonic() - started:.1f} s")

    t0 = time.monotonic()
    lstm_train = [
        s.head_fraction(1 - validation_fraction).last_days(LSTM_TRAIN_DAYS)
        for s in train_parts
        if s.series_id not in skipped
    ]
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

    # Every series is validated, also one too short for Prophet: the other models can still be compared on it.
    leads = sorted(HORIZON_BUCKETS.values())
    validated = {
        s.series_id: validate(s, val_ends[s.series_id], fits_val.get(s.series_id), model, leads) for s in train_parts
    }
    by_horizon = {}
    for bucket, lead in HORIZON_BUCKETS.items():
        per_series = {sid: scores[lead] for sid, scores in validated.items() if scores[lead]}
        medians = {
            m: float(np.median([v[m] for v in per_series.values() if m in v]))
            for m in MODELS
            if any(m in v for v in per_series.values())
        }
        selected = {sid: select(scores) for sid, scores in per_series.items()}
        by_horizon[bucket] = {"lead_steps": lead, "per_series": per_series, "selected": selected, "median": medians}
    # The 1-hour bucket is also the table for any longer horizon.
    per_series, selected, medians = (by_horizon["60"][k] for k in ("per_series", "selected", "median"))
    metrics = {
        "metric": "MASE at the bucket's lead time (15 min: step 3, 60 min: step 12; 5-minute steps), from every origin "
        "of the validation part; scale = mean |one-step change| of the fit part",
        "selection": f"Prophet if {PER_SERIES_FIT_MARGIN:.0%} below every other model, else the simplest of "
        f"{', '.join(SIMPLEST_FIRST)} within {NEAR_BEST_MARGIN:.0%} of the best validation MASE",
        "validation_fraction": validation_fraction,
        "per_series": per_series,
        "selected": selected,
        "median": medians,
        "skipped": skipped,
        "by_horizon_minutes": by_horizon,
    }
    version = next_version(artifacts, number_after)
    trained_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    window = {
        **(source or {"source": "csv"}),
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
                "train_days": LSTM_TRAIN_DAYS,
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


def influx_source(
    url: str,
    database: str,
    days: float = INFLUX_DAYS,
    until: str | None = None,
    hosts: list[str] | None = None,
    network_mbps: float | None = None,
    username_env: str = "UNDERSTUDY_INFLUX_USERNAME",
    password_env: str = "UNDERSTUDY_INFLUX_PASSWORD",
) -> InfluxSource:
    """The window ``[until - days, until)``; ``until`` defaults to just after the newest cpu sample (the data's own
    "now": a simulator's clock may run ahead of the wall clock). Credentials come from the named variables."""
    if not days > 0:
        raise SeriesError(f"InfluxDB training window: days must be above 0, got {days}")
    src = InfluxSource(
        url,
        database,
        pd.Timestamp(0),
        pd.Timestamp(0),
        hosts,
        network_mbps,
        os.environ.get(username_env) or None,
        os.environ.get(password_env),
    )
    if until:
        try:
            end = pd.Timestamp(until)
        except ValueError as exc:
            raise SeriesError(f"InfluxDB training window: cannot read the end time {until!r}") from exc
        end = end.tz_convert("UTC").tz_localize(None) if end.tzinfo else end
    else:
        latest = latest_sample(src)
        if latest is None:
            for_hosts = f" for hosts {', '.join(hosts)}" if hosts else ""
            raise SeriesError(f"InfluxDB {url} database {database}: no cpu samples{for_hosts}")
        end = latest + pd.Timedelta(minutes=5)
    src.start, src.end = end - pd.Timedelta(days=days), end
    return src


def train_from_influx(
    src: InfluxSource, artifacts: Path, fit_fraction: float = 1.0, validation_fraction: float = VALIDATION_FRACTION, epochs: int = 12,
    log=lambda m: print(m, file=sys.stderr), number_after: list[Path] | None = None,
) -> dict:
    series, left_out = load_influx(src, log)
    if not series:
        raise SeriesError(
            f"InfluxDB {src.url} database {src.database}: no usable series: "
            + "; ".join(f"{k}: {v}" for k, v in left_out.items())
        )
    log(f"influx: {len(series)} series from {src.database} between {src.start} and {src.end}")
    return train_all(
        series, artifacts, fit_fraction, validation_fraction, epochs, log, source=src.describe(), left_out=left_out,
        number_after=number_after,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, help="a folder of timestamp,value CSVs (or --influx-url)")
    p.add_argument("--influx-url", help="train on the Telegraf measurements in this InfluxDB 1.x instead")
    p.add_argument("--influx-db", default="understudy")
    p.add_argument("--days", type=float, default=INFLUX_DAYS, help="InfluxDB: how much history, ending at --until")
    p.add_argument("--until", default=None, help="InfluxDB: end of the window (ISO-8601 UTC; default now)")
    p.add_argument("--hosts", default=None, help="InfluxDB: comma-separated host tags (default all)")
    p.add_argument("--network-mbps", type=float, default=None, help="InfluxDB: link speed, to train net")
    p.add_argument("--influx-username-env", default="UNDERSTUDY_INFLUX_USERNAME")
    p.add_argument("--influx-password-env", default="UNDERSTUDY_INFLUX_PASSWORD")
    p.add_argument("--labels", type=Path, default=None)
    p.add_argument("--artifacts", required=True, type=Path)
    p.add_argument("--number-after", type=Path, action="append", default=[],
                   help="a folder whose versions the new one numbers after (repeatable; e.g. the shipped models)")
    p.add_argument("--fit-fraction", type=float, default=1.0)
    p.add_argument("--validation-fraction", type=float, default=VALIDATION_FRACTION)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--only", default=None, help="comma-separated series ids (file names without .csv)")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    a = p.parse_args(argv)
    if (a.data_dir is None) == (a.influx_url is None):
        p.error("give one of --data-dir DIR and --influx-url URL")
    try:
        if a.influx_url:
            src = influx_source(
                a.influx_url, a.influx_db, a.days, a.until, a.hosts.split(",") if a.hosts else None,
                a.network_mbps, a.influx_username_env, a.influx_password_env,
            )
            summary = train_from_influx(
                src, a.artifacts, a.fit_fraction, a.validation_fraction, a.epochs, number_after=a.number_after
            )
        else:
            series = load_dir(a.data_dir, a.labels, a.only.split(",") if a.only else None, a.limit)
            if not series:
                raise SeriesError(f"{a.data_dir}: no .csv series found")
            summary = train_all(
                series, a.artifacts, a.fit_fraction, a.validation_fraction, a.epochs, number_after=a.number_after
            )
    except (SeriesError, InfluxError) as exc:
        print(f"train: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary) if a.json else json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
