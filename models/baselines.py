"""Builds the baseline forecasters as one ONNX graph, with its manifest.

The baselines are what every learned model must beat, and the fallback when a learned model is missing, stale
or corrupt. The graph takes a batch of histories (one row per series, one utilisation sample per step, in percent
of capacity, oldest first) whose length is exactly one season, and gives two forecasts per row:

* ``seasonal_naive``: the next ``horizon_steps`` values are the values one season earlier;
* ``short_mean``: the mean of the last ``short_mean_steps`` values, held flat over the horizon.

Usage: python models/baselines.py --out models/artifacts/baselines-v1 [--step-minutes 5] [--horizon-minutes 60]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import onnx
from onnx import TensorProto, helper

OPSET = 18
VERSION = "1"


def build_graph(season_steps: int, horizon_steps: int, short_mean_steps: int) -> onnx.ModelProto:
    if not 0 < horizon_steps <= season_steps:
        raise ValueError(f"horizon_steps must be in 1..{season_steps} (one season), got {horizon_steps}")
    if not 0 < short_mean_steps <= season_steps:
        raise ValueError(f"short_mean_steps must be in 1..{season_steps}, got {short_mean_steps}")

    def ints(name: str, values: list[int]) -> onnx.TensorProto:
        return helper.make_tensor(name, TensorProto.INT64, [len(values)], values)

    initializers = [
        ints("axis_time", [1]),
        ints("season_start", [0]),
        ints("season_end", [horizon_steps]),
        ints("recent_start", [season_steps - short_mean_steps]),
        ints("recent_end", [season_steps]),
        ints("horizon_shape", [1, horizon_steps]),
    ]
    nodes = [
        # One season back from the first forecast step is the first sample of the window.
        helper.make_node("Slice", ["history", "season_start", "season_end", "axis_time"], ["seasonal_naive"]),
        helper.make_node("Slice", ["history", "recent_start", "recent_end", "axis_time"], ["recent"]),
        helper.make_node("ReduceMean", ["recent", "axis_time"], ["recent_mean"], keepdims=1),
        helper.make_node("Expand", ["recent_mean", "horizon_shape"], ["short_mean"]),
    ]
    graph = helper.make_graph(
        nodes,
        "understudy_baselines",
        [helper.make_tensor_value_info("history", TensorProto.FLOAT, ["batch", season_steps])],
        [
            helper.make_tensor_value_info("seasonal_naive", TensorProto.FLOAT, ["batch", horizon_steps]),
            helper.make_tensor_value_info("short_mean", TensorProto.FLOAT, ["batch", horizon_steps]),
        ],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="understudy")
    model.ir_version = 8  # readable by every onnxruntime since 1.14
    onnx.checker.check_model(model, full_check=True)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder to write model.onnx and manifest.json into")
    parser.add_argument("--step-minutes", type=int, default=5)
    parser.add_argument("--season-minutes", type=int, default=24 * 60)
    parser.add_argument("--horizon-minutes", type=int, default=60)
    parser.add_argument("--short-mean-minutes", type=int, default=30)
    args = parser.parse_args()

    for name in ("step_minutes", "season_minutes", "horizon_minutes", "short_mean_minutes"):
        value = getattr(args, name)
        if value <= 0 or (name != "step_minutes" and value % args.step_minutes != 0):
            parser.error(f"--{name.replace('_', '-')} must be a positive multiple of --step-minutes, got {value}")
    season_steps = args.season_minutes // args.step_minutes
    horizon_steps = args.horizon_minutes // args.step_minutes
    short_mean_steps = args.short_mean_minutes // args.step_minutes

    model_bytes = build_graph(season_steps, horizon_steps, short_mean_steps).SerializeToString()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model.onnx").write_bytes(model_bytes)
    manifest = {
        "model_type": "baselines",
        "version": VERSION,
        "parameters": {
            "step_minutes": args.step_minutes,
            "season_steps": season_steps,
            "horizon_steps": horizon_steps,
            "short_mean_steps": short_mean_steps,
        },
        "prediction_horizon": {"minutes": args.horizon_minutes, "steps": horizon_steps},
        "inputs": [{"name": "history", "shape": ["batch", season_steps], "features": ["utilisation_percent"]}],
        "outputs": [
            {"name": "seasonal_naive", "shape": ["batch", horizon_steps]},
            {"name": "short_mean", "shape": ["batch", horizon_steps]},
        ],
        "scaling": {"kind": "none", "unit": "percent of capacity"},
        "training_window": None,
        "backtest_metrics": {},
        "sha256": hashlib.sha256(model_bytes).hexdigest(),
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {args.out / 'model.onnx'} ({len(model_bytes)} bytes, sha256 {manifest['sha256'][:12]}…)")


if __name__ == "__main__":
    main()
