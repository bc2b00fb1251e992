/**
 * History cleaning shared by live forecasts, the backtest and the benchmarks: checks a series and puts it on a
 * regular grid. Same rules as the Python trainer (models/understudy_trainer/data.py): buckets of one step aligned
 * to the wall clock (a step starts at a multiple of five minutes since the epoch, as InfluxDB's GROUP BY time and
 * Telegraf's flushes do, so a sample at 14:27 belongs to the 14:25 step), duplicates and samples within a bucket
 * averaged, empty buckets interpolated linearly when the gap is at most an hour (longer gaps stay NaN). No I/O.
 */
import { ForecastInputError, type SeriesHistory } from './types.js';

export const STEP_MS = 5 * 60_000;
export const MAX_INTERPOLATED_GAP_STEPS = 12;
/** Samples stamped this far after "now" are clock skew, not an error. */
export const FUTURE_TOLERANCE_MS = 60_000;

export interface Grid {
  /** Epoch ms of `values[0]`; `values[i]` is at `start + i * stepMs`. */
  start: number;
  stepMs: number;
  /** NaN where a gap was too long to interpolate. */
  values: Float64Array;
}

export const gridTime = (grid: Grid, i: number): number => grid.start + i * grid.stepMs;

export interface CheckOptions {
  now?: number;
  /** Out-of-order timestamps are an error for live requests; a CSV may be sorted instead. */
  allowUnsorted?: boolean;
}

/** Validates a history; throws ForecastInputError naming the series. Returns sorted copies. */
export function checkHistory(
  seriesId: string,
  history: SeriesHistory,
  { now, allowUnsorted = false }: CheckOptions = {},
): SeriesHistory {
  const { timestamps, values } = history;
  if (!Array.isArray(timestamps) || !Array.isArray(values) || timestamps.length !== values.length) {
    throw new ForecastInputError(seriesId, 'history.timestamps and history.values must be arrays of equal length');
  }
  if (timestamps.length === 0) throw new ForecastInputError(seriesId, 'history is empty');
  for (let i = 0; i < timestamps.length; i++) {
    const t = timestamps[i]!;
    const v = values[i]!;
    if (typeof t !== 'number' || !Number.isFinite(t)) {
      throw new ForecastInputError(seriesId, `timestamp #${i} is not a finite epoch-ms number: ${String(t)}`);
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new ForecastInputError(
        seriesId,
        `value at ${new Date(t).toISOString()} is not a finite number: ${String(v)}`,
      );
    }
    if (v < 0) {
      throw new ForecastInputError(seriesId, `negative utilisation ${v} at ${new Date(t).toISOString()}`);
    }
    if (!allowUnsorted && i > 0 && t < timestamps[i - 1]!) {
      throw new ForecastInputError(
        seriesId,
        `timestamps out of order: ${new Date(t).toISOString()} comes after ${new Date(timestamps[i - 1]!).toISOString()}`,
      );
    }
  }
  if (now !== undefined) {
    const last = allowUnsorted ? Math.max(...timestamps) : timestamps[timestamps.length - 1]!;
    if (last > now + FUTURE_TOLERANCE_MS) {
      throw new ForecastInputError(
        seriesId,
        `timestamp ${new Date(last).toISOString()} is in the future (now is ${new Date(now).toISOString()})`,
      );
    }
  }
  // Sorted already: the caller's arrays are returned as they are (nothing here or downstream mutates them).
  if (!allowUnsorted) return { timestamps, values };
  const order = timestamps.map((_, i) => i).sort((a, b) => timestamps[a]! - timestamps[b]!);
  return { timestamps: order.map((i) => timestamps[i]!), values: order.map((i) => values[i]!) };
}

/** Puts a sorted, checked history on the grid (see the module comment). */
export function regularise(history: SeriesHistory, stepMs = STEP_MS): Grid {
  const { timestamps, values } = history;
  const start = Math.floor(timestamps[0]! / stepMs) * stepMs;
  const n = Math.floor((timestamps[timestamps.length - 1]! - start) / stepMs) + 1;
  if (n === timestamps.length) {
    // Fast path for the common case: already one sample per step, exactly on the grid.
    let regular = true;
    for (let i = 1; i < n && regular; i++) regular = timestamps[i]! - timestamps[i - 1]! === stepMs;
    if (regular) return { start, stepMs, values: Float64Array.from(values) };
  }
  const sums = new Float64Array(n);
  const counts = new Uint32Array(n);
  for (let i = 0; i < timestamps.length; i++) {
    const k = Math.floor((timestamps[i]! - start) / stepMs);
    sums[k]! += values[i]!;
    counts[k]! += 1;
  }
  const out = new Float64Array(n).fill(Number.NaN);
  let prev = -1;
  for (let k = 0; k < n; k++) {
    if (counts[k]! === 0) continue;
    out[k] = sums[k]! / counts[k]!;
    if (prev >= 0 && k - prev > 1 && k - prev - 1 <= MAX_INTERPOLATED_GAP_STEPS) {
      for (let j = prev + 1; j < k; j++) out[j] = out[prev]! + ((out[k]! - out[prev]!) * (j - prev)) / (k - prev);
    }
    prev = k;
  }
  return { start, stepMs, values: out };
}

/** The last `steps` grid values with every NaN filled (linear between neighbours, flat at the ends). */
export function filledTail(grid: Grid, steps: number): { values: Float64Array; filled: number } {
  const from = Math.max(0, grid.values.length - steps);
  const v = grid.values.slice(from);
  let filled = 0;
  let prev = -1;
  for (let k = 0; k <= v.length; k++) {
    if (k < v.length && Number.isNaN(v[k]!)) continue;
    if (k - prev > 1) {
      for (let j = prev + 1; j < k; j++) {
        const left = prev >= 0 ? v[prev]! : undefined;
        const right = k < v.length ? v[k]! : undefined;
        v[j] =
          left !== undefined && right !== undefined
            ? left + ((right - left) * (j - prev)) / (k - prev)
            : (left ?? right ?? 0);
        filled++;
      }
    }
    prev = k;
  }
  return { values: v, filled };
}

/** Value of a (sorted) history at time `t` by linear interpolation, flat outside; for context resources. */
export function sampleAt(history: SeriesHistory, t: number): number {
  const { timestamps: ts, values } = history;
  if (t <= ts[0]!) return values[0]!;
  if (t >= ts[ts.length - 1]!) return values[values.length - 1]!;
  let lo = 0;
  let hi = ts.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (ts[mid]! <= t) lo = mid;
    else hi = mid;
  }
  const span = ts[hi]! - ts[lo]!;
  return span === 0 ? values[lo]! : values[lo]! + ((values[hi]! - values[lo]!) * (t - ts[lo]!)) / span;
}

/** Parses a `timestamp,value` CSV (ISO-8601 or `YYYY-MM-DD HH:MM:SS`, no zone = UTC); names the file on error. */
export function parseCsv(text: string, file: string): SeriesHistory {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = lines[0]?.split(',').map((h) => h.trim().replace(/^"|"$/g, ''));
  if (header?.[0] !== 'timestamp' || header[1] !== 'value') {
    throw new ForecastInputError(file, `expected the header "timestamp,value", got "${lines[0] ?? ''}"`);
  }
  const timestamps: number[] = [];
  const values: number[] = [];
  for (let i = 1; i < lines.length; i++) {
    const [ts, v] = lines[i]!.split(',').map((c) => c.trim().replace(/^"|"$/g, ''));
    const iso = ts && /[zZ]|[+-]\d\d:?\d\d$/.test(ts) ? ts : `${(ts ?? '').replace(' ', 'T')}Z`;
    const t = Date.parse(iso);
    if (!Number.isFinite(t)) throw new ForecastInputError(file, `line ${i + 1}: unparseable timestamp "${ts}"`);
    const value = v === undefined || v === '' ? Number.NaN : Number(v);
    // Named here, with its line and text; left for checkHistory it would only say "NaN" at some timestamp.
    if (!Number.isFinite(value)) {
      throw new ForecastInputError(file, `line ${i + 1}: ${v ? `value "${v}" is not a number` : 'no value'}`);
    }
    timestamps.push(t);
    values.push(value);
  }
  return { timestamps, values };
}
