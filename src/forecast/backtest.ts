/**
 * Rolling-origin backtest of every forecaster on one `timestamp,value` series. The models are trained on the
 * first 70% of the series only (the Python trainer, on a copy of those rows); then from every point of the last
 * 30% each model forecasts ahead using only data up to that point. Raw forecasts go to a CSV anyone can re-score;
 * MAE, sMAPE, MASE and the F1 of "the peak over the horizon crosses the training part's 95th percentile" are
 * computed per model and horizon, including `selected`, the per-series choice of the trainer's validation.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { BASELINES, baselineEligible, baselineForecast } from './baselines.js';
import { openLstm, openProphet, type EngineOutput, type LstmEngine, type ProphetEngine } from './engines.js';
import { preferredModel, tableFor, type SelectionTable } from './registry.js';
import { checkHistory, filledTail, gridTime, parseCsv, regularise, type Grid } from './series.js';
import { resourceOfSeries } from './seriesResources.js';
import { writeTracePlot } from '../plot/tracePlot.js';
import { trainModels } from './trainer.js';
import { ForecastInputError, type ModelName, type Resource } from './types.js';

export const FIT_FRACTION = 0.7;
const STEP_MINUTES = 5;

export type BacktestModel = ModelName | 'selected';

export interface BacktestMetric {
  model: BacktestModel;
  horizonMinutes: number;
  n: number;
  mae: number;
  smape: number;
  mase: number;
  /** NaN when neither the actual nor any forecast peak crossed the threshold. */
  f1: number;
  /** Share of actuals at this lead inside [yhat_lower, yhat_upper] (nominal 0.8): what anomaly flags rest on. */
  coverage: number;
}

export interface BacktestReport {
  seriesId: string;
  file: string;
  samples: number;
  fitSamples: number;
  origins: number;
  threshold: number;
  maseScale: number;
  /** The selector's model per requested horizon (minutes). */
  selected: Record<string, ModelName>;
  metrics: BacktestMetric[];
  csvOut?: string;
  plotOut?: string;
  warnings: string[];
}

export interface PreparedSeries {
  seriesId: string;
  resource: Resource;
  grid: Grid;
  /** The grid with every gap filled (history inputs only; errors are scored on `grid`). */
  filled: Float64Array;
  fitEnd: number;
}

/** Parses and cleans a CSV for the backtest (sorting allowed: irregular, duplicated and unordered rows are fine). */
export async function loadSeriesCsv(file: string): Promise<{ series: PreparedSeries; raw: string[] }> {
  const text = await readFile(file, 'utf8').catch((error: Error) => {
    throw new ForecastInputError(file, `cannot read it: ${error.message}`);
  });
  const seriesId = basename(file).replace(/\.csv$/i, '');
  const history = checkHistory(file, parseCsv(text, file), { allowUnsorted: true });
  const grid = regularise(history);
  if (grid.values.length < (2 * 288) / FIT_FRACTION) {
    throw new ForecastInputError(
      file,
      `too short to backtest: ${grid.values.length} five-minute steps, at least ${Math.ceil((2 * 288) / FIT_FRACTION)} needed (two days of training)`,
    );
  }
  const fitEnd = Math.floor(grid.values.length * FIT_FRACTION);
  const resource = resourceOfSeries(seriesId);
  const filled = filledTail(grid, grid.values.length).values;
  // Raw rows of the training part only, for the trainer: it never sees the test part.
  const cut = gridTime(grid, fitEnd);
  const rows = history.timestamps
    .map((t, i) => [t, history.values[i]!] as const)
    .filter(([t]) => t < cut)
    .map(([t, v]) => `${new Date(t).toISOString().replace('T', ' ').replace('.000Z', '')},${v}`);
  return { series: { seriesId, resource, grid, filled, fitEnd }, raw: rows };
}

export function parseHorizons(spec: string): number[] {
  const out = spec.split(',').map((s) => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(m|min|h)?\s*$/i.exec(s);
    if (!m) throw new Error(`--horizon: cannot read "${s}" (use e.g. 15m,1h)`);
    const minutes = Number(m[1]) * (m[2]?.toLowerCase() === 'h' ? 60 : 1);
    if (minutes <= 0 || minutes % STEP_MINUTES !== 0) {
      throw new Error(`--horizon: ${s} must be a positive multiple of ${STEP_MINUTES} minutes`);
    }
    return minutes;
  });
  return [...new Set(out)].sort((a, b) => a - b);
}

export interface ModelSet {
  prophet?: ProphetEngine;
  lstm?: LstmEngine;
  table: SelectionTable;
}

export async function openModelSet(artifactsDir: string, version: string): Promise<ModelSet> {
  const set: ModelSet = { table: { selected: {}, median: {} } };
  set.prophet = await openProphet(join(artifactsDir, `prophet-v${version}`)).catch(() => undefined);
  set.lstm = await openLstm(join(artifactsDir, `lstm-v${version}`)).catch(() => undefined);
  const metrics = (set.lstm ?? set.prophet)?.manifest.backtest_metrics as
    (Partial<SelectionTable> & { by_horizon_minutes?: SelectionTable['byHorizon'] }) | undefined;
  set.table = {
    selected: metrics?.selected ?? {},
    median: metrics?.median ?? {},
    byHorizon: metrics?.by_horizon_minutes,
  };
  return set;
}

/** Forecasts from each origin with each model: per model, per origin index, steps 1..maxSteps (NaN if none). */
export async function forecastOrigins(
  s: PreparedSeries,
  origins: number[],
  maxSteps: number,
  models: ModelSet,
): Promise<Map<ModelName, (EngineOutput | undefined)[]>> {
  const out = new Map<ModelName, (EngineOutput | undefined)[]>();
  for (const b of BASELINES) {
    out.set(
      b,
      origins.map((o) =>
        baselineEligible(b, o + 1, maxSteps)
          ? baselineForecast(b, s.filled.subarray(Math.max(0, o + 1 - 2 * 288), o + 1), maxSteps)
          : undefined,
      ),
    );
  }
  const p = models.prophet;
  const index = p?.seriesIndex.get(s.seriesId);
  if (p && index !== undefined) {
    const rows = origins.map((o) => ({
      series: index,
      origin: gridTime(s.grid, o),
      steps: maxSteps,
      recent: s.filled.subarray(Math.max(0, o + 1 - p.levelSteps), o + 1),
    }));
    out.set('prophet', await p.forecast(rows));
  }
  const l = models.lstm;
  if (l) {
    const w = l.windowSteps;
    const usable = origins.map((o) => o + 1 >= w);
    const rows = origins
      .filter((_, i) => usable[i])
      .map((o) => ({
        resource: s.resource,
        channels: { [s.resource]: s.filled.subarray(o + 1 - w, o + 1) },
        times: Array.from({ length: w }, (_, k) => gridTime(s.grid, o + 1 - w + k)),
      }));
    const scored = await l.score(rows);
    let k = 0;
    out.set(
      'lstm',
      usable.map((u) => {
        if (!u) return undefined;
        const r = scored[k++]!;
        if (r.yhat.length >= maxSteps) return r;
        // Beyond the LSTM's horizon: NaN, so those rows are left out rather than invented.
        const pad = (a: Float64Array) => Float64Array.from({ length: maxSteps }, (_, i) => a[i] ?? Number.NaN);
        return { yhat: pad(r.yhat), lower: pad(r.lower), upper: pad(r.upper) };
      }),
    );
  }
  return out;
}

export function percentile(values: ArrayLike<number>, q: number): number {
  const v = Array.from(values)
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const pos = (v.length - 1) * q;
  const lo = Math.floor(pos);
  return v[lo]! + (v[Math.min(lo + 1, v.length - 1)]! - v[lo]!) * (pos - lo);
}

export function maseScale(values: ArrayLike<number>): number {
  let sum = 0;
  let n = 0;
  for (let i = 1; i < values.length; i++) {
    const d = Math.abs(values[i]! - values[i - 1]!);
    if (Number.isFinite(d)) {
      sum += d;
      n++;
    }
  }
  return n > 0 && sum > 0 ? sum / n : 1;
}

/** Scores forecasts against the grid: per horizon H, errors at lead H and the F1 of the peak within H. */
export function score(
  s: PreparedSeries,
  origins: number[],
  forecasts: (EngineOutput | undefined)[],
  horizons: number[],
  threshold: number,
  scale: number,
  model: BacktestModel,
): BacktestMetric[] {
  const actual = s.grid.values;
  return horizons.map((H) => {
    const steps = H / STEP_MINUTES;
    let absSum = 0;
    let smapeSum = 0;
    let n = 0;
    let inside = 0;
    let tp = 0;
    let fp = 0;
    let fn = 0;
    origins.forEach((o, i) => {
      const f = forecasts[i];
      if (!f) return;
      const a = actual[o + steps];
      const y = f.yhat[steps - 1];
      if (a !== undefined && Number.isFinite(a) && y !== undefined && Number.isFinite(y)) {
        absSum += Math.abs(a - y);
        const d = Math.abs(a) + Math.abs(y);
        smapeSum += d > 0 ? (2 * Math.abs(a - y)) / d : 0;
        n++;
        if (a >= f.lower[steps - 1]! && a <= f.upper[steps - 1]!) inside++;
      }
      let peakA = Number.NEGATIVE_INFINITY;
      let peakF = Number.NEGATIVE_INFINITY;
      for (let h = 1; h <= steps && o + h < actual.length; h++) {
        const av = actual[o + h]!;
        if (Number.isFinite(av)) peakA = Math.max(peakA, av);
        const fv = f.yhat[h - 1]!;
        if (Number.isFinite(fv)) peakF = Math.max(peakF, fv);
      }
      if (!Number.isFinite(peakA) || !Number.isFinite(peakF)) return;
      const isA = peakA > threshold;
      const isF = peakF > threshold;
      if (isA && isF) tp++;
      else if (isF) fp++;
      else if (isA) fn++;
    });
    const mae = n > 0 ? absSum / n : Number.NaN;
    return {
      model,
      horizonMinutes: H,
      n,
      mae,
      smape: n > 0 ? (100 * smapeSum) / n : Number.NaN,
      mase: mae / scale,
      f1: tp + fp + fn > 0 ? (2 * tp) / (2 * tp + fp + fn) : Number.NaN,
      coverage: n > 0 ? inside / n : Number.NaN,
    };
  });
}

const iso = (t: number): string => new Date(t).toISOString();

export interface BacktestOptions {
  csv: string;
  horizons: number[];
  outDir?: string;
  /** Writes `<name>.svg` here: actuals, the selected model's forecast at the first horizon, its interval. */
  plotDir?: string;
  python: string;
  epochs?: number;
  log?: (line: string) => void;
}

/** Trains on the first 70% of one CSV, backtests on the rest; writes the raw forecasts when `outDir` is set. */
export async function backtestCsv(options: BacktestOptions): Promise<BacktestReport> {
  const { series: s, raw } = await loadSeriesCsv(options.csv);
  const work = await mkdtemp(join(tmpdir(), 'understudy-backtest-'));
  try {
    const dataDir = join(work, 'data');
    await mkdir(dataDir);
    await writeFile(join(dataDir, `${s.seriesId}.csv`), `timestamp,value\n${raw.join('\n')}\n`);
    const trained = await trainModels({
      python: options.python,
      dataDir,
      artifactsDir: join(work, 'artifacts'),
      epochs: options.epochs ?? 8,
      onLog: options.log,
    });
    const models = await openModelSet(join(work, 'artifacts'), trained.version);
    try {
      return await backtestPrepared(
        s,
        options.horizons,
        models,
        options.outDir,
        basename(options.csv),
        options.plotDir,
      );
    } finally {
      await Promise.all([models.prophet?.release(), models.lstm?.release()]);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The backtest proper, on a series already cleaned and models already trained on its first 70%. */
export async function backtestPrepared(
  s: PreparedSeries,
  horizons: number[],
  models: ModelSet,
  outDir: string | undefined,
  file: string,
  plotDir?: string,
): Promise<BacktestReport> {
  const warnings: string[] = [];
  const n = s.grid.values.length;
  const maxSteps = Math.max(...horizons) / STEP_MINUTES;
  const origins: number[] = [];
  for (let o = s.fitEnd - 1; o + 1 < n; o++) if (Number.isFinite(s.grid.values[o]!)) origins.push(o);
  const training = s.grid.values.subarray(0, s.fitEnd);
  const threshold = percentile(training, 0.95);
  const scale = maseScale(training);
  const forecasts = await forecastOrigins(s, origins, maxSteps, models);
  if (!forecasts.has('prophet')) warnings.push('no Prophet fit for this series (see the trainer log); left out');
  if (!forecasts.has('lstm')) warnings.push('no LSTM model; left out');
  if (models.lstm && maxSteps > models.lstm.horizonSteps) {
    warnings.push(
      `the LSTM forecasts ${models.lstm.horizonSteps * STEP_MINUTES} minutes at most; longer horizons have no LSTM rows`,
    );
  }
  // The selector's choice per requested horizon; a lead time takes the choice of the shortest horizon covering it.
  const selected: Record<string, ModelName> = {};
  for (const h of horizons) {
    let choice = preferredModel(s.seriesId, tableFor(models.table, h));
    if (!forecasts.has(choice)) {
      warnings.push(`the selected model ${choice} (${h}m) is not available; selected falls back to seasonal_naive`);
      choice = 'seasonal_naive';
    }
    selected[String(h)] = choice;
  }
  const leadModel = Array.from({ length: maxSteps }, (_, k) => {
    const h = horizons.find((x) => x >= (k + 1) * STEP_MINUTES) ?? horizons[horizons.length - 1]!;
    return forecasts.get(selected[String(h)]!)!;
  });
  const selectedOut = origins.map((_, i) => {
    const pick = (field: keyof EngineOutput) =>
      Float64Array.from({ length: maxSteps }, (_, k) => leadModel[k]![i]?.[field][k] ?? Number.NaN);
    return { yhat: pick('yhat'), lower: pick('lower'), upper: pick('upper') };
  });
  const all: [BacktestModel, (EngineOutput | undefined)[]][] = [...forecasts.entries(), ['selected', selectedOut]];
  const metrics = all.flatMap(([model, f]) => score(s, origins, f, horizons, threshold, scale, model));

  let csvOut: string | undefined;
  if (outDir) {
    await mkdir(outDir, { recursive: true });
    csvOut = join(outDir, file.replace(/\.csv$/i, '') + '.csv');
    const lines = ['origin,timestamp,horizon_minutes,model,yhat,yhat_lower,yhat_upper'];
    origins.forEach((o, i) => {
      const originIso = iso(gridTime(s.grid, o));
      for (let h = 1; h <= maxSteps && o + h < n; h++) {
        const ts = iso(gridTime(s.grid, o + h));
        for (const [model, f] of all) {
          const r = f[i];
          const y = r?.yhat[h - 1];
          if (!r || y === undefined || !Number.isFinite(y)) continue;
          lines.push(`${originIso},${ts},${h * STEP_MINUTES},${model},${y},${r.lower[h - 1]},${r.upper[h - 1]}`);
        }
      }
    });
    await writeFile(csvOut, `${lines.join('\n')}\n`);
  }
  let plotOut: string | undefined;
  if (plotDir) {
    await mkdir(plotDir, { recursive: true });
    plotOut = join(plotDir, file.replace(/\.csv$/i, '') + '.svg');
    const steps = horizons[0]! / STEP_MINUTES;
    const forecast = {
      horizonMinutes: horizons[0]!,
      at: [] as number[],
      yhat: [] as number[],
      lower: [] as number[],
      upper: [] as number[],
    };
    origins.forEach((o, i) => {
      const y = selectedOut[i]!.yhat[steps - 1]!;
      if (o + steps >= n || !Number.isFinite(y)) return;
      forecast.at.push(gridTime(s.grid, o + steps));
      forecast.yhat.push(y);
      forecast.lower.push(selectedOut[i]!.lower[steps - 1]!);
      forecast.upper.push(selectedOut[i]!.upper[steps - 1]!);
    });
    const selectedMase = metrics.find((m) => m.model === 'selected' && m.horizonMinutes === horizons[0]);
    await writeTracePlot(plotOut, {
      name: `${s.seriesId}: backtest`,
      subtitle: `trained on the first ${s.fitEnd} steps; selected ${selected[String(horizons[0])]} at ${horizons[0]} min, MASE ${selectedMase ? selectedMase.mase.toFixed(3) : '-'}`,
      startMs: s.grid.start,
      stepMs: s.grid.stepMs,
      levels: [{ value: threshold, label: `training p95 (${threshold.toFixed(1)}), the F1 threshold` }],
      unit: 'value',
      seriesLabel: 'actual',
      demand: s.grid.values,
      forecast,
      timelines: [],
    });
  }
  return {
    seriesId: s.seriesId,
    file,
    samples: n,
    fitSamples: s.fitEnd,
    origins: origins.length,
    threshold,
    maseScale: scale,
    selected,
    metrics,
    csvOut,
    ...(plotOut ? { plotOut } : {}),
    warnings,
  };
}

export function formatReport(r: BacktestReport): string {
  const fmt = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  const lines = [
    `backtest ${r.file}: ${r.samples} five-minute steps, trained on the first ${r.fitSamples}, ${r.origins} origins; ` +
      `selected: ${Object.entries(r.selected)
        .map(([h, m]) => `${m} (${h}m)`)
        .join(', ')}; peak threshold (training p95): ${fmt(r.threshold)}`,
    `${'model'.padEnd(15)}${'horizon'.padStart(8)}${'n'.padStart(7)}${'MAE'.padStart(14)}${'sMAPE%'.padStart(9)}${'MASE'.padStart(8)}${'peak F1'.padStart(9)}${'cover80'.padStart(9)}`,
  ];
  for (const m of r.metrics) {
    lines.push(
      `${m.model.padEnd(15)}${`${m.horizonMinutes}m`.padStart(8)}${String(m.n).padStart(7)}${fmt(m.mae).padStart(14)}` +
        `${fmt(m.smape, 2).padStart(9)}${fmt(m.mase).padStart(8)}${fmt(m.f1).padStart(9)}${fmt(m.coverage, 2).padStart(9)}`,
    );
  }
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  if (r.csvOut) lines.push(`raw forecasts: ${r.csvOut}`);
  if (r.plotOut) lines.push(`chart: ${r.plotOut}`);
  return lines.join('\n');
}
