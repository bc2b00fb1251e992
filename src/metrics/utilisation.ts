/**
 * Pure conversion of raw Telegraf series into evenly spaced utilisation steps: gauges averaged per step, counters
 * turned into rates between consecutive samples, and every irregularity (gaps, counter resets, invalid samples)
 * reported as a `DataIssue` instead of becoming a zero. No I/O, so the rules are unit-tested on their own.
 */
import { RESOURCES } from '../provider/types.js';
import {
  ANOMALY_MEASUREMENT,
  DECISION_MEASUREMENT,
  FORECAST_MEASUREMENT,
  type AnomalyEvent,
  type DataIssue,
  type DecisionPoint,
  type ForecastPoint,
  type Resource,
  type UtilisationQuery,
  type UtilisationWindow,
} from './types.js';

/** One raw series: sample times (ms) and values (null where the point lacked the field). */
export interface RawSeries {
  times: number[];
  values: (number | null)[];
}

export interface StepGrid {
  startMs: number;
  stepMs: number;
  steps: number;
}

export interface StepValues {
  values: (number | null)[];
  issues: DataIssue[];
  lastSampleMs?: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();

function stepIndex(grid: StepGrid, timeMs: number): number | undefined {
  if (timeMs < grid.startMs) return undefined;
  const i = Math.floor((timeMs - grid.startMs) / grid.stepMs);
  return i < grid.steps ? i : undefined;
}

/** Collects per-step sums, then turns them into means (null where a step had no valid sample). */
class StepAccumulator {
  private readonly sums: number[];
  private readonly counts: number[];
  constructor(private readonly grid: StepGrid) {
    this.sums = new Array<number>(grid.steps).fill(0);
    this.counts = new Array<number>(grid.steps).fill(0);
  }
  add(timeMs: number, value: number): void {
    const i = stepIndex(this.grid, timeMs);
    if (i === undefined) return;
    this.sums[i]! += value;
    this.counts[i]! += 1;
  }
  means(): (number | null)[] {
    return this.sums.map((sum, i) => (this.counts[i]! > 0 ? sum / this.counts[i]! : null));
  }
}

/** Reports invalid samples as one issue (first occurrence, count), not one per sample. */
class InvalidTally {
  count = 0;
  firstMs?: number;
  reasons = new Set<string>();
  note(timeMs: number, reason: string): void {
    this.count++;
    this.firstMs ??= timeMs;
    this.reasons.add(reason);
  }
  issue(what: string): DataIssue | undefined {
    if (this.count === 0) return undefined;
    return {
      kind: 'invalid-value',
      from: iso(this.firstMs!),
      count: this.count,
      detail: `${this.count} ${what} sample(s) dropped: ${[...this.reasons].join(', ')}`,
    };
  }
}

/**
 * Gauge in percent (cpu from usage_idle, mem.used_percent): `toPercent` maps the raw value; samples outside 0..100
 * (beyond a rounding tolerance), NaN or missing are dropped and reported.
 */
export function gaugeSteps(
  series: RawSeries,
  grid: StepGrid,
  toPercent: (v: number) => number,
  what: string,
): StepValues {
  const acc = new StepAccumulator(grid);
  const invalid = new InvalidTally();
  let lastSampleMs: number | undefined;
  series.times.forEach((t, k) => {
    const raw = series.values[k];
    if (raw === null || raw === undefined || !Number.isFinite(raw)) {
      invalid.note(t, 'not a number');
      return;
    }
    const percent = toPercent(raw);
    if (percent < -0.5 || percent > 100.5) {
      invalid.note(t, `${Math.round(percent * 10) / 10}% is outside 0-100`);
      return;
    }
    acc.add(t, Math.min(100, Math.max(0, percent)));
    if (t >= grid.startMs && t < grid.startMs + grid.steps * grid.stepMs) lastSampleMs = t;
  });
  const issue = invalid.issue(what);
  return { values: acc.means(), issues: issue ? [issue] : [], ...(lastSampleMs !== undefined ? { lastSampleMs } : {}) };
}

/**
 * Counter → per-second rate between consecutive samples, credited to the step of the later sample. A decrease is a
 * counter reset (the host rebooted): no rate across it, and it is reported. Samples before the grid only serve as
 * the first interval's starting point.
 */
export function counterRateSteps(series: RawSeries, grid: StepGrid, what: string): StepValues {
  const acc = new StepAccumulator(grid);
  const invalid = new InvalidTally();
  const resets: number[] = [];
  let previous: { t: number; v: number } | undefined;
  let lastSampleMs: number | undefined;
  series.times.forEach((t, k) => {
    const v = series.values[k];
    if (v === null || v === undefined || !Number.isFinite(v) || v < 0) {
      invalid.note(t, v === null || v === undefined ? 'missing' : 'not a non-negative number');
      return;
    }
    if (t >= grid.startMs && t < grid.startMs + grid.steps * grid.stepMs) lastSampleMs = t;
    if (previous && t > previous.t) {
      if (v < previous.v) {
        if (stepIndex(grid, t) !== undefined) resets.push(t);
      } else {
        acc.add(t, ((v - previous.v) * 1000) / (t - previous.t));
      }
    }
    previous = { t, v };
  });
  const issues: DataIssue[] = [];
  const invalidIssue = invalid.issue(what);
  if (invalidIssue) issues.push(invalidIssue);
  if (resets.length > 0) {
    issues.push({
      kind: 'counter-reset',
      from: iso(resets[0]!),
      count: resets.length,
      detail: `${what} counter went backwards ${resets.length} time(s) (a restart); no rate across ${resets.length > 1 ? 'them' : 'it'}`,
    });
  }
  return { values: acc.means(), issues, ...(lastSampleMs !== undefined ? { lastSampleMs } : {}) };
}

/** Combines per-device step values (disks: the busiest; interfaces: the sum). Null only where every device is. */
export function combineSteps(parts: StepValues[], how: 'max' | 'sum'): StepValues {
  if (parts.length === 1) return parts[0]!;
  const steps = parts[0]?.values.length ?? 0;
  const values: (number | null)[] = [];
  for (let i = 0; i < steps; i++) {
    let out: number | null = null;
    for (const part of parts) {
      const v = part.values[i];
      if (v === null || v === undefined) continue;
      out = out === null ? v : how === 'max' ? Math.max(out, v) : out + v;
    }
    values.push(out);
  }
  const last = Math.max(...parts.map((p) => p.lastSampleMs ?? Number.NEGATIVE_INFINITY));
  return {
    values,
    issues: parts.flatMap((p) => p.issues),
    ...(Number.isFinite(last) ? { lastSampleMs: last } : {}),
  };
}

/** Finishes a window: reports runs of empty steps as gaps (or the whole window as `no-data`). */
export function toWindow(hostId: string, resource: Resource, grid: StepGrid, steps: StepValues): UtilisationWindow {
  const issues = [...steps.issues];
  const nulls = steps.values.filter((v) => v === null).length;
  if (nulls === steps.values.length) {
    issues.push({
      kind: 'no-data',
      from: iso(grid.startMs),
      to: iso(grid.startMs + grid.steps * grid.stepMs),
      count: grid.steps,
      detail: `no ${resource} samples for host ${hostId} in the window`,
    });
  } else {
    let runStart: number | undefined;
    const close = (end: number) => {
      if (runStart === undefined) return;
      issues.push({
        kind: 'gap',
        from: iso(grid.startMs + runStart * grid.stepMs),
        to: iso(grid.startMs + end * grid.stepMs),
        count: end - runStart,
        detail: `${end - runStart} step(s) without ${resource} samples`,
      });
      runStart = undefined;
    };
    steps.values.forEach((v, i) => {
      if (v === null) runStart ??= i;
      else close(i);
    });
    close(steps.values.length);
  }
  issues.sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
  return {
    hostId,
    resource,
    start: iso(grid.startMs),
    stepSeconds: grid.stepMs / 1000,
    values: steps.values.map((v) => (v === null ? null : Math.round(v * 1000) / 1000)),
    ...(steps.lastSampleMs !== undefined ? { lastSampleAt: iso(steps.lastSampleMs) } : {}),
    issues,
  };
}

// ---- from raw Telegraf series to windows (shared by the InfluxDB adapters) -----------------------------------------

/** One device's raw series (a disk for `diskio`, an interface for `net`; one per host for `cpu` and `mem`). */
export interface DeviceSeries {
  device?: string;
  fields: Record<string, RawSeries>;
}

/** The raw series an adapter fetched, by resource and host. */
export type SeriesLookup = (resource: Resource, hostId: string) => DeviceSeries[];

const NO_SERIES: RawSeries = { times: [], values: [] };

function emptySteps(grid: StepGrid, issues: DataIssue[] = []): StepValues {
  return { values: new Array<number | null>(grid.steps).fill(null), issues };
}

function scaleSteps(steps: StepValues, factor: number): StepValues {
  return { ...steps, values: steps.values.map((v) => (v === null ? null : v * factor)) };
}

/** Rates a hair over 100% (sampling jitter) are capped; a real device cannot exceed its capacity. */
function clampPercent(steps: StepValues): StepValues {
  return { ...steps, values: steps.values.map((v) => (v === null ? null : Math.min(100, Math.max(0, v)))) };
}

/** Turns an adapter's raw series into one window per host and resource, in the query's order. */
export function buildWindows(query: UtilisationQuery, grid: StepGrid, seriesFor: SeriesLookup): UtilisationWindow[] {
  const windows: UtilisationWindow[] = [];
  for (const host of query.hosts) {
    for (const resource of query.resources ?? RESOURCES) {
      const series = seriesFor(resource, host.hostId);
      const field = (s: DeviceSeries, name: string) => s.fields[name] ?? NO_SERIES;
      let steps: StepValues;
      switch (resource) {
        case 'cpu':
          steps = combineSteps(
            series.map((s) => gaugeSteps(field(s, 'usage_idle'), grid, (idle) => 100 - idle, 'cpu usage_idle')),
            'max',
          );
          break;
        case 'memory':
          steps = combineSteps(
            series.map((s) => gaugeSteps(field(s, 'used_percent'), grid, (p) => p, 'mem used_percent')),
            'max',
          );
          break;
        case 'storage':
          // io_time counts busy milliseconds of the device: its rate per second / 10 is percent busy.
          steps = combineSteps(
            series.map((s) =>
              scaleSteps(counterRateSteps(field(s, 'io_time'), grid, `diskio io_time (${s.device})`), 0.1),
            ),
            'max',
          );
          break;
        case 'network': {
          const perInterface = series.map((s) => ({
            recv: counterRateSteps(field(s, 'bytes_recv'), grid, `net bytes_recv (${s.device})`),
            sent: counterRateSteps(field(s, 'bytes_sent'), grid, `net bytes_sent (${s.device})`),
          }));
          // A full-duplex link: the busier direction is the utilisation.
          const busier =
            perInterface.length === 0
              ? emptySteps(grid)
              : combineSteps(
                  [
                    combineSteps(
                      perInterface.map((p) => p.recv),
                      'sum',
                    ),
                    combineSteps(
                      perInterface.map((p) => p.sent),
                      'sum',
                    ),
                  ],
                  'max',
                );
          if (host.networkMbps === undefined || !(host.networkMbps > 0)) {
            steps = emptySteps(grid, [
              ...busier.issues,
              {
                kind: 'unknown-capacity',
                from: iso(grid.startMs),
                count: grid.steps,
                detail: `network utilisation of host ${host.hostId} needs its link speed (networkMbps)`,
              },
            ]);
            if (busier.lastSampleMs !== undefined) steps.lastSampleMs = busier.lastSampleMs;
          } else {
            steps = scaleSteps(busier, (8 * 100) / (host.networkMbps * 1e6));
          }
          break;
        }
      }
      if (series.length === 0) steps = emptySteps(grid, steps.issues);
      windows.push(toWindow(host.hostId, resource, grid, clampPercent(steps)));
    }
  }
  return windows;
}

/** Counters need the sample before the window to give its first step a rate. */
export const COUNTER_LOOKBACK_MS = 10 * 60_000;
const MAX_STEPS = 100_000;

/** Checks a query and lays out its steps; throws a message naming what is wrong. */
export function stepGrid(query: UtilisationQuery): StepGrid {
  const startMs = query.start.getTime();
  const endMs = query.end.getTime();
  if (!(query.stepSeconds > 0)) throw new RangeError(`stepSeconds must be above 0, got ${query.stepSeconds}`);
  if (!(endMs > startMs)) {
    throw new RangeError(`end (${query.end.toISOString()}) must be after start (${query.start.toISOString()})`);
  }
  const stepMs = query.stepSeconds * 1000;
  const steps = Math.ceil((endMs - startMs) / stepMs);
  if (steps > MAX_STEPS) throw new RangeError(`the window has ${steps} steps; at most ${MAX_STEPS}`);
  return { startMs, stepMs, steps };
}

// ---- line protocol for what Understudy writes back --------------------------------------------------------------

export const escapeTag = (s: string): string => s.replace(/[,= \\]/g, (c) => `\\${c}`);
export const escapeFieldString = (s: string): string => `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;

/** Forecast points as line protocol (ms precision), tagged so each model and horizon is its own series. */
export function forecastLines(points: ForecastPoint[]): string[] {
  return points.map((p) => {
    const tags =
      `host=${escapeTag(p.hostId)},resource=${p.resource},model=${escapeTag(p.model)},` +
      `model_version=${escapeTag(p.modelVersion)},horizon_minutes=${p.horizonMinutes}`;
    const fields = [
      `yhat=${p.yhat}`,
      ...(p.yhatLower !== undefined ? [`yhat_lower=${p.yhatLower}`] : []),
      ...(p.yhatUpper !== undefined ? [`yhat_upper=${p.yhatUpper}`] : []),
      `issued_at=${p.issuedAt.getTime()}i`,
    ];
    return `${FORECAST_MEASUREMENT},${tags} ${fields.join(',')} ${p.time.getTime()}`;
  });
}

/** Anomaly events as line protocol (ms precision). */
export function anomalyLines(events: AnomalyEvent[]): string[] {
  return events.map((e) => {
    const fields = [
      `actual=${e.actual}`,
      `expected=${e.expected}`,
      `deviation=${e.deviation}`,
      ...(e.detail !== undefined ? [`detail=${escapeFieldString(e.detail)}`] : []),
    ];
    return `${ANOMALY_MEASUREMENT},host=${escapeTag(e.hostId)},resource=${e.resource},kind=${e.kind} ${fields.join(',')} ${e.time.getTime()}`;
  });
}

/** Scaling decisions as line protocol (ms precision), one point per pair and decision time. */
export function decisionLines(points: DecisionPoint[]): string[] {
  return points.map((d) => {
    const fields = [
      `host=${escapeFieldString(d.hostId)}`,
      `action=${escapeFieldString(d.action)}`,
      `executed=${d.executed}`,
      `reason=${escapeFieldString(d.reason)}`,
      `issued_at=${d.issuedAt.getTime()}i`,
      ...(d.bindingResource !== undefined ? [`binding_resource=${escapeFieldString(d.bindingResource)}`] : []),
      ...(d.peakPercent !== undefined ? [`peak_percent=${d.peakPercent}`] : []),
      ...(d.actualPercent !== undefined ? [`actual_percent=${d.actualPercent}`] : []),
      ...(d.decidedAfterMs !== undefined ? [`decided_after_ms=${d.decidedAfterMs}`] : []),
      ...(d.model !== undefined ? [`model=${escapeFieldString(d.model)}`] : []),
      ...(d.modelVersion !== undefined ? [`model_version=${escapeFieldString(d.modelVersion)}`] : []),
    ];
    return `${DECISION_MEASUREMENT},pair=${escapeTag(d.pairId)} ${fields.join(',')} ${d.time.getTime()}`;
  });
}

/** A decision read back from its fields (the InfluxDB 1.x and 2.x stores fold rows into such a record). */
export function decisionFromFields(pairId: string, time: Date, f: Record<string, unknown>): DecisionPoint {
  const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
  const bindingResource = text(f.binding_resource) as Resource | undefined;
  const peakPercent = num(f.peak_percent);
  const actualPercent = num(f.actual_percent);
  const decidedAfterMs = num(f.decided_after_ms);
  const model = text(f.model);
  const modelVersion = text(f.model_version);
  return {
    pairId,
    hostId: text(f.host) ?? '',
    time,
    action: text(f.action) ?? '',
    executed: f.executed === true,
    reason: text(f.reason) ?? '',
    issuedAt: new Date(Number(f.issued_at)),
    ...(bindingResource !== undefined ? { bindingResource } : {}),
    ...(peakPercent !== undefined ? { peakPercent } : {}),
    ...(actualPercent !== undefined ? { actualPercent } : {}),
    ...(decidedAfterMs !== undefined ? { decidedAfterMs } : {}),
    ...(model !== undefined ? { model } : {}),
    ...(modelVersion !== undefined ? { modelVersion } : {}),
  };
}

/** A window's non-null steps as a forecaster history: each value at the start of its step, oldest first. */
export function windowHistory(window: UtilisationWindow): { timestamps: number[]; values: number[] } {
  const start = Date.parse(window.start);
  const timestamps: number[] = [];
  const values: number[] = [];
  window.values.forEach((v, i) => {
    if (v !== null) {
      timestamps.push(start + i * window.stepSeconds * 1000);
      values.push(v);
    }
  });
  return { timestamps, values };
}

/**
 * A host pair's whole demand of one resource, in percent of the primary's capacity: the primary's window plus the
 * shadow's (same grid) converted by `shadowToPrimary` — the shadow's allocated capacity over the primary's. A step
 * the primary has no data for stays a gap; a step only the shadow lacks counts the primary alone, as a shadow that
 * reports nothing carries nothing that can be measured.
 */
export function pairDemandWindow(
  primary: UtilisationWindow,
  shadow: UtilisationWindow | undefined,
  shadowToPrimary: number,
): UtilisationWindow {
  if (shadow === undefined) return primary;
  if (shadow.start !== primary.start || shadow.stepSeconds !== primary.stepSeconds)
    throw new Error(
      `pair demand of ${primary.hostId}/${primary.resource}: the shadow's window (${shadow.start}, ${shadow.stepSeconds} s) is not on the primary's grid (${primary.start}, ${primary.stepSeconds} s)`,
    );
  return {
    ...primary,
    values: primary.values.map((value, i) =>
      value === null ? null : value + (shadow.values[i] ?? 0) * shadowToPrimary,
    ),
  };
}
