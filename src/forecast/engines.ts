/**
 * The two learned models as batch scorers over ONNX sessions: Prophet (one graph, parameters indexed by series)
 * and the global LSTM. Each validates its manifest's shapes when it is opened and times its ONNX runs, so the
 * throughput benchmark can report the compute share.
 */
import * as ort from 'onnxruntime-node';
import { ModelArtifactError, openOnnxArtifact, type ModelManifest } from './onnxModel.js';
import { STEP_MS } from './series.js';
import type { Resource } from './types.js';

export interface RunStats {
  runs: number;
  rows: number;
  onnxMs: number;
}

export interface EngineOutput {
  yhat: Float64Array;
  lower: Float64Array;
  upper: Float64Array;
}

interface EngineBase {
  dir: string;
  manifest: ModelManifest;
  version: string;
  trainedAt: number | undefined;
  stats: RunStats;
  release(): Promise<void>;
}

export interface ProphetEngine extends EngineBase {
  kind: 'prophet';
  /** series id → row of the parameter tables. */
  seriesIndex: Map<string, number>;
  /** Last training timestamp per series (epoch ms). */
  trainEnd: Map<string, number>;
  /** Scores rows: each a series index and the epoch-ms timestamps to forecast (rows padded to equal width). */
  score(rows: { series: number; timestamps: number[] }[]): Promise<EngineOutput[]>;
  /** Recent steps a forecast takes its level from (the manifest's `level_correction.steps`; 0 for older models). */
  levelSteps: number;
  /**
   * Forecasts the `steps` grid steps after `origin` (epoch ms), as the trainer validated them: the fitted curve,
   * shifted with its interval by the mean residual of the last `levelSteps` of `recent` (the series' values up to
   * and including the origin's step) against the curve.
   */
  forecast(
    rows: { series: number; origin: number; steps: number; recent: ArrayLike<number> }[],
  ): Promise<EngineOutput[]>;
}

export interface LstmEngine extends EngineBase {
  kind: 'lstm';
  windowSteps: number;
  horizonSteps: number;
  resources: Resource[];
  /** Scores windows: `values[r]` is resource r's last windowSteps samples (zeros when absent), `times` their stamps. */
  score(
    rows: { resource: Resource; channels: Partial<Record<Resource, ArrayLike<number>>>; times: number[] }[],
  ): Promise<EngineOutput[]>;
}

export type Engine = ProphetEngine | LstmEngine;

const parseUtc = (s: string): number => Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s : `${s.replace(' ', 'T')}Z`);

function timed(stats: RunStats, rows: number, run: () => Promise<ort.InferenceSession.OnnxValueMapType>) {
  const t0 = performance.now();
  return run().then((out) => {
    stats.runs++;
    stats.rows += rows;
    stats.onnxMs += performance.now() - t0;
    return out;
  });
}

function float64Output(
  out: ort.InferenceSession.OnnxValueMapType,
  name: string,
  dir: string,
): Float64Array | Float32Array {
  const data = out[name]?.data;
  if (!(data instanceof Float64Array) && !(data instanceof Float32Array)) {
    throw new ModelArtifactError(`${dir}: output ${name} is not a float tensor`);
  }
  return data;
}

export async function openProphet(dir: string): Promise<ProphetEngine> {
  const { manifest, session } = await openOnnxArtifact(dir, 2);
  const fail = async (what: string): Promise<never> => {
    await session.release();
    throw new ModelArtifactError(`${dir}/manifest.json: ${what}`);
  };
  if (manifest.model_type !== 'prophet') return fail(`model_type is ${manifest.model_type}, expected prophet`);
  const series = (manifest.parameters.series ?? []) as { id?: unknown; index?: unknown; train_end?: unknown }[];
  if (!Array.isArray(series) || series.length === 0) return fail('parameters.series lists no fitted series');
  const seriesIndex = new Map<string, number>();
  const trainEnd = new Map<string, number>();
  for (const s of series) {
    if (typeof s.id !== 'string' || typeof s.index !== 'number')
      return fail('parameters.series entries need id and index');
    seriesIndex.set(s.id, s.index);
    if (typeof s.train_end === 'string') trainEnd.set(s.id, parseUtc(s.train_end));
  }
  const level = manifest.parameters.level_correction as { steps?: unknown } | undefined;
  const levelSteps = level === undefined ? 0 : level.steps;
  if (typeof levelSteps !== 'number' || !Number.isInteger(levelSteps) || levelSteps < 0 || levelSteps > 288)
    return fail(`parameters.level_correction.steps must be a whole number of steps from 0 to 288`);
  const stats: RunStats = { runs: 0, rows: 0, onnxMs: 0 };
  const engine: ProphetEngine = {
    kind: 'prophet',
    levelSteps,
    dir,
    manifest,
    version: manifest.version,
    trainedAt: manifest.trained_at ? Date.parse(manifest.trained_at) : undefined,
    stats,
    seriesIndex,
    trainEnd,
    async score(rows) {
      if (rows.length === 0) return [];
      const width = Math.max(...rows.map((r) => r.timestamps.length));
      const ds = new Float64Array(rows.length * width);
      const idx = new BigInt64Array(rows.length);
      rows.forEach((r, i) => {
        if (r.series < 0 || r.series >= series.length) throw new RangeError(`${dir}: no series #${r.series}`);
        idx[i] = BigInt(r.series);
        for (let j = 0; j < width; j++)
          ds[i * width + j] = (r.timestamps[Math.min(j, r.timestamps.length - 1)] ?? 0) / 1000;
      });
      const out = await timed(stats, rows.length, () =>
        session.run({
          series: new ort.Tensor('int64', idx, [rows.length]),
          ds: new ort.Tensor('float64', ds, [rows.length, width]),
        }),
      );
      const [y, lo, hi] = ['yhat', 'yhat_lower', 'yhat_upper'].map((n) => float64Output(out, n, dir));
      if (y!.length !== rows.length * width)
        throw new ModelArtifactError(`${dir}: yhat is not [${rows.length}, ${width}]`);
      return rows.map((r, i) => {
        const n = r.timestamps.length;
        return {
          yhat: Float64Array.from(y!.subarray(i * width, i * width + n)),
          lower: Float64Array.from(lo!.subarray(i * width, i * width + n)),
          upper: Float64Array.from(hi!.subarray(i * width, i * width + n)),
        };
      });
    },
    async forecast(rows) {
      const outs = await engine.score(
        rows.map((r) => ({
          series: r.series,
          timestamps: Array.from({ length: levelSteps + r.steps }, (_, k) => r.origin + (k - levelSteps + 1) * STEP_MS),
        })),
      );
      return rows.map((r, i) => {
        const out = outs[i]!;
        let sum = 0;
        let n = 0;
        for (let k = 0; k < levelSteps; k++) {
          const residual = r.recent[r.recent.length - levelSteps + k]! - out.yhat[k]!;
          if (Number.isFinite(residual)) {
            sum += residual;
            n++;
          }
        }
        const shift = n > 0 ? sum / n : 0;
        const future = (a: Float64Array) => a.subarray(levelSteps).map((v) => v + shift);
        return { yhat: future(out.yhat), lower: future(out.lower), upper: future(out.upper) };
      });
    },
    release: () => session.release(),
  };
  // A dry run proves the graph takes and gives what the manifest says, before any request depends on it.
  try {
    const [probe] = await engine.score([{ series: 0, timestamps: [Date.now(), Date.now() + 300_000] }]);
    if (!probe || probe.yhat.length !== 2 || !Number.isFinite(probe.yhat[0]!)) throw new Error('no finite forecast');
  } catch (error) {
    return fail(`the graph failed a dry run: ${(error as Error).message}`);
  }
  stats.runs = 0;
  stats.rows = 0;
  stats.onnxMs = 0;
  return engine;
}

/** Calendar features of an epoch-ms timestamp, as in models/understudy_trainer/lstm.py. */
export function calendarFeatures(t: number): [number, number, number, number] {
  const day = t / 86_400_000;
  const hod = day - Math.floor(day);
  const week = (day + 3) / 7;
  const dow = week - Math.floor(week);
  const tau = 2 * Math.PI;
  return [Math.sin(tau * hod), Math.cos(tau * hod), Math.sin(tau * dow), Math.cos(tau * dow)];
}

export async function openLstm(dir: string): Promise<LstmEngine> {
  const { manifest, session } = await openOnnxArtifact(dir, 2);
  const fail = async (what: string): Promise<never> => {
    await session.release();
    throw new ModelArtifactError(`${dir}/manifest.json: ${what}`);
  };
  if (manifest.model_type !== 'lstm') return fail(`model_type is ${manifest.model_type}, expected lstm`);
  const input = manifest.inputs[0]!;
  const [, windowSteps, features] = input.shape;
  const resources = manifest.parameters.resources as Resource[] | undefined;
  if (typeof windowSteps !== 'number' || typeof features !== 'number' || input.shape.length !== 3) {
    return fail(`inputs.0.shape must be [batch, window, features], got ${JSON.stringify(input.shape)}`);
  }
  if (!Array.isArray(resources) || input.features.length !== features || features !== resources.length + 4) {
    return fail(`inputs.0.features must list ${features} features: the resources, then 4 calendar features`);
  }
  const out0 = manifest.outputs.find((o) => o.name === 'yhat');
  const horizonSteps = out0?.shape[1];
  if (typeof horizonSteps !== 'number' || out0?.shape[2] !== resources.length) {
    return fail(`outputs.yhat.shape must be [batch, steps, ${resources.length}]`);
  }
  const stats: RunStats = { runs: 0, rows: 0, onnxMs: 0 };
  const R = resources.length;
  const engine: LstmEngine = {
    kind: 'lstm',
    dir,
    manifest,
    version: manifest.version,
    trainedAt: manifest.trained_at ? Date.parse(manifest.trained_at) : undefined,
    stats,
    windowSteps,
    horizonSteps,
    resources,
    async score(rows) {
      if (rows.length === 0) return [];
      const x = new Float32Array(rows.length * windowSteps * features);
      rows.forEach((row, i) => {
        if (row.times.length !== windowSteps) throw new RangeError(`${dir}: a window needs ${windowSteps} steps`);
        const base = i * windowSteps * features;
        resources.forEach((r, c) => {
          const v = row.channels[r];
          if (!v) return;
          for (let s = 0; s < windowSteps; s++) x[base + s * features + c] = v[s]!;
        });
        for (let s = 0; s < windowSteps; s++) {
          const cal = calendarFeatures(row.times[s]!);
          for (let c = 0; c < 4; c++) x[base + s * features + R + c] = cal[c]!;
        }
      });
      const out = await timed(stats, rows.length, () =>
        session.run({ [input.name]: new ort.Tensor('float32', x, [rows.length, windowSteps, features]) }),
      );
      const [y, lo, hi] = ['yhat', 'yhat_lower', 'yhat_upper'].map((n) => float64Output(out, n, dir));
      if (y!.length !== rows.length * horizonSteps * R) {
        throw new ModelArtifactError(`${dir}: yhat is not [${rows.length}, ${horizonSteps}, ${R}]`);
      }
      return rows.map((row, i) => {
        const c = resources.indexOf(row.resource);
        const pick = (a: Float32Array | Float64Array): Float64Array =>
          Float64Array.from({ length: horizonSteps }, (_, h) => a[(i * horizonSteps + h) * R + c]!);
        return { yhat: pick(y!), lower: pick(lo!), upper: pick(hi!) };
      });
    },
    release: () => session.release(),
  };
  try {
    const times = Array.from({ length: windowSteps }, (_, i) => i * 300_000);
    const [probe] = await engine.score([
      { resource: resources[0]!, channels: { [resources[0]!]: times.map((_, i) => 10 + (i % 3)) }, times },
    ]);
    if (!probe || !Number.isFinite(probe.yhat[0]!)) throw new Error('no finite forecast');
  } catch (error) {
    return fail(`the graph failed a dry run: ${(error as Error).message}`);
  }
  stats.runs = 0;
  stats.rows = 0;
  stats.onnxMs = 0;
  return engine;
}
