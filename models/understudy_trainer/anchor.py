"""Prophet run in Python, as the anchor of the accuracy benchmark.

For every CSV in a folder: the same cleaning as training, Prophet fitted on the first 70% of the grid (anomaly
windows masked), ``prophet.predict`` on the last 30%, shifted from each origin by the level correction the served
model applies (``served_from``); MASE at each lead time, with the MASE scale of the training part. Prints JSON:
{series: {lead_minutes: MASE}}.

Usage: python -m understudy_trainer.anchor --data-dir DIR [--labels FILE] [--leads 15,60]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .data import Series, SeriesError, load_dir
from .prophet_onnx import fit_prophet, served_from
from .train import mase_scale


def anchor(series: Series, leads: list[int], fraction: float = 0.7) -> dict[str, float]:
    n = len(series.values)
    fit_end = int(n * fraction)
    fitted = fit_prophet(series.head_fraction(fraction))
    y = series.values.to_numpy(dtype=np.float64)
    yhat, shifts = served_from(fitted, series.values, fit_end)
    scale = mase_scale(y[:fit_end])
    out = {}
    for lead in leads:
        steps = lead // 5
        # Origins fit_end-1 .. n-1-steps forecast timestamps fit_end-1+steps .. n-1, each shifted as served.
        targets = np.arange(fit_end - 1 + steps, n)
        err = np.abs(y[targets] - (yhat[targets] + shifts[targets - steps]))
        out[str(lead)] = float(np.nanmean(err) / scale)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", required=True, type=Path)
    p.add_argument("--labels", type=Path, default=None)
    p.add_argument("--leads", default="15,60")
    a = p.parse_args(argv)
    leads = [int(x) for x in a.leads.split(",")]
    result = {}
    for s in load_dir(a.data_dir, a.labels):
        try:
            result[s.series_id] = anchor(s, leads)
        except SeriesError as exc:
            print(f"anchor: skipping {exc}", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
