/**
 * The traces bench:policy drives through the strategies: any folder of `timestamp,value` CSVs (the repository's NAB
 * series by default) and the synthetic fleets. Each becomes one host pair's demand at 5-minute steps, in percent of
 * one primary's capacity, cleaned by the forecaster's own rules (src/forecast/series.ts). What a file needed, or why
 * it was left out, is said per file: a trace is never silently NaN.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { namedResourceOfSeries } from '../src/forecast/seriesResources.js';
import { STEP_MS, checkHistory, parseCsv, regularise } from '../src/forecast/series.js';
import { quantile } from './policyMetrics.js';

export const STEPS_PER_DAY = 288;

export interface Trace {
  name: string;
  source: 'nab' | 'synthetic' | 'folder';
  /** How the file's values became percent of one host. */
  scaling: string;
  startMs: number;
  demand: Float64Array;
  /** What cleaning did to the file (duplicates averaged, gaps filled); empty when nothing was needed. */
  notes: string[];
}

export interface SkippedTrace {
  file: string;
  reason: string;
}

/** A series of a resource with no ceiling (bytes, requests) is sized so its 99th percentile runs at this. */
const UNBOUNDED_P99_PERCENT = 95;

/**
 * Reads every `*.csv` of `dir`. Mapping onto a host: a series whose name says cpu or mem (the rules of
 * models/series_resources.json) is a utilisation in percent and kept as it is; any other (disk and network
 * throughput, request counts, a name that says nothing) has no natural ceiling, so the host is taken as sized for its
 * 99th percentile to run at 95%. Files that cannot be read as a trace of at least `minSteps` steps are returned in `skipped` with the reason.
 */
export function loadTraceFolder(
  dir: string,
  source: Trace['source'],
  minSteps: number,
): { traces: Trace[]; skipped: SkippedTrace[] } {
  const traces: Trace[] = [];
  const skipped: SkippedTrace[] = [];
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => f.toLowerCase().endsWith('.csv'))
      .sort();
  } catch (error) {
    throw new Error(`--traces ${dir}: cannot read the folder: ${(error as Error).message}`);
  }
  if (files.length === 0) throw new Error(`--traces ${dir}: no .csv files in the folder`);
  for (const file of files) {
    const path = join(dir, file);
    try {
      traces.push(readTrace(path, source, minSteps));
    } catch (error) {
      skipped.push({ file: path, reason: (error as Error).message });
    }
  }
  return { traces, skipped };
}

function readTrace(path: string, source: Trace['source'], minSteps: number): Trace {
  const name = basename(path).replace(/\.csv$/i, '');
  const notes: string[] = [];
  // parseCsv and checkHistory name the file and the line or timestamp of a bad value.
  const history = checkHistory(path, parseCsv(readFileSync(path, 'utf8'), path), { allowUnsorted: true });
  const distinct = new Set(history.timestamps).size;
  if (distinct < history.timestamps.length)
    notes.push(`${history.timestamps.length - distinct} repeated timestamps averaged`);
  const offGrid = history.timestamps.filter((t) => t % STEP_MS !== 0).length;
  if (offGrid > 0) notes.push(`${offGrid} samples off the 5-minute clock grid put in the step they fall in`);
  const grid = regularise(history);
  if (grid.values.length < minSteps) {
    throw new Error(
      `${path}: too short: ${grid.values.length} five-minute steps, at least ${minSteps} needed (two days of history and the longest horizon); skipped`,
    );
  }
  const sampledSteps = new Set(history.timestamps.map((t) => Math.floor((t - grid.start) / STEP_MS))).size;
  const values = Float64Array.from(grid.values);
  let held = 0;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isNaN(values[i]!)) continue;
    values[i] = i > 0 ? values[i - 1]! : 0;
    held++;
  }
  const interpolated = values.length - sampledSteps - held;
  if (interpolated > 0) notes.push(`${interpolated} empty steps in gaps up to an hour interpolated`);
  if (held > 0) notes.push(`${held} steps in gaps over an hour held at the previous value`);

  const resource = namedResourceOfSeries(name);
  if (resource === 'cpu' || resource === 'mem')
    return { name, source, scaling: `percent (${resource})`, startMs: grid.start, demand: values, notes };
  const p99 = quantile(values, 0.99);
  const factor = p99 > 0 ? UNBOUNDED_P99_PERCENT / p99 : 1;
  return {
    name,
    source,
    scaling: `${resource ?? 'unnamed'}: p99 -> ${UNBOUNDED_P99_PERCENT}%`,
    startMs: grid.start,
    demand: values.map((v) => v * factor),
    notes,
  };
}

/** A trace as the trainer reads it: `timestamp,value` rows at its 5-minute steps. */
export function traceCsv(trace: Trace): string {
  const iso = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
  const rows = Array.from(trace.demand, (v, i) => `${iso(trace.startMs + i * STEP_MS)},${v.toFixed(4)}`);
  return `timestamp,value\n${rows.join('\n')}\n`;
}

/** mulberry32: a tiny seeded PRNG, so the synthetic fleets are the same on every run. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface FleetShape {
  fleet: string;
  base: number;
  amplitude: number;
  /** Percent points added per day (organic growth). */
  growthPerDay: number;
  /** Amplitude multiplier on days 5 and 6 of each week. */
  weekendFactor: number;
}

const FLEETS: FleetShape[] = [
  { fleet: 'daily', base: 48, amplitude: 36, growthPerDay: 0, weekendFactor: 1 },
  { fleet: 'growing', base: 38, amplitude: 30, growthPerDay: 1.2, weekendFactor: 1 },
  { fleet: 'weekly', base: 45, amplitude: 40, growthPerDay: 0, weekendFactor: 0.4 },
];
const PAIRS_PER_FLEET = 2;
const SYNTHETIC_DAYS = 14;
const SYNTHETIC_START_MS = Date.parse('2026-01-05T00:00:00Z');

/** Daily sine (peak mid-afternoon) + Gaussian noise + rare short spikes, one series per pair. */
export function syntheticTraces(): Trace[] {
  const traces: Trace[] = [];
  FLEETS.forEach((shape, fleetIndex) => {
    for (let pair = 0; pair < PAIRS_PER_FLEET; pair++) {
      const random = seededRandom(1_000 * (fleetIndex + 1) + pair);
      const gaussian = (): number => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      const phaseSteps = Math.floor(random() * 24); // pairs of a fleet peak within two hours of each other
      const amplitude = shape.amplitude * (0.9 + 0.2 * random());
      const steps = SYNTHETIC_DAYS * STEPS_PER_DAY;
      const demand = new Float64Array(steps);
      let spikeLeft = 0;
      let spikeHeight = 0;
      for (let step = 0; step < steps; step++) {
        const day = Math.floor(step / STEPS_PER_DAY);
        const weekend = day % 7 >= 5;
        const angle = (2 * Math.PI * (step + phaseSteps - 14 * 12 + STEPS_PER_DAY / 4)) / STEPS_PER_DAY;
        if (spikeLeft === 0 && random() < 0.003) {
          spikeLeft = 1 + Math.floor(random() * 3);
          spikeHeight = 20 + random() * 25;
        }
        const spike = spikeLeft > 0 ? spikeHeight : 0;
        if (spikeLeft > 0) spikeLeft--;
        const value =
          shape.base +
          shape.growthPerDay * (step / STEPS_PER_DAY) +
          amplitude * (weekend ? shape.weekendFactor : 1) * Math.sin(angle) +
          3 * gaussian() +
          spike;
        demand[step] = Math.max(0, value);
      }
      traces.push({
        name: `synthetic-${shape.fleet}-${pair + 1}`,
        source: 'synthetic',
        scaling: 'percent',
        startMs: SYNTHETIC_START_MS,
        demand,
        notes: [],
      });
    }
  });
  return traces;
}

/** Long enough that the trainer's validation part (the last fifth of the first 70%) holds one month end and the
 * backtest's test part (the last 30%) another, with two months before the validation part for Prophet's monthly
 * term. */
export const MONTH_END_DAYS = 130;

/**
 * A host that runs month-end batch work: a daily cycle peaking at about 58% with noise, and on the last two days of
 * every calendar month a surge that takes the afternoons to about 88%. Only the month ends cross 80%; a daily or
 * weekly model sees a surge only once it has begun.
 */
export function monthEndTrace(): Trace {
  const random = seededRandom(4_242);
  const gaussian = (): number => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const steps = MONTH_END_DAYS * STEPS_PER_DAY;
  const demand = new Float64Array(steps);
  for (let step = 0; step < steps; step++) {
    const at = new Date(SYNTHETIC_START_MS + step * STEP_MS);
    const daysInMonth = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 0)).getUTCDate();
    const monthEnd = at.getUTCDate() >= daysInMonth - 1;
    const angle = (2 * Math.PI * (step - 14 * 12 + STEPS_PER_DAY / 4)) / STEPS_PER_DAY;
    const daily = 16 * Math.sin(angle);
    demand[step] = Math.max(0, 42 + daily + (monthEnd ? 30 : 0) + 2 * gaussian());
  }
  return {
    name: 'synthetic-month-end',
    source: 'synthetic',
    scaling: 'percent',
    startMs: SYNTHETIC_START_MS,
    demand,
    notes: [],
  };
}
