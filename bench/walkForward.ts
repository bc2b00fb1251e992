/**
 * The trained models in bench:policy's loop, with nothing from after a decision reaching the model that made it:
 * models/understudy_trainer/walkforward.py replays the live retrain schedule (daily at 03:00 UTC, the last eleven
 * weeks of every host: `DEFAULT_RETRAIN_DAYS`) over the traces, and each step of a trace is forecast by the real
 * `OnnxForecaster` over the newest retrain cut at or before it (before the first, over no learned model: the
 * baselines it falls back on). The retrains are cached under the state folder by a hash of the traces, the options
 * and the trainer's code.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configSchema } from '../src/config/schema.js';
import { DEFAULT_RETRAIN_DAYS } from '../src/forecast/retraining.js';
import { createForecaster, type OnnxForecaster } from '../src/forecast/forecaster.js';
import { pairForecastRequests, summarisePairForecast } from '../src/forecast/pairForecast.js';
import { STEP_MS } from '../src/forecast/series.js';
import { MODELS_DIR, pythonEnv } from '../src/forecast/trainer.js';
import type { ForecastRequest } from '../src/forecast/types.js';
import type { ForecastSummary } from '../src/policy/types.js';
import { NAB_DIR, stackPaths } from '../src/stack/paths.js';
import { traceCsv, type Trace } from './traces.js';

export interface WalkForwardOptions {
  /** Days between retrains (the live schedule: 1). */
  retrainDays: number;
  epochs: number;
  log: (line: string) => void;
}

interface RetrainIndex {
  retrains: { folder: string; cuts: Record<string, number>; seconds: number }[];
  seconds: number;
}

export interface WalkForward {
  dir: string;
  /** Per series id, the label windows masked in the training of its last retrain (ended before that cut). */
  maskedWindows: Map<string, number>;
  /** Seconds the retrains took when they were made (0 when every one came from the cache). */
  trainedSeconds: number;
  fromCache: boolean;
  retrains: { cuts: Record<string, number>; forecaster: OnnxForecaster }[];
  /** The forecaster before any retrain: no learned model, the baselines only. */
  untrained: OnnxForecaster;
  close(): Promise<void>;
}

export const seriesIdOf = (trace: Trace): string => `${trace.name}/cpu`;

function trainerSourceHash(): string {
  const hash = createHash('sha256');
  const dir = join(MODELS_DIR, 'understudy_trainer');
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.py'))
    .sort())
    hash.update(file).update(readFileSync(join(dir, file)));
  hash.update(readFileSync(join(MODELS_DIR, 'series_resources.json')));
  return hash.digest('hex');
}

/** NAB's label windows of the traces that came from NAB, keyed as the trainer looks them up (`traces/<file>`). */
function nabLabels(traces: Trace[]): Record<string, [string, string][]> {
  const file = join(NAB_DIR, 'labels', 'combined_windows.json');
  if (!existsSync(file)) return {};
  const all = JSON.parse(readFileSync(file, 'utf8')) as Record<string, [string, string][]>;
  const out: Record<string, [string, string][]> = {};
  for (const trace of traces) {
    const windows = trace.source === 'nab' ? all[`realAWSCloudwatch/${trace.name}.csv`] : undefined;
    if (windows) out[`traces/${trace.name}.csv`] = windows;
  }
  return out;
}

function runPython(python: string, args: string[], log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, args, {
      cwd: MODELS_DIR,
      env: pythonEnv(),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let tail = '';
    child.stderr.on('data', (d: Buffer) => {
      tail = (tail + d.toString()).slice(-4000);
      for (const line of d.toString().split('\n')) if (line.startsWith('walk-forward:')) log(line);
    });
    child.on('error', (error) => reject(new Error(`cannot run ${python}: ${error.message} (run npm run setup)`)));
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`walk-forward training failed (exit ${code}):\n${tail}`)),
    );
  });
}

export async function prepareWalkForward(traces: Trace[], options: WalkForwardOptions): Promise<WalkForward> {
  const hash = createHash('sha256');
  hash.update(
    JSON.stringify({ retrainDays: options.retrainDays, epochs: options.epochs, windowDays: DEFAULT_RETRAIN_DAYS }),
  );
  hash.update(trainerSourceHash());
  for (const trace of traces)
    hash.update(`${trace.name}:${trace.source}:${trace.startMs}:`).update(new Uint8Array(trace.demand.buffer));
  const paths = stackPaths(configSchema.parse({}));
  const dir = join(paths.stateDir, 'bench-cache', `walkforward-${hash.digest('hex').slice(0, 16)}`);
  const indexFile = join(dir, 'models', 'walkforward.json');
  const labels = nabLabels(traces);
  const fromCache = existsSync(indexFile);
  if (!fromCache) {
    rmSync(dir, { recursive: true, force: true });
    const tracesDir = join(dir, 'traces');
    mkdirSync(tracesDir, { recursive: true });
    for (const trace of traces) writeFileSync(join(tracesDir, `${trace.name}.csv`), traceCsv(trace));
    const labelsFile = join(dir, 'labels.json');
    writeFileSync(labelsFile, JSON.stringify(labels));
    options.log(`walk-forward: training the retrains of ${traces.length} traces into ${dir} (cached for next time)`);
    const args = ['-m', 'understudy_trainer.walkforward', '--traces-dir', tracesDir, '--out', join(dir, 'models')];
    args.push(
      '--labels',
      labelsFile,
      '--window-days',
      String(DEFAULT_RETRAIN_DAYS),
      '--retrain-days',
      String(options.retrainDays),
      '--epochs',
      String(options.epochs),
    );
    await runPython(paths.venvPython, args, options.log);
  }
  const index = JSON.parse(readFileSync(indexFile, 'utf8')) as RetrainIndex;
  const quiet = { pollIntervalMs: 0, log: () => undefined };
  const retrains = await Promise.all(
    index.retrains.map(async (r) => ({
      cuts: r.cuts,
      forecaster: await createForecaster({ artifactsDir: join(dir, 'models', r.folder), ...quiet }),
    })),
  );
  const untrained = await createForecaster({ artifactsDir: join(dir, 'untrained'), ...quiet });
  const maskedWindows = new Map<string, number>();
  for (const trace of traces) {
    const seriesId = seriesIdOf(trace);
    const lastCut = Math.max(...index.retrains.map((r) => r.cuts[seriesId] ?? Number.NEGATIVE_INFINITY));
    const windows = labels[`traces/${trace.name}.csv`] ?? [];
    maskedWindows.set(seriesId, windows.filter(([, end]) => Date.parse(`${end.replace(' ', 'T')}Z`) < lastCut).length);
  }
  return {
    dir,
    maskedWindows,
    trainedSeconds: fromCache ? 0 : index.seconds,
    fromCache,
    retrains,
    untrained,
    close: async () => {
      await Promise.all([...retrains.map((r) => r.forecaster.close()), untrained.close()]);
    },
  };
}

/** The forecaster that serves `seriesId` at time `t`: the newest retrain cut at or before it. */
export function forecasterAt(walkForward: WalkForward, seriesId: string, t: number): OnnxForecaster {
  let chosen = walkForward.untrained;
  for (const r of walkForward.retrains) {
    const cut = r.cuts[seriesId];
    if (cut !== undefined && cut <= t) chosen = r.forecaster;
  }
  return chosen;
}

/** What the pair's observation makes of its forecasts at one step of a trace (its demand is the pair's cpu). */
export interface StepForecast {
  summary: ForecastSummary;
  model: string;
  /** The anomaly check called the last half hour a sustained shift (which moves the decision). */
  sustainedShift: boolean;
  /** The forecast `plotSteps` ahead with its interval, for --plot. */
  plotted?: { yhat: number; lower: number; upper: number };
}

/**
 * The product's forecast of a trace at every step, through the pair's own request and summary code: two days of
 * history, the longest policy horizon, and the anomaly check on the last half hour. `primaryNow` is the pair's demand
 * here: the share still on the primary is applied by the caller, step by step. A step whose forecast fails gets none
 * (the pair then takes no decision), with the reason counted in `failures`.
 */
export async function forecastTrace(
  trace: Trace,
  choose: (t: number) => OnnxForecaster,
  options: { historySteps: number; horizonsMinutes: number[]; plotSteps: number },
): Promise<{ steps: (StepForecast | undefined)[]; failures: Map<string, number> }> {
  const horizon = Math.max(...options.horizonsMinutes);
  const steps: (StepForecast | undefined)[] = new Array<undefined>(trace.demand.length);
  const failures = new Map<string, number>();
  const fail = (why: string) => failures.set(why, (failures.get(why) ?? 0) + 1);
  const CHUNK = 400;
  for (let from = 0; from < trace.demand.length; from += CHUNK) {
    const batches = new Map<OnnxForecaster, { step: number; ahead: ForecastRequest; before?: ForecastRequest }[]>();
    for (let step = from; step < Math.min(trace.demand.length, from + CHUNK); step++) {
      const now = trace.startMs + step * STEP_MS;
      const first = Math.max(0, step + 1 - options.historySteps);
      const history = {
        timestamps: Array.from({ length: step + 1 - first }, (_, i) => trace.startMs + (first + i) * STEP_MS),
        values: Array.from(trace.demand.subarray(first, step + 1)),
      };
      const requests = pairForecastRequests({
        hostId: trace.name,
        resource: 'cpu',
        history,
        horizonMinutes: horizon,
        now,
      });
      const forecaster = choose(now);
      const batch = batches.get(forecaster) ?? [];
      batch.push({ step, ...requests });
      batches.set(forecaster, batch);
    }
    for (const [forecaster, batch] of batches) {
      const flat = batch.flatMap((b) => (b.before ? [b.ahead, b.before] : [b.ahead]));
      const answers = await forecaster.forecastMany(flat);
      let k = 0;
      for (const b of batch) {
        const ahead = answers[k++]!;
        const before = b.before ? answers[k++]! : undefined;
        if ('error' in ahead) {
          fail(ahead.error.replace(/[\d.]+/g, 'N'));
          continue;
        }
        const { summary, assessments } = summarisePairForecast(
          [
            {
              resource: 'cpu',
              history: b.ahead.history,
              primaryNow: trace.demand[b.step]!,
              ahead,
              ...(before && !('error' in before) ? { before } : {}),
            },
          ],
          options.horizonsMinutes,
          b.ahead.now!,
        );
        const point = ahead.points[options.plotSteps - 1];
        steps[b.step] = {
          summary,
          sustainedShift: assessments.some((a) => a.assessment.kind === 'sustained_shift'),
          model: `${ahead.model}${ahead.modelVersion === 'builtin' ? '' : ` v${ahead.modelVersion}`}`,
          ...(point ? { plotted: { yhat: point.yhat, lower: point.lower, upper: point.upper } } : {}),
        };
      }
    }
  }
  return { steps, failures };
}
