// Bad-input corpus, metric values and model files. Metrics: Telegraf samples written into a real InfluxDB database
// for hosts of a real simulator process, then read by the pair's own observation activity (`observePair`), as a
// pair's tick reads them: bad samples are dropped and named in the issues, never used as utilisation, and a tick
// on missing, stale or future data takes no forecast (so no decision). Models: broken newest versions are skipped
// with a warning naming the folder and the reason; the previous version (or a baseline) keeps serving.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrchestrationActivities, type PairObservation } from '../../activities/orchestration.js';
import { createForecaster, type OnnxForecaster } from '../../src/forecast/forecaster.js';
import { InfluxV1MetricsStore } from '../../src/metrics/influxV1Store.js';
import type { HostRef } from '../../src/shared/pair.js';
import { ARTIFACTS_DIR } from '../../src/forecast/trainer.js';
import { HOST_SIZE } from '../helpers/pair.js';
import {
  INFLUX_URL,
  createTestDatabase,
  finish,
  startTestSimulator,
  type TestSimulator,
} from '../helpers/simulator.js';

const MINUTE = 60_000;
const HISTORY_MINUTES = 6 * 60;

interface Sample {
  /** Minutes before the provider's "now" (negative: in the future). */
  ago: number;
  cpuIdle: number | string;
  memUsed: number | string;
}

/** Telegraf's default lines for one host: `cpu`, `mem`, and `diskio`/`net` counters that grow steadily. */
function telegraf(hostId: string, now: number, samples: Sample[]): string[] {
  return samples.flatMap(({ ago, cpuIdle, memUsed }) => {
    const t = now - ago * MINUTE;
    const n = Math.round(t / MINUTE);
    return [
      `cpu,cpu=cpu-total,host=${hostId} usage_idle=${cpuIdle} ${t}`,
      `mem,host=${hostId} used_percent=${memUsed} ${t}`,
      `diskio,host=${hostId},name=sda io_time=${n * 6_000}i,read_bytes=${n * 1e6}i,write_bytes=${n * 2e6}i ${t}`,
      `net,host=${hostId},interface=eth0 bytes_recv=${n * 3e9}i,bytes_sent=${n * 1e9}i ${t}`,
    ];
  });
}

/** A steady host: 40% CPU, 50% memory, one sample a minute for six hours up to `now`. */
const steady = (): Sample[] =>
  Array.from({ length: HISTORY_MINUTES }, (_, i) => ({
    ago: HISTORY_MINUTES - 1 - i,
    cpuIdle: 60 + (i % 3),
    memUsed: 50,
  }));

// [what, samples, what the observation must show]
const BAD_METRICS: [string, () => Sample[], (o: PairObservation) => void][] = [
  [
    'a CPU sample above 100% (usage_idle -20)',
    () => steady().map((s) => (s.ago === 0 ? { ...s, cpuIdle: -20 } : s)),
    (o) => {
      expect(o.issues.join('\n')).toMatch(
        /cpu: invalid-value — 1 cpu usage_idle sample\(s\) dropped: 120% is outside 0-100/,
      );
      expect(o.primary.utilisation?.cpu).toBeLessThanOrEqual(40);
      expect(o.forecast).toBeDefined();
    },
  ],
  [
    'a negative memory sample',
    () => steady().map((s) => (s.ago === 90 ? { ...s, memUsed: -5 } : s)),
    (o) => {
      expect(o.issues.join('\n')).toMatch(/memory: invalid-value — .*-5% is outside 0-100/);
      expect(o.primary.utilisation?.memory).toBe(50);
    },
  ],
  [
    'memory at 250%',
    () => steady().map((s) => (s.ago % 60 === 0 ? { ...s, memUsed: 250 } : s)),
    (o) => {
      expect(o.issues.join('\n')).toMatch(/memory: invalid-value — 6 .*250% is outside 0-100/);
      expect(o.primary.utilisation?.memory).toBe(50);
      expect(o.forecast?.peaks.every((p) => p.peakPercent < 100)).toBe(true);
    },
  ],
  [
    'samples stamped two hours in the future only',
    () => steady().map((s) => ({ ...s, ago: s.ago - HISTORY_MINUTES - 120 })),
    (o) => {
      expect(o.issues.join('\n')).toMatch(/cpu: no-data — no cpu samples for host/);
      expect(o.forecast).toBeUndefined();
      expect(o.primary.utilisation).toBeUndefined();
    },
  ],
  [
    'a gap of the last 30 minutes',
    () => steady().filter((s) => s.ago >= 30),
    (o) => {
      expect(o.issues.join('\n')).toMatch(/metrics stale: the newest sample is 3\d min old/);
      expect(o.forecast).toBeUndefined();
      expect(o.primary.utilisation).toBeUndefined();
    },
  ],
  [
    'a 50-minute gap two hours ago',
    () => steady().filter((s) => s.ago < 120 || s.ago >= 170),
    (o) => {
      expect(o.forecast?.peaks).toHaveLength(8);
      expect(o.forecast?.peaks.every((p) => Number.isFinite(p.peakPercent))).toBe(true);
    },
  ],
  [
    'every sample written twice',
    () => [...steady(), ...steady()],
    (o) => {
      // Not doubled: the same 38-40% CPU, 50% memory and 10% disk time a single copy gives.
      expect(o.primary.utilisation?.cpu).toBeGreaterThanOrEqual(38);
      expect(o.primary.utilisation?.cpu).toBeLessThanOrEqual(40);
      expect(o.primary.utilisation?.memory).toBe(50);
      expect(o.primary.utilisation?.storage).toBeCloseTo(10, 0);
      expect(o.issues.filter((i) => /invalid|reset/.test(i))).toEqual([]);
    },
  ],
];

describe('bad input: metric values, as the pair observes them', () => {
  let sim: TestSimulator;
  let database: { name: string; drop(): Promise<void> };
  let store: InfluxV1MetricsStore;
  let forecaster: OnnxForecaster;
  let activities: ReturnType<typeof createOrchestrationActivities>;

  beforeAll(async () => {
    database = await createTestDatabase('bad_metrics');
    store = new InfluxV1MetricsStore({ url: INFLUX_URL, database: database.name });
    sim = await startTestSimulator();
    forecaster = await createForecaster({ artifactsDir: ARTIFACTS_DIR, pollIntervalMs: 0 });
    // observePair reads the fleet, the metrics and the forecaster; it never calls Temporal.
    activities = createOrchestrationActivities({
      provider: sim.provider,
      metrics: store,
      forecaster,
      temporal: {} as Client,
    });
  });
  afterAll(async () => {
    await forecaster?.close();
    await sim?.stop();
    await database?.drop();
  });

  async function hostWith(hostId: string, samples: () => Sample[]): Promise<{ host: HostRef; now: number }> {
    const host: HostRef = { hostId, region: 'us-east', zone: 'us-east-a', capacity: HOST_SIZE };
    await finish(
      sim,
      await sim.provider.provisionHost({ ...host, role: 'primary', idempotencyKey: `create:${hostId}` }),
    );
    const now = Date.parse((await sim.control.status()).now);
    await store.write(telegraf(hostId, now, samples()), 'ms');
    return { host, now };
  }

  const observe = (primary: HostRef) =>
    activities.observePair({
      pairId: primary.hostId,
      primary,
      horizonsMinutes: [15, 60],
      historyMinutes: HISTORY_MINUTES,
      stepSeconds: 300,
    });

  it('a clean host, for contrast: utilisation, a forecast, no issues', async () => {
    const { host } = await hostWith('clean', steady);
    const o = await observe(host);
    expect(o.primary.utilisation).toMatchObject({ memory: 50 });
    expect(o.forecast?.peaks).toHaveLength(8);
    expect(o.issues.filter((i) => !/forecast: /.test(i))).toEqual([]);
  });

  it.each(BAD_METRICS)('%s: named in the issues, never used as utilisation', async (what, samples, check) => {
    const { host } = await hostWith(what.replace(/\W+/g, '-').slice(0, 40), samples);
    check(await observe(host));
  });

  it('a NaN sample is refused where it enters InfluxDB, naming the line; the good samples beside it are kept', async () => {
    const now = Date.parse((await sim.control.status()).now);
    const error = await store
      .write([`mem,host=nan-host used_percent=50 ${now - MINUTE}`, `mem,host=nan-host used_percent=NaN ${now}`], 'ms')
      .then(
        () => undefined,
        (e: Error) => e,
      );
    expect(error?.message).toMatch(
      /InfluxDB refused the write \(400\): .*unable to parse 'mem,host=nan-host used_percent=NaN .*invalid number/,
    );
    const [window] = await store.readUtilisation({
      hosts: [{ hostId: 'nan-host' }],
      resources: ['memory'],
      start: new Date(now - 5 * MINUTE),
      end: new Date(now + 1),
      stepSeconds: 60,
    });
    expect(window?.values.filter((v) => v !== null)).toEqual([50]);
  });
});

// ---- model files -----------------------------------------------------------------------------------------------------

type Manifest = {
  sha256: string;
  model_type: string;
  version?: string;
  inputs: { shape: (string | number)[]; features: string[] }[];
  outputs: { name: string; shape: (string | number)[] }[];
};
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** Breaks `dir` (a copy of lstm-v1) in one way. */
type Breakage = (dir: string, manifest: Manifest, model: Buffer) => Promise<void>;
const saveManifest = (dir: string, manifest: Manifest) =>
  writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));

// [what, breakage, the warning must match]
const BAD_MODELS: [string, Breakage, RegExp][] = [
  [
    'a model truncated, with the manifest updated to match',
    async (dir, manifest, model) => {
      const half = model.subarray(0, model.length >> 1);
      await writeFile(join(dir, 'model.onnx'), half);
      await saveManifest(dir, { ...manifest, sha256: sha256(half) });
    },
    /model\.onnx: onnxruntime cannot load it/,
  ],
  [
    'an empty model file',
    async (dir, manifest) => {
      await writeFile(join(dir, 'model.onnx'), Buffer.alloc(0));
      await saveManifest(dir, { ...manifest, sha256: sha256(Buffer.alloc(0)) });
    },
    /model\.onnx: onnxruntime cannot load it/,
  ],
  ['no model file', (dir) => rm(join(dir, 'model.onnx')), /model\.onnx: cannot read the model/],
  [
    'a manifest that is not JSON',
    (dir) => writeFile(join(dir, 'manifest.json'), '{"model_type": "lstm",'),
    /manifest\.json: cannot read the manifest/,
  ],
  ['no manifest', (dir) => rm(join(dir, 'manifest.json')), /manifest\.json: cannot read the manifest/],
  [
    'a manifest of another model type',
    (dir, manifest) => saveManifest(dir, { ...manifest, model_type: 'prophet' }),
    /manifest\.json: model_type is prophet, expected lstm/,
  ],
  [
    'a window shorter than the graph takes',
    (dir, manifest) =>
      saveManifest(dir, { ...manifest, inputs: [{ ...manifest.inputs[0]!, shape: ['batch', 24, 8] }] }),
    /lstm-v2\/manifest\.json: the graph failed a dry run: Got invalid dimensions for input: x/,
  ],
  [
    'a feature count that does not match the resources',
    (dir, manifest) =>
      saveManifest(dir, { ...manifest, inputs: [{ ...manifest.inputs[0]!, shape: ['batch', 48, 6] }] }),
    /manifest\.json: inputs\.0\.features must list 6 features/,
  ],
  [
    'an output of the wrong shape',
    (dir, manifest) =>
      saveManifest(dir, {
        ...manifest,
        outputs: manifest.outputs.map((o) => (o.name === 'yhat' ? { ...o, shape: ['batch', 12, 3] } : o)),
      }),
    /manifest\.json: outputs\.yhat\.shape must be \[batch, steps, 4\]/,
  ],
];

describe('bad input: model files', () => {
  const temps: string[] = [];
  const history = (): { timestamps: number[]; values: number[] } => {
    const end = Date.UTC(2026, 10, 20, 12);
    const timestamps = Array.from({ length: 300 }, (_, i) => end - (299 - i) * 300_000);
    return { timestamps, values: timestamps.map((_, i) => 40 + 10 * Math.sin(i / 7)) };
  };
  afterAll(async () => {
    await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
  });

  async function artifactsWithBrokenV2(breakage: Breakage): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'understudy-bad-model-'));
    temps.push(dir);
    await cp(join(ARTIFACTS_DIR, 'lstm-v1'), join(dir, 'lstm-v1'), { recursive: true });
    await cp(join(ARTIFACTS_DIR, 'lstm-v1'), join(dir, 'lstm-v2'), { recursive: true });
    const v2 = join(dir, 'lstm-v2');
    const manifest = JSON.parse(await readFile(join(v2, 'manifest.json'), 'utf8')) as Manifest;
    await breakage(v2, manifest, await readFile(join(v2, 'model.onnx')));
    return dir;
  }

  it.each(BAD_MODELS)('%s: skipped with a warning naming it; v1 keeps serving', async (_what, breakage, expected) => {
    const dir = await artifactsWithBrokenV2(breakage);
    const logs: string[] = [];
    const f = await createForecaster({ artifactsDir: dir, pollIntervalMs: 0, log: (m) => logs.push(m) });
    try {
      expect(f.models().map((m) => `${m.model} v${m.version}`)).toEqual(['lstm v1']);
      const problem = f.registry.problems.get('lstm') ?? '';
      expect(problem).toContain(join(dir, 'lstm-v2'));
      expect(problem).toMatch(expected);
      expect(logs.join('\n')).toMatch(/forecaster: WARNING lstm version 2 is unusable/);
      const result = await f.forecast({ hostId: 'h', resource: 'cpu', history: history(), horizonMinutes: 60 });
      expect(result).toMatchObject({ model: 'lstm', modelVersion: '1' });
      expect(result.points).toHaveLength(12);
    } finally {
      await f.close();
    }
  });

  it('loads the newest version across the shipped folder and the trained one; a broken trained one falls back', async () => {
    const root = await mkdtemp(join(tmpdir(), 'understudy-model-folders-'));
    temps.push(root);
    const shipped = join(root, 'shipped');
    const trained = join(root, 'state', 'models');
    await cp(join(ARTIFACTS_DIR, 'lstm-v1'), join(shipped, 'lstm-v1'), { recursive: true });
    // Before the first retrain the trained folder does not exist: that is no problem.
    const f = await createForecaster({ artifactsDir: [shipped, trained], pollIntervalMs: 0 });
    try {
      expect(f.models().map((m) => `${m.model} v${m.version} ${m.dir}`)).toEqual([
        `lstm v1 ${join(shipped, 'lstm-v1')}`,
      ]);
      expect(f.registry.problems.get('lstm')).toBeUndefined();

      await cp(join(ARTIFACTS_DIR, 'lstm-v1'), join(trained, 'lstm-v2'), { recursive: true });
      const manifest = JSON.parse(await readFile(join(trained, 'lstm-v2', 'manifest.json'), 'utf8')) as Manifest;
      await saveManifest(join(trained, 'lstm-v2'), { ...manifest, version: '2' });
      await f.reload();
      expect(f.models().map((m) => `${m.model} v${m.version} ${m.dir}`)).toEqual([
        `lstm v2 ${join(trained, 'lstm-v2')}`,
      ]);

      // A newer trained version that does not load leaves the one in use serving, with the reason.
      await cp(join(trained, 'lstm-v2'), join(trained, 'lstm-v3'), { recursive: true });
      await writeFile(join(trained, 'lstm-v3', 'model.onnx'), 'truncated');
      await f.reload();
      expect(f.models().map((m) => `${m.model} v${m.version}`)).toEqual(['lstm v2']);
      expect(f.registry.problems.get('lstm')).toContain(join(trained, 'lstm-v3'));
    } finally {
      await f.close();
    }
  });

  it('with no usable version at all, a baseline answers and the result says why', async () => {
    const dir = await artifactsWithBrokenV2((v2) => writeFile(join(v2, 'model.onnx'), 'not a model'));
    await rm(join(dir, 'lstm-v1'), { recursive: true });
    const f = await createForecaster({ artifactsDir: dir, pollIntervalMs: 0 });
    try {
      expect(f.models()).toEqual([]);
      expect(f.registry.problems.get('lstm')).toMatch(/lstm-v2\/model\.onnx: sha256 .* does not match/);
      const result = await f.forecast({ hostId: 'h', resource: 'cpu', history: history(), horizonMinutes: 60 });
      expect(result.modelVersion).toBe('builtin');
      expect(result.warnings.join(' ')).toMatch(/lstm not used: no LSTM model is loaded/);
    } finally {
      await f.close();
    }
  });
});
