/**
 * Workload demand: synthetic profiles and replayed traces, as a multiple of a workload's requirement at a moment of
 * simulated time. Pure and stateless (noise, spikes and drift come from a hash of the seed and the time), so a
 * restarted simulator reproduces exactly the demand it would have had, with nothing to persist but the profile.
 */
import type { SyntheticDemandProfile, TraceDemandProfile } from '../provider/types.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const MEAN_MONTH_DAYS = 30.44;
/** Demand above this is clipped: a workload cannot use more than a few times what it reserved. */
export const MAX_DEMAND = 3;

/** A uniform number in [0, 1) from two integers (an avalanche hash: neighbouring inputs give unrelated outputs). */
export function hash01(seed: number, n: number): number {
  let h =
    Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^
    Math.imul(n | 0, 0xc2b2ae35) ^
    Math.imul((n / 4294967296) | 0, 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/** Approximately standard normal: the sum of four uniforms, rescaled to unit variance. */
function gaussian(seed: number, n: number): number {
  const sum = hash01(seed, n * 4) + hash01(seed, n * 4 + 1) + hash01(seed, n * 4 + 2) + hash01(seed, n * 4 + 3);
  return (sum - 2) * Math.sqrt(3);
}

const clampDemand = (value: number): number => Math.min(MAX_DEMAND, Math.max(0, value));

/** Demand of a synthetic profile at `timeMs`; `originMs` (the workload's creation) anchors the trend. */
export function syntheticDemand(profile: SyntheticDemandProfile, timeMs: number, originMs: number): number {
  const seed = profile.seed ?? 1;
  let level = profile.base;
  const days = (timeMs - originMs) / DAY_MS;
  if (profile.trendPerDay !== undefined) level += profile.trendPerDay * days;

  const date = new Date(timeMs);
  const hourOfDay = date.getUTCHours() + date.getUTCMinutes() / 60 + date.getUTCSeconds() / 3600;
  if (profile.daily) {
    const peak = profile.daily.peakHourUtc ?? 14;
    level += profile.daily.amplitude * Math.cos((2 * Math.PI * (hourOfDay - peak)) / 24);
  }
  if (profile.weekly) {
    const peak = profile.weekly.peakDay ?? 3;
    const dayOfWeek = date.getUTCDay() + hourOfDay / 24;
    level += profile.weekly.amplitude * Math.cos((2 * Math.PI * (dayOfWeek - peak)) / 7);
  }
  if (profile.monthly) {
    const peak = profile.monthly.peakDayOfMonth ?? 15;
    const dayOfMonth = date.getUTCDate() + hourOfDay / 24;
    level += profile.monthly.amplitude * Math.cos((2 * Math.PI * (dayOfMonth - peak)) / MEAN_MONTH_DAYS);
  }
  if (profile.driftPerDay !== undefined && profile.driftPerDay > 0) {
    // Value noise with weekly knots: a slow wander whose change over a day has roughly the configured spread.
    const knotDays = 7;
    const position = timeMs / (knotDays * DAY_MS);
    const knot = Math.floor(position);
    const fraction = position - knot;
    const smooth = fraction * fraction * (3 - 2 * fraction);
    const a = gaussian(seed + 101, knot);
    const b = gaussian(seed + 101, knot + 1);
    level += (a + (b - a) * smooth) * profile.driftPerDay * Math.sqrt(knotDays);
  }
  if (profile.spikes && profile.spikes.perDay > 0) {
    level += spikeAt(profile.spikes, seed, timeMs);
  }
  if (profile.noise !== undefined && profile.noise > 0) {
    level += profile.noise * gaussian(seed + 7, Math.floor(timeMs / MINUTE_MS));
  }
  return clampDemand(level);
}

/** Each hour may start one spike, at an hour-specific offset, with probability perDay/24. */
function spikeAt(spikes: NonNullable<SyntheticDemandProfile['spikes']>, seed: number, timeMs: number): number {
  const durationMs = spikes.durationMinutes * MINUTE_MS;
  const hour = Math.floor(timeMs / HOUR_MS);
  const lookBackHours = Math.ceil(durationMs / HOUR_MS) + 1;
  for (let h = hour; h >= hour - lookBackHours; h--) {
    if (hash01(seed + 31, h) >= spikes.perDay / 24) continue;
    const startMs = h * HOUR_MS + hash01(seed + 37, h) * HOUR_MS;
    if (timeMs >= startMs && timeMs < startMs + durationMs) return spikes.magnitude;
  }
  return 0;
}

// ---- traces -------------------------------------------------------------------------------------------------------

/** A parsed trace: strictly increasing times (ms since the epoch) and finite values. */
export interface Trace {
  id: string;
  times: number[];
  values: number[];
  /** The largest value: trace demand is value / max × peak. */
  max: number;
  /** Median sampling interval, ms; the loop closes one interval after the last sample. */
  stepMs: number;
}

export interface TraceSummary {
  traceId: string;
  rows: number;
  first: string;
  last: string;
  stepSeconds: number;
  duplicatesDropped: number;
  outOfOrderRows: number;
  gaps: number;
  maxGapMinutes: number;
  min: number;
  max: number;
}

export interface BadRow {
  line: number;
  text: string;
  reason: string;
}

/** Raised for a trace that cannot be used; nothing is stored. */
export class TraceParseError extends Error {
  constructor(
    message: string,
    readonly badRows: BadRow[] = [],
  ) {
    super(message);
    this.name = 'TraceParseError';
  }
}

const NAIVE_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/;

/**
 * A timestamp in ms. `YYYY-MM-DD HH:MM[:SS]` without a zone (NAB's form) is read as UTC, so a file exported in
 * local time keeps its DST quirks as duplicates and gaps, which the parser then reports rather than hides.
 */
function parseTimestamp(text: string): number | undefined {
  const naive = NAIVE_TIMESTAMP.exec(text);
  if (naive) {
    const [, y, mo, d, h, mi, s, ms] = naive;
    const value = Date.UTC(
      Number(y),
      Number(mo) - 1,
      Number(d),
      Number(h),
      Number(mi),
      Number(s ?? 0),
      Number(ms ?? 0),
    );
    const check = new Date(value);
    // Date.UTC rolls 2014-02-30 over to March; such a row is wrong, not a date.
    if (check.getUTCDate() !== Number(d) || check.getUTCMonth() !== Number(mo) - 1 || Number(h) > 23) return undefined;
    return value;
  }
  if (/^\d{4}-\d{2}-\d{2}T.+(Z|[+-]\d{2}:?\d{2})$/.test(text)) {
    const value = Date.parse(text);
    return Number.isNaN(value) ? undefined : value;
  }
  return undefined;
}

const MAX_BAD_ROWS_REPORTED = 10;

/**
 * Parses a `timestamp,value` CSV. Any bad row rejects the whole file, naming up to ten bad rows by line number.
 * Duplicate timestamps keep the first row (NAB's DST exports carry twelve rows stamped 03:00:00); rows out of order
 * are sorted; gaps are counted. All of it is in the summary.
 */
export function parseTraceCsv(traceId: string, csv: string): { trace: Trace; summary: TraceSummary } {
  const lines = csv.split(/\r?\n/);
  const header = (lines[0] ?? '')
    .trim()
    .replace(/^\uFEFF/, '')
    .toLowerCase()
    .replaceAll(' ', '');
  if (header !== 'timestamp,value') {
    throw new TraceParseError(`trace CSV must start with the header "timestamp,value"; found "${lines[0] ?? ''}"`);
  }
  const bad: BadRow[] = [];
  const rows: { time: number; value: number; line: number }[] = [];
  for (let i = 1; i < lines.length; i++) {
    const text = lines[i] ?? '';
    if (text.trim() === '') continue;
    const fields = text.split(',');
    const report = (reason: string) => bad.push({ line: i + 1, text: text.slice(0, 80), reason });
    if (fields.length !== 2) {
      report(`expected 2 fields (timestamp,value), found ${fields.length}`);
      continue;
    }
    const time = parseTimestamp((fields[0] ?? '').trim());
    const valueText = (fields[1] ?? '').trim();
    const value = valueText === '' ? Number.NaN : Number(valueText);
    if (time === undefined) report(`timestamp "${(fields[0] ?? '').trim()}" is not YYYY-MM-DD HH:MM:SS or ISO 8601`);
    else if (!Number.isFinite(value)) report(`value "${valueText}" is not a finite number`);
    else if (value < 0) report(`value ${value} is negative; demand cannot be`);
    else rows.push({ time, value, line: i + 1 });
  }
  if (bad.length > 0) {
    const shown = bad.slice(0, MAX_BAD_ROWS_REPORTED);
    const more = bad.length > shown.length ? ` (and ${bad.length - shown.length} more)` : '';
    throw new TraceParseError(
      `trace CSV has ${bad.length} bad row${bad.length > 1 ? 's' : ''}${more}: ` +
        shown.map((b) => `line ${b.line}: ${b.reason}`).join('; '),
      shown,
    );
  }
  if (rows.length < 2) throw new TraceParseError(`trace CSV needs at least 2 data rows; found ${rows.length}`);

  let outOfOrderRows = 0;
  for (let i = 1; i < rows.length; i++) if (rows[i]!.time < rows[i - 1]!.time) outOfOrderRows++;
  // Stable sort: among equal timestamps the earliest line stays first, and is the one kept.
  rows.sort((a, b) => a.time - b.time || a.line - b.line);
  const times: number[] = [];
  const values: number[] = [];
  let duplicatesDropped = 0;
  for (const row of rows) {
    if (times.length > 0 && times[times.length - 1] === row.time) {
      duplicatesDropped++;
      continue;
    }
    times.push(row.time);
    values.push(row.value);
  }
  if (times.length < 2) throw new TraceParseError('trace CSV needs at least 2 distinct timestamps');
  const intervals = times.slice(1).map((t, i) => t - times[i]!);
  const sorted = [...intervals].sort((a, b) => a - b);
  const stepMs = sorted[Math.floor(sorted.length / 2)]!;
  let gaps = 0;
  let maxGap = 0;
  for (const interval of intervals) {
    if (interval > 1.5 * stepMs) {
      gaps++;
      maxGap = Math.max(maxGap, interval);
    }
  }
  let max = 0;
  let min = Number.POSITIVE_INFINITY;
  for (const v of values) {
    max = Math.max(max, v);
    min = Math.min(min, v);
  }
  if (max <= 0) throw new TraceParseError('trace CSV values are all zero; it cannot shape demand');
  const trace: Trace = { id: traceId, times, values, max, stepMs };
  return {
    trace,
    summary: {
      traceId,
      rows: times.length,
      first: new Date(times[0]!).toISOString(),
      last: new Date(times[times.length - 1]!).toISOString(),
      stepSeconds: stepMs / 1000,
      duplicatesDropped,
      outOfOrderRows,
      gaps,
      maxGapMinutes: maxGap / MINUTE_MS,
      min,
      max,
    },
  };
}

/** Index of the last sample at or before `t` (binary search); `t` must lie within the trace. */
function sampleIndex(times: number[], t: number): number {
  let lo = 0;
  let hi = times.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (times[mid]! <= t) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Demand of a trace profile at `timeMs`: the trace replays from its start at the workload's creation (plus the
 * offset), looping; between samples (and across gaps) it interpolates linearly.
 */
export function traceDemand(profile: TraceDemandProfile, trace: Trace, timeMs: number, originMs: number): number {
  const first = trace.times[0]!;
  const last = trace.times[trace.times.length - 1]!;
  const period = last - first + trace.stepMs;
  const elapsed = timeMs - originMs + (profile.offsetMinutes ?? 0) * MINUTE_MS;
  const position = first + (((elapsed % period) + period) % period);
  let value: number;
  if (position >= last) {
    // Between the last sample and the loop's restart.
    const fraction = (position - last) / trace.stepMs;
    value = trace.values[trace.values.length - 1]! * (1 - fraction) + trace.values[0]! * fraction;
  } else {
    const i = sampleIndex(trace.times, position);
    const t0 = trace.times[i]!;
    const t1 = trace.times[i + 1]!;
    const fraction = (position - t0) / (t1 - t0);
    value = trace.values[i]! * (1 - fraction) + trace.values[i + 1]! * fraction;
  }
  return clampDemand((value / trace.max) * (profile.peak ?? 1));
}
