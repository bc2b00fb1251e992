// The backtest on a messy CSV (irregular steps, duplicates, a gap, rows out of order): trains on the first 70%
// only, writes raw forecasts anyone can re-score, and its printed metrics agree with that CSV.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { backtestCsv, percentile, type BacktestReport } from '../../src/forecast/backtest.js';
import { PROJECT_ROOT, stackPaths } from '../../src/stack/paths.js';

const START = Date.UTC(2026, 9, 1);
const fmt = (t: number) => new Date(t).toISOString().replace('T', ' ').slice(0, 19);

function messyCsv(days: number): string {
  const rows: string[] = [];
  for (let i = 0; i < days * 288; i++) {
    if (i > 700 && i < 706) continue; // a 30-minute gap
    const jitter = ((i * 37) % 5) * 1000; // irregular stamps
    const t = START + i * 300_000 + jitter;
    const v = 50 + 30 * Math.sin((2 * Math.PI * i) / 288) + ((i * 7919) % 13) / 2;
    rows.push(`${fmt(t)},${v.toFixed(3)}`);
    if (i % 500 === 0) rows.push(`${fmt(t)},${(v + 1).toFixed(3)}`); // duplicate stamp
  }
  [rows[10], rows[11]] = [rows[11]!, rows[10]!]; // two rows out of order
  return `timestamp,value\n${rows.join('\n')}\n`;
}

describe('backtest', () => {
  let dir: string;
  let report: BacktestReport;
  let rows: string[][];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'understudy-backtest-test-'));
    await writeFile(join(dir, 'messy.csv'), messyCsv(4));
    report = await backtestCsv({
      csv: join(dir, 'messy.csv'),
      horizons: [15, 60],
      outDir: join(dir, 'out'),
      plotDir: join(dir, 'plot'),
      python: stackPaths(loadConfig(undefined, {}).config).venvPython,
      epochs: 1,
    });
    rows = (await readFile(join(dir, 'out', 'messy.csv'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => l.split(','));
  }, 300_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes DIR/<name>.csv with the raw forecasts of every model, selected included', () => {
    expect(rows[0]).toEqual(['origin', 'timestamp', 'horizon_minutes', 'model', 'yhat', 'yhat_lower', 'yhat_upper']);
    const models = new Set(rows.slice(1).map((r) => r[3]));
    expect([...models].sort()).toEqual(['lstm', 'naive', 'prophet', 'seasonal_naive', 'selected', 'short_mean']);
    const first = rows[1]!;
    expect(first[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    expect(Date.parse(first[1]!) - Date.parse(first[0]!)).toBe(Number(first[2]) * 60_000);
    // Origins start at the end of the training part (70% of the grid), never earlier.
    const origins = rows.slice(1).map((r) => Date.parse(r[0]!));
    expect(Math.min(...origins)).toBe(START + (report.fitSamples - 1) * 300_000);
    const selected = rows.filter((r) => r[3] === 'selected').map((r) => r.slice(0, 3).concat(r.slice(4)).join());
    // Leads up to 15 minutes come from the 15-minute choice, longer ones from the 1-hour choice.
    const chosen = rows
      .filter((r) => r[3] === report.selected[Number(r[2]) <= 15 ? '15' : '60'])
      .map((r) => r.slice(0, 3).concat(r.slice(4)).join());
    expect(selected).toEqual(chosen);
  });

  it('draws DIR/<name>.svg: actuals, the selected forecast with its interval, the F1 threshold', async () => {
    expect(report.plotOut).toBe(join(dir, 'plot', 'messy.svg'));
    const svg = await readFile(report.plotOut!, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    for (const text of ['messy: backtest', `selected ${report.selected['15']} at 15 min`, 'training p95', 'actual'])
      expect(svg, text).toContain(text);
  });

  it('prints metrics that the raw CSV reproduces', async () => {
    const grid = new Map<number, number>();
    // Re-derive actuals independently: the 5-minute bucket means of the input rows.
    const input = (await readFile(join(dir, 'messy.csv'), 'utf8')).trim().split('\n').slice(1);
    const sums = new Map<number, [number, number]>();
    for (const line of input) {
      const [ts, v] = line.split(',');
      const k = Math.floor((Date.parse(`${ts!.replace(' ', 'T')}Z`) - START) / 300_000);
      const s = sums.get(k) ?? [0, 0];
      sums.set(k, [s[0] + Number(v), s[1] + 1]);
    }
    for (const [k, [s, n]] of sums) grid.set(START + k * 300_000, s / n);
    const naive60 = rows.filter((r) => r[3] === 'naive' && r[2] === '60');
    const errors = naive60
      .map((r) => grid.get(Date.parse(r[1]!)))
      .map((a, i) => (a === undefined ? NaN : Math.abs(a - Number(naive60[i]![4]))));
    const finite = errors.filter(Number.isFinite);
    const mae = finite.reduce((a, b) => a + b, 0) / finite.length;
    const metric = report.metrics.find((m) => m.model === 'naive' && m.horizonMinutes === 60)!;
    expect(metric.n).toBe(finite.length);
    expect(metric.mae).toBeCloseTo(mae, 6);
    expect(metric.mase).toBeCloseTo(mae / report.maseScale, 6);
    const inside = naive60.filter((r) => {
      const a = grid.get(Date.parse(r[1]!));
      return a !== undefined && a >= Number(r[5]) && a <= Number(r[6]);
    }).length;
    expect(metric.coverage).toBeCloseTo(inside / finite.length, 6);
    expect(report.threshold).toBeCloseTo(
      percentile(
        [...grid.entries()].filter(([t]) => t < START + report.fitSamples * 300_000).map(([, v]) => v),
        0.95,
      ),
      0, // the grid also holds the 5 interpolated gap steps
    );
    for (const m of report.metrics) {
      expect(Number.isFinite(m.mase)).toBe(true);
      expect(m.smape).toBeGreaterThanOrEqual(0);
    }
    // On a clean daily cycle the seasonal models must beat the last value an hour ahead.
    const mase = (model: string) => report.metrics.find((m) => m.model === model && m.horizonMinutes === 60)!.mase;
    expect(Math.min(mase('seasonal_naive'), mase('prophet'), mase('lstm'))).toBeLessThan(mase('naive'));
  });

  it('refuses a series too short to train on, naming the file, with exit code 1', async () => {
    await writeFile(join(dir, 'short.csv'), messyCsv(1));
    const run = spawnSync('npx', ['tsx', 'src/cli/main.ts', 'backtest', '--csv', join(dir, 'short.csv')], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/short\.csv: too short to backtest/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});
