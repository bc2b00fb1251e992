/**
 * Runs the Python trainer from TypeScript: one-off training (`understudy train`, the backtest, the benchmarks)
 * as a subprocess of the project's venv, the Python Temporal worker for `retrainModelsWorkflow`, and the
 * Temporal Schedule that starts that workflow.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { TASK_QUEUE, TRAINING_TASK_QUEUE } from '../shared/temporal.js';
import {
  RETRAIN_SCHEDULE_ID,
  type InfluxTrainingSource,
  type RetrainModelsInput,
  type TrainModelsResult,
} from '../shared/training.js';
import type { UnderstudyConfig } from '../config/schema.js';
import { PROJECT_ROOT, stackPaths } from '../stack/paths.js';

export const MODELS_DIR = join(PROJECT_ROOT, 'models');
/** The model versions the repository ships (read-only at run time: retrains write to the state folder). */
export const ARTIFACTS_DIR = join(MODELS_DIR, 'artifacts');

/** Where a worker loads models from: the shipped versions, then those trained on this machine. */
export function modelFolders(config: UnderstudyConfig): string[] {
  return [ARTIFACTS_DIR, stackPaths(config).trainedModelsDir];
}

/** Where a retrain writes by default, numbering after the shipped versions so its models are the newest. */
export function trainedModelsTarget(config: UnderstudyConfig): { artifactsDir: string; numberAfter: string[] } {
  return { artifactsDir: stackPaths(config).trainedModelsDir, numberAfter: [ARTIFACTS_DIR] };
}

/** The trainer failed; `stderr` carries its last lines. */
export class TrainerError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'TrainerError';
  }
}

export interface TrainOptions {
  python: string;
  /** A folder of CSVs, or `influx` (exactly one of the two). */
  dataDir?: string;
  influx?: InfluxTrainingSource;
  artifactsDir: string;
  /** See TrainModelsInput.numberAfter. */
  numberAfter?: string[];
  labelsFile?: string;
  fitFraction?: number;
  epochs?: number;
  only?: string[];
  limit?: number;
  /** Progress lines of the trainer (stderr), as they come. */
  onLog?: (line: string) => void;
}

export function pythonEnv(): NodeJS.ProcessEnv {
  // Two cores shared with the worker and the services: keep the trainer's math libraries to one thread each.
  return { ...process.env, PYTHONPATH: MODELS_DIR, OMP_NUM_THREADS: '2', PYTHONUNBUFFERED: '1' };
}

/** Runs `python -m understudy_trainer.train` and returns its JSON summary. */
export function trainModels(options: TrainOptions): Promise<TrainModelsResult> {
  const args = ['-m', 'understudy_trainer.train', '--json', '--artifacts', options.artifactsDir];
  for (const dir of options.numberAfter ?? []) args.push('--number-after', dir);
  if (options.dataDir !== undefined) args.push('--data-dir', options.dataDir);
  const influx = options.influx;
  if (influx) {
    args.push('--influx-url', influx.url, '--influx-db', influx.database);
    if (influx.days !== undefined) args.push('--days', String(influx.days));
    if (influx.until !== undefined) args.push('--until', influx.until);
    if (influx.hosts?.length) args.push('--hosts', influx.hosts.join(','));
    if (influx.networkMbps !== undefined) args.push('--network-mbps', String(influx.networkMbps));
    if (influx.usernameEnv !== undefined) args.push('--influx-username-env', influx.usernameEnv);
    if (influx.passwordEnv !== undefined) args.push('--influx-password-env', influx.passwordEnv);
  }
  if (options.labelsFile) args.push('--labels', options.labelsFile);
  if (options.fitFraction !== undefined) args.push('--fit-fraction', String(options.fitFraction));
  if (options.epochs !== undefined) args.push('--epochs', String(options.epochs));
  if (options.only?.length) args.push('--only', options.only.join(','));
  if (options.limit !== undefined) args.push('--limit', String(options.limit));
  return new Promise((resolve, reject) => {
    const child = spawn(options.python, args, { cwd: MODELS_DIR, env: pythonEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      for (const line of d.toString().split('\n')) if (line.trim() && options.onLog) options.onLog(line);
    });
    child.on('error', (error) =>
      reject(new TrainerError(`cannot start the trainer (${options.python}): ${error.message}`, stderr)),
    );
    child.on('close', (code) => {
      if (code !== 0) {
        const last = stderr.trim().split('\n').slice(-3).join('\n');
        reject(new TrainerError(`the trainer exited with code ${code}: ${last}`, stderr));
        return;
      }
      try {
        resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as TrainModelsResult);
      } catch {
        reject(new TrainerError(`the trainer printed no summary: ${stdout.slice(-200)}`, stderr));
      }
    });
  });
}

export interface TrainerWorker {
  child: ChildProcess;
  /** Stops the worker process (SIGINT, then SIGKILL after 5 s) and waits for it. */
  stop(): Promise<void>;
}

/** Starts the Python trainer's Temporal worker and resolves once it polls `taskQueue`. */
export function startTrainerWorker(options: {
  python: string;
  address: string;
  namespace: string;
  taskQueue?: string;
  startTimeoutMs?: number;
}): Promise<TrainerWorker> {
  const taskQueue = options.taskQueue ?? TRAINING_TASK_QUEUE;
  const child = spawn(
    options.python,
    [
      '-m',
      'understudy_trainer.worker',
      '--address',
      options.address,
      '--namespace',
      options.namespace,
      '--task-queue',
      taskQueue,
    ],
    { cwd: MODELS_DIR, env: pythonEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new TrainerError(`the trainer worker did not start within ${options.startTimeoutMs ?? 60_000} ms`, output),
      );
    }, options.startTimeoutMs ?? 60_000);
    const stop = (): Promise<void> =>
      new Promise((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
        child.once('exit', () => {
          clearTimeout(kill);
          done();
        });
        child.kill('SIGINT');
      });
    const onData = (d: Buffer): void => {
      output += d.toString();
      if (output.includes('trainer worker: polling')) {
        clearTimeout(timer);
        resolve({ child, stop });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new TrainerError(`the trainer worker exited with code ${code}`, output));
    });
    // A missing interpreter (no venv yet) is an 'error' event, not an exit: without a listener it would crash us.
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new TrainerError(`cannot start the trainer worker (${options.python}): ${error.message}`, output));
    });
  });
}

export interface RetrainScheduleOptions {
  input: RetrainModelsInput;
  /** Cron in UTC (e.g. "0 3 * * *"); default: every 24 h. */
  cron?: string;
  everyMinutes?: number;
  taskQueue?: string;
  scheduleId?: string;
  paused?: boolean;
}

/** Creates (or updates) the Schedule that starts `retrainModelsWorkflow`; overlapping runs are skipped. */
export async function ensureRetrainSchedule(client: Client, options: RetrainScheduleOptions) {
  const scheduleId = options.scheduleId ?? RETRAIN_SCHEDULE_ID;
  const spec = options.cron
    ? { cronExpressions: [options.cron] }
    : { intervals: [{ every: `${options.everyMinutes ?? 24 * 60}m` as const }] };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'retrainModelsWorkflow',
    args: [options.input],
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    workflowId: `retrain-models:${scheduleId}`,
  };
  try {
    return await client.schedule.create({
      scheduleId,
      spec,
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      state: { paused: options.paused ?? false },
    });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    const handle = client.schedule.getHandle(scheduleId);
    await handle.update((previous) => ({ ...previous, spec, action }));
    return handle;
  }
}
