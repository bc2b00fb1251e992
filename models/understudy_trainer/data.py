"""Loading and cleaning utilisation series for training.

Every series becomes a regular 5-minute grid (UTC, naive timestamps): duplicates are averaged, gaps up to an hour
are interpolated linearly in time (longer gaps stay missing), and anomaly windows are masked (set to NaN) so the
fits never learn from them. Bad input raises ``SeriesError`` naming the file or series.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

STEP = pd.Timedelta(minutes=5)
STEP_SECONDS = 300
MAX_INTERPOLATED_GAP_STEPS = 12
# Below this many samples (two days of 5-minute steps) a series is too short to learn a daily cycle.
MIN_TRAIN_STEPS = 2 * 288


class SeriesError(ValueError):
    """A series that cannot be used; the message names it."""


@dataclass
class Series:
    series_id: str
    resource: str
    # Regular 5-minute grid, NaN where missing (long gaps) — before anomaly masking.
    values: pd.Series
    anomaly_windows: list[tuple[pd.Timestamp, pd.Timestamp]] = field(default_factory=list)

    def masked(self) -> pd.Series:
        """The values with anomaly windows set to NaN."""
        out = self.values.copy()
        for start, end in self.anomaly_windows:
            out[(out.index >= start) & (out.index <= end)] = np.nan
        return out

    def head_fraction(self, fraction: float) -> "Series":
        n = int(len(self.values) * fraction)
        return Series(self.series_id, self.resource, self.values.iloc[:n], self.anomaly_windows)


def resource_of(series_id: str) -> str:
    """Which Telegraf resource a NAB-style file name measures (cpu for anything unrecognised)."""
    name = series_id.lower()
    if "network" in name or "net" in name.split("_"):
        return "net"
    if "disk" in name:
        return "diskio"
    if "mem" in name:
        return "mem"
    return "cpu"


def regularise(raw: pd.Series, name: str) -> pd.Series:
    """Sorted, de-duplicated, on a 5-minute grid anchored at the first sample; short gaps interpolated."""
    if raw.isna().any():
        bad = raw.index[raw.isna()][0]
        raise SeriesError(f"{name}: value at {bad} is missing or not a number")
    if (raw < 0).any():
        bad = raw.index[raw < 0][0]
        raise SeriesError(f"{name}: negative value {raw[bad]} at {bad}")
    raw = raw.groupby(level=0).mean().sort_index()
    if len(raw) < 2:
        raise SeriesError(f"{name}: needs at least 2 samples, got {len(raw)}")
    grid = raw.resample(STEP, origin="start").mean()
    filled = grid.interpolate(method="time", limit=MAX_INTERPOLATED_GAP_STEPS, limit_area="inside")
    return filled


def load_csv(path: Path, series_id: str | None = None) -> pd.Series:
    """Reads a ``timestamp,value`` CSV; timestamps without a zone are UTC. Order is checked, then fixed."""
    try:
        df = pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any parse failure is reported with the file name
        raise SeriesError(f"{path}: cannot read CSV: {exc}") from exc
    if list(df.columns[:2]) != ["timestamp", "value"]:
        raise SeriesError(f"{path}: expected header timestamp,value, got {','.join(map(str, df.columns))}")
    ts = pd.to_datetime(df["timestamp"], utc=True, errors="coerce", format="mixed")
    if ts.isna().any():
        raise SeriesError(f"{path}: unparseable timestamp on data row {int(ts.isna().to_numpy().argmax()) + 1}")
    values = pd.to_numeric(df["value"], errors="coerce")
    raw = pd.Series(values.to_numpy(dtype=float), index=ts.dt.tz_localize(None).to_numpy(), name=series_id or path.stem)
    return regularise(raw, str(path))


def load_windows(labels_file: Path | None, key: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    if labels_file is None or not labels_file.exists():
        return []
    windows = json.loads(labels_file.read_text()).get(key, [])
    return [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in windows]


def load_dir(
    data_dir: Path, labels_file: Path | None = None, only: list[str] | None = None, limit: int | None = None
) -> list[Series]:
    files = sorted(data_dir.glob("*.csv"))
    if only:
        files = [f for f in files if f.stem in only]
    if limit:
        files = files[:limit]
    out = []
    for f in files:
        values = load_csv(f)
        out.append(Series(f.stem, resource_of(f.stem), values, load_windows(labels_file, f"{data_dir.name}/{f.name}")))
    return out


def epoch_seconds(index: pd.DatetimeIndex) -> np.ndarray:
    return (index - pd.Timestamp("1970-01-01")).total_seconds().to_numpy(dtype=np.float64)
