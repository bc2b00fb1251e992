"""Prophet per series, fitted by the real ``prophet`` package, exported as ONE ONNX graph for all series.

The graph reproduces ``Prophet.predict``'s ``yhat`` for additive models with linear growth (the only kind we fit):

    t      = (ds - start[s]) / t_scale[s]                          (ds in epoch seconds)
    trend  = (k[s] + sum_j [t >= cp[s,j]] * delta[s,j]) * t
             + m[s] + sum_j [t >= cp[s,j]] * (-cp[s,j] * delta[s,j])
    season = sum_i beta_sin[s,i] * sin(f_i * days) + beta_cos[s,i] * cos(f_i * days),  days = ds / 86400
    yhat   = (trend + season) * y_scale[s]

with parameters indexed by the ``series`` input (one row per fitted series; unused changepoints and absent
seasonalities are zero-padded). Everything runs in float64, so ``yhat`` matches ``prophet`` to ~1e-12.

Interval: ``yhat +/- z * sigma_obs[s] * y_scale[s]``, where ``sigma_obs`` is the observation noise Prophet
fitted and ``z`` the normal quantile of ``interval_width`` (0.8 by default). Unlike Prophet's own simulated
interval it leaves out trend uncertainty, which over a horizon of minutes to an hour is negligible.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper

from .data import MIN_TRAIN_STEPS, Series, SeriesError, epoch_seconds

for _name in ("cmdstanpy", "prophet", "prophet.plot"):
    logging.getLogger(_name).setLevel(logging.ERROR)

OPSET = 18
# Fourier components the graph knows, in this order; a series without a seasonality has zero betas for it.
SEASONALITIES: list[tuple[str, float, int]] = [("daily", 1.0, 4), ("weekly", 7.0, 3), ("monthly", 30.5, 5)]
INTERVAL_WIDTH = 0.8


@dataclass
class FittedProphet:
    series_id: str
    model: object  # prophet.Prophet
    seasonalities: list[str]
    start: float
    t_scale: float
    y_scale: float
    k: float
    m: float
    changepoints_t: np.ndarray
    deltas: np.ndarray
    beta_sin: np.ndarray  # [F]
    beta_cos: np.ndarray  # [F]
    sigma_obs: float
    train_start: str
    train_end: str


def _z(width: float) -> float:
    # Inverse normal CDF by bisection on erf: no scipy needed.
    target = 0.5 + width / 2
    lo, hi = 0.0, 10.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def fit_prophet(series: Series, mask_anomalies: bool = True) -> FittedProphet:
    from prophet import Prophet

    y = series.masked() if mask_anomalies else series.values
    y = y.dropna()
    if len(y) < MIN_TRAIN_STEPS:
        raise SeriesError(
            f"series {series.series_id}: {len(y)} usable samples, at least {MIN_TRAIN_STEPS} (two days) are needed"
        )
    span_days = (y.index[-1] - y.index[0]) / pd.Timedelta(days=1)
    # A seasonality needs two full cycles of history before it is more signal than noise.
    used = ["daily"] + (["weekly"] if span_days >= 14 else []) + (["monthly"] if span_days >= 61 else [])
    m = Prophet(
        growth="linear",
        daily_seasonality=False,
        weekly_seasonality=False,
        yearly_seasonality=False,
        seasonality_mode="additive",
        uncertainty_samples=0,
        interval_width=INTERVAL_WIDTH,
    )
    for name, period, order in SEASONALITIES:
        if name in used:
            m.add_seasonality(name=name, period=period, fourier_order=order)
    df = pd.DataFrame({"ds": y.index, "y": y.to_numpy()})
    m.fit(df)

    features, _, _, _ = m.make_all_seasonality_features(m.history)
    beta = np.nanmean(m.params["beta"], axis=0)
    by_name = dict(zip(features.columns, beta))
    bs, bc = [], []
    for name, _period, order in SEASONALITIES:
        for i in range(order):
            # Prophet's columns: <name>_delim_<2i+1> is sin of order i+1, <name>_delim_<2i+2> its cos.
            bs.append(by_name.get(f"{name}_delim_{2 * i + 1}", 0.0))
            bc.append(by_name.get(f"{name}_delim_{2 * i + 2}", 0.0))
    unknown = set(by_name) - {f"{n}_delim_{j}" for n, _, o in SEASONALITIES for j in range(1, 2 * o + 1)}
    if unknown:
        raise RuntimeError(f"unexpected Prophet features {sorted(unknown)}")
    return FittedProphet(
        series_id=series.series_id,
        model=m,
        seasonalities=used,
        start=float((m.start - pd.Timestamp("1970-01-01")).total_seconds()),
        t_scale=float(m.t_scale.total_seconds()),
        y_scale=float(m.y_scale),
        k=float(np.nanmean(m.params["k"])),
        m=float(np.nanmean(m.params["m"])),
        changepoints_t=np.asarray(m.changepoints_t, dtype=np.float64),
        deltas=np.asarray(np.nanmean(m.params["delta"], axis=0), dtype=np.float64),
        beta_sin=np.asarray(bs, dtype=np.float64),
        beta_cos=np.asarray(bc, dtype=np.float64),
        sigma_obs=float(np.nanmean(m.params["sigma_obs"])),
        train_start=str(y.index[0]),
        train_end=str(y.index[-1]),
    )


# Prophet's curve is anchored where its fit ended, and a forecast made a day later inherits whatever its trend has
# drifted since (a month-end surge near the end of the fit tilts the last trend segment; a level shift is not seen
# until the next retrain). Served forecasts keep the curve's shape and take its level from the data: they are shifted
# by the mean residual of the last LEVEL_STEPS actuals (30 minutes). The manifest records it (``level_correction``),
# so the TypeScript engine serves what validation scored.
LEVEL_STEPS = 6


def level_shifts(actual: np.ndarray, yhat: np.ndarray) -> np.ndarray:
    """Per origin o, the mean of ``actual - yhat`` over steps o-LEVEL_STEPS+1..o where both are known, else 0: what
    a forecast made at o is shifted by. ``actual`` and ``yhat`` are aligned on the same steps (yhat NaN where not
    predicted)."""
    residual = pd.Series(actual - yhat)
    return residual.rolling(LEVEL_STEPS, min_periods=1).mean().fillna(0.0).to_numpy(dtype=np.float64)


def prophet_predict(fitted: FittedProphet, timestamps: pd.DatetimeIndex) -> np.ndarray:
    """Prophet's own ``yhat`` (the reference the ONNX graph must match)."""
    out = fitted.model.predict(pd.DataFrame({"ds": timestamps}))
    return out["yhat"].to_numpy(dtype=np.float64)


def served_from(fitted: FittedProphet, values: pd.Series, first: int) -> tuple[np.ndarray, np.ndarray]:
    """What the served model forecasts from origins ``first - 1`` on: Prophet's ``yhat`` on every step of ``values``
    from LEVEL_STEPS before ``first`` (NaN before), and each origin's level shift (``level_shifts``)."""
    yhat = np.full(len(values), np.nan)
    yhat[first - LEVEL_STEPS :] = prophet_predict(fitted, values.index[first - LEVEL_STEPS :])
    return yhat, level_shifts(values.to_numpy(dtype=np.float64), yhat)


def build_graph(fits: list[FittedProphet]) -> onnx.ModelProto:
    if not fits:
        raise ValueError("no fitted series to export")
    n_cp = max(1, max(len(f.changepoints_t) for f in fits))
    # Padding changepoints sit far beyond any t the model will see (t is ~1 at the end of training) with zero delta.
    cp = np.full((len(fits), n_cp), 1e6)
    delta = np.zeros((len(fits), n_cp))
    for i, f in enumerate(fits):
        cp[i, : len(f.changepoints_t)] = f.changepoints_t
        delta[i, : len(f.deltas)] = f.deltas
    gamma = -cp * delta
    freqs = np.array([2 * np.pi * (i + 1) / period for _, period, order in SEASONALITIES for i in range(order)])
    z = _z(INTERVAL_WIDTH)

    def col(values: list[float] | np.ndarray, name: str) -> onnx.TensorProto:
        arr = np.asarray(values, dtype=np.float64).reshape(len(fits), -1)
        return helper.make_tensor(name, TensorProto.DOUBLE, list(arr.shape), arr.flatten().tolist())

    def const(name: str, arr: np.ndarray, dtype: int = TensorProto.DOUBLE) -> onnx.TensorProto:
        return helper.make_tensor(name, dtype, list(arr.shape), arr.flatten().tolist())

    inits = [
        col([f.start for f in fits], "p_start"),
        col([f.t_scale for f in fits], "p_t_scale"),
        col([f.y_scale for f in fits], "p_y_scale"),
        col([f.k for f in fits], "p_k"),
        col([f.m for f in fits], "p_m"),
        col([f.sigma_obs * f.y_scale * z for f in fits], "p_half_width"),
        const("p_cp", cp),
        const("p_delta", delta),
        const("p_gamma", gamma),
        const("p_beta_sin", np.stack([f.beta_sin for f in fits])),
        const("p_beta_cos", np.stack([f.beta_cos for f in fits])),
        const("freqs", freqs.reshape(1, 1, -1)),
        const("seconds_per_day", np.array([86400.0])),
        const("axis_1", np.array([1], dtype=np.int64), TensorProto.INT64),
        const("axis_2", np.array([2], dtype=np.int64), TensorProto.INT64),
    ]
    N = helper.make_node
    nodes = [
        # Per-series scalars gathered to [B, 1], vectors to [B, 1, C].
        *[N("Gather", [f"p_{n}", "series"], [f"g_{n}"], axis=0) for n in ("start", "t_scale", "y_scale", "k", "m", "half_width")],
        *[N("Gather", [f"p_{n}", "series"], [f"g2_{n}"], axis=0) for n in ("cp", "delta", "gamma", "beta_sin", "beta_cos")],
        *[N("Unsqueeze", [f"g2_{n}", "axis_1"], [f"g_{n}"]) for n in ("cp", "delta", "gamma", "beta_sin", "beta_cos")],
        N("Sub", ["ds", "g_start"], ["ds_rel"]),
        N("Div", ["ds_rel", "g_t_scale"], ["t"]),
        N("Unsqueeze", ["t", "axis_2"], ["t3"]),
        N("GreaterOrEqual", ["t3", "g_cp"], ["after_cp_bool"]),
        N("Cast", ["after_cp_bool"], ["after_cp"], to=TensorProto.DOUBLE),
        N("Mul", ["after_cp", "g_delta"], ["d_k"]),
        N("ReduceSum", ["d_k", "axis_2"], ["sum_dk"], keepdims=0),
        N("Mul", ["after_cp", "g_gamma"], ["d_m"]),
        N("ReduceSum", ["d_m", "axis_2"], ["sum_dm"], keepdims=0),
        N("Add", ["g_k", "sum_dk"], ["k_t"]),
        N("Add", ["g_m", "sum_dm"], ["m_t"]),
        N("Mul", ["k_t", "t"], ["kt_t"]),
        N("Add", ["kt_t", "m_t"], ["trend_scaled"]),
        N("Div", ["ds", "seconds_per_day"], ["days"]),
        N("Unsqueeze", ["days", "axis_2"], ["days3"]),
        N("Mul", ["days3", "freqs"], ["arg"]),
        N("Sin", ["arg"], ["sin"]),
        N("Cos", ["arg"], ["cos"]),
        N("Mul", ["sin", "g_beta_sin"], ["s_part"]),
        N("Mul", ["cos", "g_beta_cos"], ["c_part"]),
        N("Add", ["s_part", "c_part"], ["sc"]),
        N("ReduceSum", ["sc", "axis_2"], ["season_scaled"], keepdims=0),
        N("Mul", ["trend_scaled", "g_y_scale"], ["trend"]),
        N("Mul", ["season_scaled", "g_y_scale"], ["seasonal"]),
        N("Add", ["trend", "seasonal"], ["yhat"]),
        N("Sub", ["yhat", "g_half_width"], ["yhat_lower"]),
        N("Add", ["yhat", "g_half_width"], ["yhat_upper"]),
    ]
    graph = helper.make_graph(
        nodes,
        "understudy_prophet",
        [
            helper.make_tensor_value_info("series", TensorProto.INT64, ["batch"]),
            helper.make_tensor_value_info("ds", TensorProto.DOUBLE, ["batch", "steps"]),
        ],
        [
            helper.make_tensor_value_info(n, TensorProto.DOUBLE, ["batch", "steps"])
            for n in ("yhat", "yhat_lower", "yhat_upper", "trend")
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="understudy")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def parameters(fits: list[FittedProphet]) -> dict:
    return {
        "growth": "linear",
        "seasonality_mode": "additive",
        "seasonalities": [{"name": n, "period_days": p, "fourier_order": o} for n, p, o in SEASONALITIES],
        "interval": {"width": INTERVAL_WIDTH, "z": _z(INTERVAL_WIDTH), "from": "fitted observation noise sigma_obs"},
        "level_correction": {
            "steps": LEVEL_STEPS,
            "rule": "forecast and interval shifted by the mean of actual - yhat over the last steps up to the origin",
        },
        "series": [
            {
                "id": f.series_id,
                "index": i,
                "seasonalities": f.seasonalities,
                "changepoints": int(len(f.changepoints_t)),
                "train_start": f.train_start,
                "train_end": f.train_end,
            }
            for i, f in enumerate(fits)
        ],
    }


def onnx_input_times(index: pd.DatetimeIndex) -> np.ndarray:
    return epoch_seconds(index)
