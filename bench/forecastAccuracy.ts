/**
 * bench:forecast-accuracy — median MASE and threshold-crossing F1 per model and series class at 15 min and 1 h, on
 * the repository's NAB realAWSCloudwatch series or any folder of timestamp,value CSVs (--traces DIR).
 * Every model is trained on the first 70% of every series (one trainer run: Prophet per series, the LSTM over
 * all of them), then backtested from every point of the last 30% (src/forecast/backtest.ts). Classes: "seasonal"
 * when the autocorrelation at one day of the training part's hourly means is at least 0.3, else "weakly seasonal".
 * `best_baseline` is, per series, whichever naive baseline scored best there (chosen with hindsight): the bar the
 * selected model must clear. The Prophet anchor is Prophet's own `predict` in Python on the same split. Not a test:
 * it prints figures. A file that cannot be backtested is skipped with the reason. The default run adds one synthetic
 * host with a month-end surge (`monthEnd` in the JSON), trained and backtested on its own: the monthly term at work.
 * Usage: npm run bench:forecast-accuracy [-- --json] [-- --epochs 12] [-- --traces DIR]
 */
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load.js';
import {
  backtestPrepared,
  forecastOrigins,
  loadSeriesCsv,
  maseScale,
  openModelSet,
  percentile,
  score,
  type BacktestMetric,
  type BacktestModel,
  type ModelSet,
  type PreparedSeries,
} from '../src/forecast/backtest.js';
import { clearlySeasonal } from '../src/forecast/forecaster.js';
import { rankModels, tableFor } from '../src/forecast/registry.js';
import { MODELS_DIR, trainModels } from '../src/forecast/trainer.js';
import { NAB_DIR, stackPaths } from '../src/stack/paths.js';
import { MONTH_END_DAYS, monthEndTrace, traceCsv } from './traces.js';

const HORIZONS = [15, 60];
const { values: args } = parseArgs({
  options: { json: { type: 'boolean' }, epochs: { type: 'string' }, traces: { type: 'string' } },
});
const BASELINE_MODELS = ['naive', 'seasonal_naive', 'short_mean'] as const;
const python = stackPaths(loadConfig(undefined, {}).config).venvPython;
const log = (line: string): void => {
  if (!args.json) process.stderr.write(`${line}\n`);
};

/** Autocorrelation at one day of the training part's hourly means (hourly: 5-minute noise hides the cycle). */
function acfAtDay(s: PreparedSeries): number {
  const fine = s.filled.subarray(0, s.fitEnd);
  const v: number[] = [];
  for (let i = 0; i + 12 <= fine.length; i += 12) v.push(fine.subarray(i, i + 12).reduce((a, b) => a + b, 0) / 12);
  const lag = 24;
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < v.length; i++) {
    den += (v[i]! - mean) ** 2;
    if (i + lag < v.length) num += (v[i]! - mean) * (v[i + lag]! - mean);
  }
  return den > 0 ? num / den : 0;
}

/**
 * What a host the trainer never saw gets (OnnxForecaster.candidates), from every origin of the test part: seasonal-
 * naive when its last two days show a clean daily cycle (clearlySeasonal), else the best model that needs no
 * per-series fit. Per horizon: its MASE, and the share of origins routed to seasonal-naive.
 */
async function unseenHost(s: PreparedSeries, models: ModelSet): Promise<{ mase: number; seasonalShare: number }[]> {
  const origins: number[] = [];
  for (let o = s.fitEnd - 1; o + 1 < s.grid.values.length; o++) if (Number.isFinite(s.grid.values[o]!)) origins.push(o);
  const training = s.grid.values.subarray(0, s.fitEnd);
  const forecasts = await forecastOrigins(s, origins, Math.max(...HORIZONS) / 5, models);
  return HORIZONS.map((h) => {
    const fallback = rankModels(tableFor(models.table, h)).find((m) => m !== 'prophet') ?? 'short_mean';
    let seasonal = 0;
    const chosen = origins.map((o, i) => {
      const useSeasonal = clearlySeasonal(s.filled.subarray(Math.max(0, o + 1 - 2 * 288), o + 1), h / 5);
      if (useSeasonal) seasonal++;
      return forecasts.get(useSeasonal ? 'seasonal_naive' : fallback)?.[i];
    });
    const [metric] = score(s, origins, chosen, [h], percentile(training, 0.95), maseScale(training), 'selected');
    return { mase: metric!.mase, seasonalShare: seasonal / origins.length };
  });
}

const median = (xs: number[]): number => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
};

/** A backtest's metrics as tables: per metric, model → horizon in minutes → value. */
function byModelAndHorizon(metrics: BacktestMetric[]) {
  const table = (): Record<string, Record<string, number>> => ({});
  const out = { mase: table(), f1: table(), coverage: table() };
  for (const m of metrics) {
    const h = String(m.horizonMinutes);
    (out.mase[m.model] ??= {})[h] = m.mase;
    (out.f1[m.model] ??= {})[h] = m.f1;
    (out.coverage[m.model] ??= {})[h] = m.coverage;
  }
  return out;
}

/**
 * The synthetic month-end host (bench/traces.ts), trained and backtested on its own as the NAB series are: its first
 * 70% holds three month ends, enough for Prophet's monthly term, and its test part one more.
 */
async function monthEndBacktest(work: string) {
  const trace = monthEndTrace();
  const dir = join(work, 'month-end');
  await mkdir(join(dir, 'train'), { recursive: true });
  const file = join(dir, `${trace.name}.csv`);
  await writeFile(file, traceCsv(trace));
  const { series: s, raw } = await loadSeriesCsv(file);
  await writeFile(join(dir, 'train', `${trace.name}.csv`), `timestamp,value\n${raw.join('\n')}\n`);
  log(`training on the first 70% of ${trace.name}…`);
  const trained = await trainModels({
    python,
    dataDir: join(dir, 'train'),
    artifactsDir: join(dir, 'artifacts'),
    epochs: args.epochs ? Number(args.epochs) : 12,
  });
  const models = await openModelSet(join(dir, 'artifacts'), trained.version);
  const parameters = models.prophet?.manifest.parameters as { series?: { seasonalities?: string[] }[] } | undefined;
  const r = await backtestPrepared(s, HORIZONS, models, undefined, file);
  await Promise.all([models.prophet?.release(), models.lstm?.release()]);
  const { mase, f1 } = byModelAndHorizon(r.metrics);
  return {
    series: trace.name,
    days: MONTH_END_DAYS,
    prophetSeasonalities: parameters?.series?.[0]?.seasonalities ?? [],
    selected: r.selected,
    mase,
    f1,
  };
}

const dataDir = args.traces ? resolve(args.traces) : join(NAB_DIR, 'realAWSCloudwatch');
// NAB's anomaly windows are masked in training; another folder has no labels.
const labels = args.traces ? undefined : join(NAB_DIR, 'labels', 'combined_windows.json');
const work = await mkdtemp(join(tmpdir(), 'understudy-bench-accuracy-'));
try {
  const started = performance.now();
  // The training copies keep the folder name, so the label file's "realAWSCloudwatch/<file>" keys still match.
  const trainDir = join(work, basename(dataDir));
  // The anchor splits whole series itself: it gets the accepted files as they are, and never a skipped one.
  const anchorDir = join(work, 'anchor', basename(dataDir));
  await mkdir(trainDir);
  await mkdir(anchorDir, { recursive: true });
  const series: { s: PreparedSeries; file: string; acf: number }[] = [];
  const skipped: { file: string; reason: string }[] = [];
  const files = await readdir(dataDir).catch((error: Error) => {
    throw new Error(`--traces ${dataDir}: cannot read the folder: ${error.message}`);
  });
  for (const file of files.filter((f) => f.toLowerCase().endsWith('.csv')).sort()) {
    try {
      const { series: s, raw } = await loadSeriesCsv(join(dataDir, file));
      await writeFile(join(trainDir, file), `timestamp,value\n${raw.join('\n')}\n`);
      await copyFile(join(dataDir, file), join(anchorDir, file));
      series.push({ s, file, acf: acfAtDay(s) });
    } catch (error) {
      skipped.push({ file: join(dataDir, file), reason: `${(error as Error).message}; skipped` });
      log(`skipped: ${(error as Error).message}`);
    }
  }
  if (series.length === 0) throw new Error(`no series in ${dataDir} could be backtested`);
  log(`training on the first 70% of ${series.length} series…`);
  const trained = await trainModels({
    python,
    dataDir: trainDir,
    ...(labels ? { labelsFile: labels } : {}),
    artifactsDir: join(work, 'artifacts'),
    epochs: args.epochs ? Number(args.epochs) : 12,
  });
  const trainSeconds = (performance.now() - started) / 1000;
  log(`trained in ${trainSeconds.toFixed(0)} s; backtesting…`);
  const models = await openModelSet(join(work, 'artifacts'), trained.version);
  log('running Prophet in Python for the anchor…');
  const anchorArgs = [
    '-m',
    'understudy_trainer.anchor',
    '--data-dir',
    anchorDir,
    ...(labels ? ['--labels', labels] : []),
  ];
  const anchorRun = spawnSync(python, anchorArgs, {
    cwd: MODELS_DIR,
    env: { ...process.env, PYTHONPATH: MODELS_DIR, OMP_NUM_THREADS: '2' },
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (anchorRun.status !== 0) throw new Error(`the Prophet anchor failed: ${anchorRun.stderr.slice(-500)}`);
  const anchor = JSON.parse(anchorRun.stdout.trim().split('\n').at(-1)!) as Record<string, Record<string, number>>;

  const perSeries: {
    series: string;
    class: string;
    acfDay: number;
    selected: Record<string, string>;
    /** Share of test origins a host never seen by the trainer would have had forecast by seasonal-naive. */
    unseenSeasonalShare: Record<string, number>;
    mase: Record<string, Record<string, number>>;
    f1: Record<string, Record<string, number>>;
    coverage: Record<string, Record<string, number>>;
  }[] = [];
  for (const { s, file, acf } of series) {
    const r = await backtestPrepared(s, HORIZONS, models, undefined, file);
    const { mase, f1, coverage } = byModelAndHorizon(r.metrics);
    // The bar: per series and horizon, the naive baseline that did best there (by MASE), with its F1.
    mase.best_baseline = {};
    f1.best_baseline = {};
    for (const h of HORIZONS.map(String)) {
      const best = BASELINE_MODELS.reduce((a, b) => ((mase[b]?.[h] ?? Infinity) < (mase[a]?.[h] ?? Infinity) ? b : a));
      mase.best_baseline[h] = mase[best]?.[h] ?? Number.NaN;
      f1.best_baseline[h] = f1[best]?.[h] ?? Number.NaN;
    }
    const a = anchor[s.seriesId];
    if (a) mase.prophet_python = a;
    const unseen = await unseenHost(s, models);
    mase.unseen_host = Object.fromEntries(HORIZONS.map((h, i) => [String(h), unseen[i]!.mase]));
    perSeries.push({
      series: s.seriesId,
      class: acf >= 0.3 ? 'seasonal' : 'weakly seasonal',
      acfDay: acf,
      selected: r.selected,
      unseenSeasonalShare: Object.fromEntries(HORIZONS.map((h, i) => [String(h), unseen[i]!.seasonalShare])),
      mase,
      f1,
      coverage,
    });
  }
  await Promise.all([models.prophet?.release(), models.lstm?.release()]);

  const modelsShown: (BacktestModel | 'prophet_python' | 'unseen_host' | 'best_baseline')[] = [
    'selected',
    'best_baseline',
    'unseen_host',
    'lstm',
    'prophet',
    'prophet_python',
    'naive',
    'seasonal_naive',
    'short_mean',
  ];
  const classes = ['seasonal', 'weakly seasonal', 'all'];
  const table: Record<string, Record<string, Record<string, number>>> = {};
  const f1Table: Record<string, Record<string, Record<string, number>>> = {};
  for (const c of classes) {
    const members = perSeries.filter((p) => c === 'all' || p.class === c);
    table[c] = {};
    f1Table[c] = {};
    for (const m of modelsShown) {
      table[c][m] = Object.fromEntries(
        HORIZONS.map((h) => [String(h), median(members.map((p) => p.mase[m]?.[String(h)] ?? Number.NaN))]),
      );
      if (m === 'prophet_python' || m === 'unseen_host') continue;
      // NaN (no crossing in actuals or forecasts) is left out of the median, as the backtest reports it.
      f1Table[c][m] = Object.fromEntries(
        HORIZONS.map((h) => [String(h), median(members.map((p) => p.f1[m]?.[String(h)] ?? Number.NaN))]),
      );
    }
    table[c].series = { count: members.length };
  }
  // The target: the selected model beats the best per-series baseline on median MASE.
  const verdict = classes.flatMap((c) =>
    HORIZONS.map((h) => {
      const sel = table[c]!.selected![String(h)]!;
      const best = table[c]!.best_baseline![String(h)]!;
      return { class: c, horizonMinutes: h, selected: sel, bestBaseline: best, atOrBelow: sel <= best };
    }),
  );
  // Median share of actuals inside the 80% interval, all series: how far anomaly flags can be trusted.
  const coverage = Object.fromEntries(
    modelsShown
      .filter((m) => m !== 'prophet_python' && m !== 'unseen_host')
      .map((m) => [
        m,
        Object.fromEntries(
          HORIZONS.map((h) => [String(h), median(perSeries.map((p) => p.coverage[m]?.[String(h)] ?? Number.NaN))]),
        ),
      ]),
  );
  // The default run also shows the monthly term on a trace of its own; a folder of the user's has no such trace.
  const monthEnd = args.traces ? undefined : await monthEndBacktest(work);
  const result = {
    traces: dataDir,
    horizonsMinutes: HORIZONS,
    trainSeconds,
    table,
    f1: f1Table,
    verdict,
    coverage,
    skipped,
    perSeries,
    ...(monthEnd ? { monthEnd } : {}),
  };
  if (args.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    const fmt = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x.toFixed(3) : '-');
    for (const c of classes) {
      console.log(`\n${c} (${table[c]!.series!.count} series) — median MASE`);
      console.log(`${'model'.padEnd(16)}${HORIZONS.map((h) => `${h}m`.padStart(9)).join('')}`);
      for (const m of modelsShown)
        console.log(`${m.padEnd(16)}${HORIZONS.map((h) => fmt(table[c]![m]![String(h)]).padStart(9)).join('')}`);
    }
    console.log('\nmedian threshold-crossing F1 (peak within the horizon above the training p95), all series');
    for (const [m, f] of Object.entries(f1Table.all!)) {
      console.log(`${m.padEnd(16)}${HORIZONS.map((h) => fmt(f[String(h)]).padStart(9)).join('')}`);
    }
    console.log('\nmedian 80%-interval coverage, all series');
    for (const [m, c] of Object.entries(coverage)) {
      console.log(`${m.padEnd(16)}${HORIZONS.map((h) => fmt(c[String(h)]).padStart(9)).join('')}`);
    }
    for (const s of skipped) console.log(`skipped: ${s.reason}`);
    if (monthEnd) {
      console.log(
        `\n${monthEnd.series} (${monthEnd.days} days, a surge on the last two days of each month; Prophet fitted ` +
          `with ${monthEnd.prophetSeasonalities.join(', ')}; selected ${HORIZONS.map((h) => `${h}m: ${monthEnd.selected[String(h)]}`).join(', ')})`,
      );
      console.log(
        `${'model'.padEnd(16)}${HORIZONS.map((h) => `MASE ${h}m`.padStart(11)).join('')}${HORIZONS.map((h) => `F1 ${h}m`.padStart(9)).join('')}`,
      );
      for (const [m, mase] of Object.entries(monthEnd.mase)) {
        const f1 = monthEnd.f1[m] ?? {};
        console.log(
          `${m.padEnd(16)}${HORIZONS.map((h) => fmt(mase[String(h)]).padStart(11)).join('')}${HORIZONS.map((h) => fmt(f1[String(h)]).padStart(9)).join('')}`,
        );
      }
    }
    console.log('\nselected vs the best per-series baseline:');
    for (const v of verdict) {
      console.log(
        `  ${v.class.padEnd(16)} ${`${v.horizonMinutes}m`.padStart(4)}  ${fmt(v.selected)} vs ${fmt(v.bestBaseline)}  ${v.atOrBelow ? 'ok' : 'WORSE'}`,
      );
    }
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
