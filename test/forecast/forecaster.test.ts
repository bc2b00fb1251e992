// The ONNX forecaster on the committed artifacts: model choice per series, micro-batching, fallbacks on bad
// models, bad input named by series, hot reload of a new version.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createForecaster, type OnnxForecaster } from '../../src/forecast/forecaster.js';
import { parseCsv } from '../../src/forecast/series.js';
import { ForecastInputError, type ForecastRequest, type SeriesHistory } from '../../src/forecast/types.js';
import { NAB_DIR, PROJECT_ROOT } from '../../src/stack/paths.js';

const ARTIFACTS = join(PROJECT_ROOT, 'models', 'artifacts');
const NAB = join(NAB_DIR, 'realAWSCloudwatch');

async function nabTail(id: string, steps: number): Promise<SeriesHistory> {
  const all = parseCsv(await readFile(join(NAB, `${id}.csv`), 'utf8'), id);
  return { timestamps: all.timestamps.slice(-steps), values: all.values.slice(-steps) };
}

/** A noisy, not seasonal history (so model choice never hinges on a daily cycle), ending at `end`. */
function synthetic(n: number, end = Date.UTC(2026, 10, 20, 12)): SeriesHistory {
  const timestamps = Array.from({ length: n }, (_, i) => end - (n - 1 - i) * 300_000);
  const noise = (i: number): number => {
    const x = Math.sin(i * 12.9898) * 43758.5453;
    return x - Math.floor(x);
  };
  return { timestamps, values: timestamps.map((_, i) => 40 + 20 * noise(i)) };
}

async function copyArtifacts(kinds: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'understudy-artifacts-'));
  for (const k of kinds) await cp(join(ARTIFACTS, k), join(dir, k), { recursive: true });
  return dir;
}

describe('OnnxForecaster', () => {
  let forecaster: OnnxForecaster;
  let manifest: { backtest_metrics: { selected: Record<string, string> } };
  const temps: string[] = [];

  beforeAll(async () => {
    forecaster = await createForecaster({ artifactsDir: ARTIFACTS, pollIntervalMs: 0 });
    manifest = JSON.parse(await readFile(join(ARTIFACTS, 'prophet-v1', 'manifest.json'), 'utf8')) as typeof manifest;
  });
  afterAll(async () => {
    await forecaster.close();
    await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('loads the newest Prophet and LSTM versions', () => {
    const models = forecaster.models();
    expect(models.map((m) => m.model).sort()).toEqual(['lstm', 'prophet']);
    expect(models.find((m) => m.model === 'prophet')?.series).toBe(17);
  });

  it('uses the model the trainer selected for a known series, with a sane interval', async () => {
    const id = 'ec2_cpu_utilization_24ae8d';
    const history = await nabTail(id, 600);
    const result = await forecaster.forecast({
      seriesId: id,
      hostId: 'h1',
      resource: 'cpu',
      history,
      horizonMinutes: 60,
      now: history.timestamps.at(-1)! + 60_000,
    });
    const expected = manifest.backtest_metrics.selected[id];
    // Prophet for a 2014 series is stale today only if it was selected; every other choice is served as is.
    expect(result.model).toBe(expected);
    expect(result.points).toHaveLength(12);
    expect(result.points[0]!.timestamp).toBeGreaterThan(history.timestamps.at(-1)!);
    for (const p of result.points) {
      expect(p.lower).toBeLessThanOrEqual(p.yhat);
      expect(p.upper).toBeGreaterThanOrEqual(p.yhat);
      expect(Number.isFinite(p.yhat)).toBe(true);
    }
    expect(result.peak.yhat).toBe(Math.max(...result.points.map((p) => p.yhat)));
  });

  it('serves Prophet for a series it was fitted on, and falls back when that fit is stale', async () => {
    const f = await createForecaster({ artifactsDir: ARTIFACTS, pollIntervalMs: 0, preferModel: 'prophet' });
    try {
      const id = 'rds_cpu_utilization_e47b3b';
      const history = await nabTail(id, 400);
      const fresh = await f.forecast({ seriesId: id, hostId: 'db', resource: 'cpu', history, horizonMinutes: 60 });
      expect(fresh.model).toBe('prophet');
      expect(fresh.modelVersion).toBe('1');
      expect(fresh.warnings).toEqual([]);
      const year = 365 * 86_400_000;
      const later = { timestamps: history.timestamps.map((t) => t + year), values: history.values };
      const stale = await f.forecast({
        seriesId: id,
        hostId: 'db',
        resource: 'cpu',
        history: later,
        horizonMinutes: 60,
      });
      expect(stale.model).not.toBe('prophet');
      expect(stale.warnings.join(' ')).toMatch(/prophet not used: Prophet v1 is stale for this series/);
    } finally {
      await f.close();
    }
  });

  it('gathers concurrent requests into one ONNX run', async () => {
    const before = forecaster.registry.lstm!.stats.runs;
    const sizes = forecaster.batcher.batchSizes.length;
    const requests: ForecastRequest[] = Array.from({ length: 40 }, (_, i) => ({
      hostId: `host-${i}`,
      resource: 'cpu',
      history: synthetic(300),
      horizonMinutes: 15,
    }));
    const results = await Promise.all(requests.map((r) => forecaster.forecast(r)));
    expect(forecaster.batcher.batchSizes.slice(sizes)).toEqual([40]);
    expect(results.every((r) => r.model === 'lstm' && r.points.length === 3)).toBe(true);
    expect(forecaster.registry.lstm!.stats.runs - before).toBe(1);
  });

  it('rejects bad input with an error naming the series, and other requests in the batch still succeed', async () => {
    const good = synthetic(300);
    const cases: [Partial<SeriesHistory>, RegExp][] = [
      [{ values: [...good.values.slice(0, -1), Number.NaN] }, /not a finite number/],
      [{ values: [...good.values.slice(0, -1), -3] }, /negative utilisation/],
      [
        { timestamps: [...good.timestamps.slice(0, -2), good.timestamps.at(-1)!, good.timestamps.at(-2)!] },
        /out of order/,
      ],
      [{ timestamps: good.timestamps.map((t) => t + 86_400_000 * 365 * 50) }, /in the future/],
    ];
    const results = await Promise.allSettled([
      ...cases.map(([patch], i) =>
        forecaster.forecast({
          hostId: `bad-${i}`,
          resource: 'mem',
          history: { ...good, ...patch },
          horizonMinutes: 60,
        }),
      ),
      forecaster.forecast({ hostId: 'fine', resource: 'mem', history: good, horizonMinutes: 60 }),
    ]);
    cases.forEach(([, message], i) => {
      const r = results[i]!;
      expect(r.status).toBe('rejected');
      const error = (r as PromiseRejectedResult).reason as Error;
      expect(error).toBeInstanceOf(ForecastInputError);
      expect(error.message).toContain(`bad-${i}/mem`);
      expect(error.message).toMatch(message);
    });
    expect(results.at(-1)!.status).toBe('fulfilled');
  });

  it('falls back to a baseline with a warning when the history is too short for the chosen model', async () => {
    const result = await forecaster.forecast({
      hostId: 'new',
      resource: 'cpu',
      history: synthetic(10),
      horizonMinutes: 60,
    });
    expect(['short_mean', 'naive']).toContain(result.model);
    expect(result.modelVersion).toBe('builtin');
    expect(result.warnings.join(' ')).toMatch(/lstm not used: the LSTM needs 48 samples/);
  });

  it('skips a corrupt newest version with a warning naming it and keeps the previous one', async () => {
    const dir = await copyArtifacts(['lstm-v1']);
    temps.push(dir);
    await cp(join(dir, 'lstm-v1'), join(dir, 'lstm-v2'), { recursive: true });
    const bytes = await readFile(join(dir, 'lstm-v2', 'model.onnx'));
    await writeFile(join(dir, 'lstm-v2', 'model.onnx'), bytes.subarray(0, bytes.length >> 1));
    const logs: string[] = [];
    const f = await createForecaster({ artifactsDir: dir, pollIntervalMs: 0, log: (m) => logs.push(m) });
    try {
      expect(f.models().map((m) => `${m.model}@${m.dir}`)).toEqual([`lstm@${join(dir, 'lstm-v1')}`]);
      expect(f.registry.problems.get('lstm')).toMatch(/lstm version 2 is unusable: .*lstm-v2\/model.onnx: sha256/);
      expect(logs.join('\n')).toMatch(/WARNING lstm version 2/);
    } finally {
      await f.close();
    }
  });

  it('names the folder when the manifest does not match the graph', async () => {
    const dir = await copyArtifacts(['prophet-v1']);
    temps.push(dir);
    const path = join(dir, 'prophet-v1', 'manifest.json');
    const m = JSON.parse(await readFile(path, 'utf8')) as { outputs: { name: string }[] };
    m.outputs[0]!.name = 'forecast';
    await writeFile(path, JSON.stringify(m));
    const f = await createForecaster({ artifactsDir: dir, pollIntervalMs: 0 });
    try {
      expect(f.models()).toEqual([]);
      expect(f.registry.problems.get('prophet')).toContain(`${join(dir, 'prophet-v1')}: the manifest names inputs`);
      // No model at all: the baselines still answer, and say why.
      const r = await f.forecast({ hostId: 'h', resource: 'net', history: synthetic(400), horizonMinutes: 60 });
      expect(r.model).toBe('seasonal_naive');
      expect(r.points).toHaveLength(12);
      expect(r.warnings.join(' ')).toMatch(/lstm not used: no LSTM model is loaded/);
    } finally {
      await f.close();
    }
  });

  it('hot-reloads a new version without a restart', async () => {
    const dir = await copyArtifacts(['lstm-v1']);
    temps.push(dir);
    const f = await createForecaster({ artifactsDir: dir, pollIntervalMs: 50 });
    try {
      const request: ForecastRequest = { hostId: 'h', resource: 'cpu', history: synthetic(300), horizonMinutes: 60 };
      expect((await f.forecast(request)).modelVersion).toBe('1');
      await cp(join(dir, 'lstm-v1'), join(dir, '.lstm-v2.tmp'), { recursive: true });
      const path = join(dir, '.lstm-v2.tmp', 'manifest.json');
      await writeFile(path, (await readFile(path, 'utf8')).replace('"version": "1"', '"version": "2"'));
      await cp(join(dir, '.lstm-v2.tmp'), join(dir, 'lstm-v2'), { recursive: true });
      await expect.poll(async () => (await f.forecast(request)).modelVersion, { timeout: 5_000 }).toBe('2');
    } finally {
      await f.close();
    }
  });
});
