"""The global LSTM: one model over every host and resource, trained in PyTorch, exported with torch.onnx.export.

Input ``x`` [batch, WINDOW, 8]: the last WINDOW 5-minute samples of the host's four resources (cpu, mem, diskio,
net, in their own units; a resource the host does not report is all zeros) followed by four calendar features of
each sample's timestamp (sin/cos of the hour of day and of the day of week, UTC). The graph normalises each
resource by its own window (mean, standard deviation), runs the LSTM, adds the predicted change to the last
normalised sample and de-normalises, so one model serves series of any scale.
Outputs [batch, HORIZON, 4]: ``yhat`` and ``yhat_lower``/``yhat_upper`` = yhat -/+ the 80% quantile of the
validation |residual| at that step (normalised units) times the window's scale.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from .data import Series, epoch_seconds

RESOURCES = ["cpu", "mem", "diskio", "net"]
CALENDAR = ["hod_sin", "hod_cos", "dow_sin", "dow_cos"]
WINDOW = 48
HORIZON = 12
HIDDEN = 32


def calendar_features(seconds: np.ndarray) -> np.ndarray:
    """[n, 4] calendar features of epoch seconds (UTC); the TypeScript side computes the same numbers."""
    day = seconds / 86400.0
    hod = day - np.floor(day)
    # 1970-01-01 was a Thursday: +3 makes Monday 0.
    week = (day + 3.0) / 7.0
    dow = week - np.floor(week)
    tau = 2 * math.pi
    return np.stack([np.sin(tau * hod), np.cos(tau * hod), np.sin(tau * dow), np.cos(tau * dow)], axis=-1)


class GlobalLSTM(nn.Module):
    def __init__(self, hidden: int = HIDDEN) -> None:
        super().__init__()
        r = len(RESOURCES)
        self.lstm = nn.LSTM(input_size=r + len(CALENDAR), hidden_size=hidden, batch_first=True)
        self.head = nn.Linear(hidden, HORIZON * r)
        self.register_buffer("half_width", torch.zeros(HORIZON, 1))

    def normalise(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r = len(RESOURCES)
        values = x[:, :, :r]
        mean = values.mean(dim=1, keepdim=True)
        std = torch.sqrt(((values - mean) ** 2).mean(dim=1, keepdim=True))
        # The floor keeps flat windows (std ~ 0) from blowing up the normalised target.
        scale = std + 0.1 * mean.abs() + 1e-3
        return (values - mean) / scale, mean, scale

    def forward_normalised(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r = len(RESOURCES)
        z, mean, scale = self.normalise(x)
        h, _ = self.lstm(torch.cat([z, x[:, :, r:]], dim=-1))
        delta = self.head(h[:, -1, :]).reshape(-1, HORIZON, r)
        return z[:, -1:, :] + delta, mean, scale

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        zhat, mean, scale = self.forward_normalised(x)
        yhat = zhat * scale + mean
        half = self.half_width * scale
        return yhat, yhat - half, yhat + half


def make_windows(series: list[Series], stride: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training windows (x, y, resource index) from single-resource series; windows touching a gap or an anomaly
    window (NaN after masking) are skipped."""
    xs, ys, rs = [], [], []
    for s in series:
        v = s.masked()
        vals = v.to_numpy(dtype=np.float64)
        cal = calendar_features(epoch_seconds(v.index))
        ri = RESOURCES.index(s.resource)
        n = len(vals)
        for end in range(WINDOW, n - HORIZON + 1, stride):
            seg = vals[end - WINDOW : end + HORIZON]
            if np.isnan(seg).any():
                continue
            x = np.zeros((WINDOW, len(RESOURCES) + len(CALENDAR)))
            x[:, ri] = seg[:WINDOW]
            x[:, len(RESOURCES) :] = cal[end - WINDOW : end]
            xs.append(x)
            ys.append(seg[WINDOW:])
            rs.append(ri)
    if not xs:
        raise ValueError("no complete training window in any series")
    return np.asarray(xs, dtype=np.float32), np.asarray(ys, dtype=np.float32), np.asarray(rs, dtype=np.int64)


def train(
    series: list[Series], epochs: int = 6, stride: int = 2, seed: int = 7, max_seconds: float | None = None, log=print
) -> GlobalLSTM:
    torch.manual_seed(seed)
    np.random.seed(seed)
    x, y, r = make_windows(series, stride)
    model = GlobalLSTM()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt, rt = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(r)
    n = len(xt)
    started = time.monotonic()
    for epoch in range(epochs):
        perm = torch.randperm(n)
        total = 0.0
        for i in range(0, n, 256):
            idx = perm[i : i + 256]
            zhat, mean, scale = model.forward_normalised(xt[idx])
            ri = rt[idx]
            rows = torch.arange(len(idx))
            pred = zhat[rows, :, ri]
            target = (yt[idx] - mean[rows, 0, ri][:, None]) / scale[rows, 0, ri][:, None]
            loss = nn.functional.huber_loss(pred, target.clamp(-20, 20), delta=1.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        log(f"lstm epoch {epoch + 1}/{epochs}: loss {total / n:.4f} ({n} windows)")
        # Off by default: a wall-clock budget makes the model depend on how busy the machine is.
        if max_seconds is not None and time.monotonic() - started > max_seconds:
            log(f"lstm: stopping after {epoch + 1} epochs (time budget {max_seconds:.0f} s)")
            break
    return model


def calibrate(model: GlobalLSTM, series: list[Series], coverage: float) -> None:
    """Sets the interval half-width per step: the ``coverage`` quantile of |residual| on ``series`` (normalised)."""
    x, y, r = make_windows(series, stride=3)
    with torch.no_grad():
        zhat, mean, scale = model.forward_normalised(torch.from_numpy(x))
        rows = torch.arange(len(x))
        ri = torch.from_numpy(r)
        target = (torch.from_numpy(y) - mean[rows, 0, ri][:, None]) / scale[rows, 0, ri][:, None]
        resid = (zhat[rows, :, ri] - target).abs()
        # A quantile of |residual| rather than z * sd: windows that were flat and then jump give normalised
        # residuals in the thousands, which would blow a standard deviation (and every interval) up.
        half = torch.quantile(resid, coverage, dim=0).reshape(HORIZON, 1)
    model.half_width.copy_(half)


def predict(model: GlobalLSTM, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x.astype(np.float32)))[0].numpy()


def export(model: GlobalLSTM, path: Path) -> None:
    model.eval()
    dummy = torch.zeros(2, WINDOW, len(RESOURCES) + len(CALENDAR))
    torch.onnx.export(
        model,
        (dummy,),
        str(path),
        input_names=["x"],
        output_names=["yhat", "yhat_lower", "yhat_upper"],
        dynamic_axes={n: {0: "batch"} for n in ("x", "yhat", "yhat_lower", "yhat_upper")},
        opset_version=18,
        dynamo=False,
    )


def series_frame(s: Series) -> pd.Series:
    return s.values
