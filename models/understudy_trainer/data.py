"""Loading and cleaning utilisation series for training.

Every series becomes a regular 5-minute grid (UTC, naive timestamps): duplicates are averaged, gaps up to an hour
are interpolated linearly in time (longer gaps stay missing), and anomaly windows are masked (set to NaN) so the
fits never learn from them. Bad input raises ``SeriesError`` naming the file or series.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

STEP = pd.Timedelta(minutes=5)
STEP_SECONDS = 300
MAX_INTERPOLATED_GAP_STEPS = 12
# Clocks of the hosts that recorded a series may run a little ahead of this one.
FUTURE_TOLERANCE = pd.Timedelta(minutes=5)
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

    def last_days(self, days: float) -> "Series":
        """The samples of the last ``days`` before the series' end (all of it when it is shorter)."""
        if self.values.empty:
            return self
        since = self.values.index[-1] - pd.Timedelta(days=days)
        return Series(self.series_id, self.resource, self.values[self.values.index > since], self.anomaly_windows)


# The one mapping of series names to resources, shared with the TypeScript backtest.
SERIES_RESOURCES_FILE = Path(__file__).resolve().parents[1] / "series_resources.json"
SERIES_RESOURCES = json.loads(SERIES_RESOURCES_FILE.read_text())


def resource_of(series_id: str) -> str:
    """Which Telegraf resource (LSTM channel) a series measures, by the rules of ``series_resources.json``."""
    name = series_id.lower()
    words = set(re.split(r"[^a-z0-9]+", name))
    for rule in SERIES_RESOURCES["rules"]:
        if words.intersection(rule["words"]) or any(s in name for s in rule["substrings"]):
            return rule["resource"]
    return SERIES_RESOURCES["default"]


def regularise(raw: pd.Series, name: str) -> pd.Series:
    """Sorted, de-duplicated, on a 5-minute grid aligned to the clock (steps start at multiples of 5 minutes since
    the epoch, as InfluxDB and Telegraf align them); short gaps interpolated."""
    if raw.isna().any():
        bad = raw.index[raw.isna()][0]
        raise SeriesError(f"{name}: value at {bad} is missing or not a number")
    if (raw < 0).any():
        bad = raw.index[raw < 0][0]
        raise SeriesError(f"{name}: negative value {raw[bad]} at {bad}")
    raw = raw.groupby(level=0).mean().sort_index()
    if len(raw) < 2:
        raise SeriesError(f"{name}: needs at least 2 samples, got {len(raw)}")
    grid = raw.resample(STEP, origin="epoch").mean()
    filled = grid.interpolate(method="time", limit=MAX_INTERPOLATED_GAP_STEPS, limit_area="inside")
    return filled


def load_csv(path: Path, series_id: str | None = None) -> pd.Series:
    """Reads a ``timestamp,value`` CSV; timestamps without a zone are UTC. Rows may come in any order (they are
    sorted); a timestamp in the future is refused."""
    try:
        df = pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any parse failure is reported with the file name
        raise SeriesError(f"{path}: cannot read CSV: {exc}") from exc
    if list(df.columns[:2]) != ["timestamp", "value"]:
        raise SeriesError(f"{path}: expected header timestamp,value, got {','.join(map(str, df.columns))}")
    ts = pd.to_datetime(df["timestamp"], utc=True, errors="coerce", format="mixed")
    if ts.isna().any():
        raise SeriesError(f"{path}: unparseable timestamp on data row {int(ts.isna().to_numpy().argmax()) + 1}")
    # A sample stamped after now is a clock or time-zone error upstream; training on it would shift every season.
    latest, now = ts.max(), pd.Timestamp.now(tz="UTC") + FUTURE_TOLERANCE
    if latest > now:
        raise SeriesError(f"{path}: timestamp {latest.isoformat()} on data row {int(ts.argmax()) + 1} is in the future")
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


# ---- training from InfluxDB: the Telegraf measurements the metrics store reads (src/metrics/utilisation.ts) ----

# InfluxDB 1.x /query answers, per statement, one result per GROUP BY series.
INFLUX_TIMEOUT_SECONDS = 120
# Gauges a hair outside 0..100 are rounding; further out they are broken samples (as in src/metrics/utilisation.ts).
GAUGE_TOLERANCE = 0.5
# Telegraf's cpu input reports each core and the total; utilisation is the total's.
CPU_TOTAL = "\"cpu\" = 'cpu-total'"


class InfluxError(RuntimeError):
    """InfluxDB could not be reached or did not answer (worth retrying, unlike a SeriesError)."""


@dataclass
class InfluxSource:
    """Where and what to read: ``[start, end)`` of ``database`` at ``url``, all hosts or only ``hosts``."""

    url: str
    database: str
    start: pd.Timestamp
    end: pd.Timestamp
    hosts: list[str] | None = None
    # Telegraf does not report link speed; without it the network's utilisation is unknown and `net` is not trained.
    network_mbps: float | None = None
    username: str | None = None
    password: str | None = None

    def describe(self) -> dict:
        return {
            "source": "influxdb",
            "url": self.url,
            "database": self.database,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "hosts": self.hosts,
        }


def _influx_query(src: InfluxSource, query: str) -> list[dict]:
    import urllib.error
    import urllib.parse
    import urllib.request

    params = {"db": src.database, "q": query, "epoch": "s"}
    if src.username is not None:
        params["u"] = src.username
        params["p"] = src.password or ""
    request = urllib.request.Request(
        src.url.rstrip("/") + "/query", data=urllib.parse.urlencode(params).encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=INFLUX_TIMEOUT_SECONDS) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        if exc.code in (400, 401, 403, 404):
            raise SeriesError(f"InfluxDB {src.url} database {src.database}: HTTP {exc.code}: {detail}") from exc
        raise InfluxError(f"InfluxDB {src.url}: HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise InfluxError(f"cannot reach InfluxDB at {src.url}: {exc}") from exc
    result = (body.get("results") or [{}])[0]
    if "error" in result:
        raise SeriesError(f"InfluxDB {src.url} database {src.database}: {result['error']}")
    return result.get("series", [])


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _where(src: InfluxSource, extra: str = "") -> str:
    rfc3339 = "%Y-%m-%dT%H:%M:%SZ"
    clauses = [f"time >= {_quote(src.start.strftime(rfc3339))}", f"time < {_quote(src.end.strftime(rfc3339))}"]
    if extra:
        clauses.insert(0, extra)
    if src.hosts:
        clauses.append("(" + " OR ".join(f'"host" = {_quote(h)}' for h in src.hosts) + ")")
    return " AND ".join(clauses)


def _frames(rows: list[dict]) -> list[tuple[dict, pd.DataFrame]]:
    """(tags, frame indexed by naive UTC time) per series of a query answer."""
    out = []
    for r in rows:
        frame = pd.DataFrame(r.get("values", []), columns=r["columns"])
        frame.index = pd.to_datetime(frame.pop("time"), unit="s")
        out.append((r.get("tags", {}), frame.astype(float)))
    return out


def _counter_rate(counter: pd.Series) -> pd.Series:
    """Per-second rate between consecutive bucket values; none across a counter reset (a decrease)."""
    seconds = counter.index.to_series().diff().dt.total_seconds()
    rate = counter.diff() / seconds
    return rate.where(rate >= 0)


def latest_sample(src: InfluxSource) -> pd.Timestamp | None:
    """Time of the newest cpu sample of the source's hosts (naive UTC), or None when there is none."""
    hosts = "(" + " OR ".join(f'"host" = {_quote(h)}' for h in src.hosts) + ") AND " if src.hosts else ""
    rows = _influx_query(src, f'SELECT last("usage_idle") FROM "cpu" WHERE {hosts}{CPU_TOTAL}')
    if not rows or not rows[0].get("values"):
        return None
    return pd.to_datetime(rows[0]["values"][0][0], unit="s")


def load_influx(src: InfluxSource, log=lambda m: None) -> tuple[list[Series], dict[str, str]]:
    """Reads every host's cpu, mem, diskio (and net, given a link speed) utilisation in percent at 5-minute steps.

    Returns the series (ids ``<host>/<resource>``, as the forecaster names them) and, per series left out, why.
    Broken samples (gauges outside 0..100, counter resets) are dropped and logged with the series' name, not
    fatal: one bad host must not stop a fleet's retraining.
    """
    if not src.end > src.start:
        raise SeriesError(f"InfluxDB training window: end {src.end} is not after start {src.start}")
    step = "GROUP BY time(5m), "
    per_host: dict[tuple[str, str], pd.Series] = {}
    left_out: dict[str, str] = {}

    def gauge(resource: str, measurement: str, field: str, to_percent, where: str = "") -> None:
        # The mean of each step, and its extremes: a step holding a sample outside 0..100% is dropped whole
        # (averaged in, the broken sample would pass unseen), and counted.
        rows = _influx_query(
            src,
            f'SELECT mean("{field}"), min("{field}"), max("{field}") FROM "{measurement}" '
            f'WHERE {_where(src, where)} {step}"host" fill(none)',
        )
        for tags, frame in _frames(rows):
            host = tags.get("host", "")
            percent = frame.apply(to_percent).dropna()
            lowest, highest = percent.min(axis=1), percent.max(axis=1)
            broken = (lowest < -GAUGE_TOLERANCE) | (highest > 100 + GAUGE_TOLERANCE)
            if broken.any():
                log(
                    f"influx: series {host}/{resource}: {int(broken.sum())} five-minute steps with samples outside "
                    f"0-100% dropped (first at {percent.index[broken.to_numpy()][0]})"
                )
            per_host[(host, resource)] = percent.iloc[:, 0][~broken].clip(0, 100)

    gauge("cpu", "cpu", "usage_idle", lambda idle: 100 - idle, CPU_TOTAL)
    gauge("mem", "mem", "used_percent", lambda p: p)

    # io_time counts the device's busy milliseconds: its rate per second / 10 is percent busy; the busiest disk counts.
    disks: dict[str, list[pd.Series]] = {}
    for tags, frame in _frames(
        _influx_query(src, f'SELECT max("io_time") FROM "diskio" WHERE {_where(src)} {step}"host", "name" fill(none)')
    ):
        disks.setdefault(tags.get("host", ""), []).append(_counter_rate(frame.iloc[:, 0]) / 10)
    for host, parts in disks.items():
        per_host[(host, "diskio")] = pd.concat(parts, axis=1).max(axis=1).dropna().clip(0, 100)

    if src.network_mbps:
        links: dict[str, list[pd.DataFrame]] = {}
        for tags, frame in _frames(
            _influx_query(
                src,
                f'SELECT max("bytes_recv") AS recv, max("bytes_sent") AS sent FROM "net" WHERE {_where(src)} '
                f'{step}"host", "interface" fill(none)',
            )
        ):
            links.setdefault(tags.get("host", ""), []).append(frame.apply(_counter_rate))
        for host, parts in links.items():
            total = pd.concat(parts).groupby(level=0).sum(min_count=1)
            busier = total.max(axis=1)  # a full-duplex link: the busier direction is the utilisation
            per_host[(host, "net")] = (busier * 8 * 100 / (src.network_mbps * 1e6)).dropna().clip(0, 100)
    else:
        log("influx: no network link speed given; net is not trained")

    series = []
    for (host, resource), values in sorted(per_host.items()):
        sid = f"{host}/{resource}"
        if len(values) < 2:
            left_out[sid] = f"series {sid}: {len(values)} samples in the window"
            continue
        series.append(Series(sid, resource, regularise(values, f"series {sid}")))
    if not series and not left_out:
        raise SeriesError(
            f"InfluxDB {src.url} database {src.database}: no cpu, mem or diskio samples between "
            f"{src.start.isoformat()} and {src.end.isoformat()}"
            + (f" for hosts {', '.join(src.hosts)}" if src.hosts else "")
        )
    for why in left_out.values():
        log(f"influx: left out {why}")
    return series, left_out
