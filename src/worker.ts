/**
 * The Understudy worker: runs every workflow and activity on the `understudy` task queue, the health watchers' loops
 * on their lanes' task queues (src/shared/healthWatch.ts) and the observers' on theirs (src/shared/observation.ts).
 * `createWorker` is used by `npm start`, `npm run worker` and the tests (which pass a pre-built bundle and a task
 * queue of their own).
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DefaultLogger,
  type LogEntry,
  NativeConnection,
  Runtime,
  Worker,
  bundleWorkflowCode,
  type LogLevel,
  type WorkflowBundleOption,
} from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { createActivities } from '../activities/index.js';
import { createFleetHealthActivities } from '../activities/fleetHealth.js';
import { createHealthWatchActivities } from '../activities/healthWatch.js';
import { createForecastingActivities } from '../activities/forecasting.js';
import { createOrchestrationActivities } from '../activities/orchestration.js';
import { createPairObserverActivities } from '../activities/pairObserver.js';
import { createRolloutActivities } from '../activities/rollout.js';
import { createForecaster } from './forecast/forecaster.js';
import { ARTIFACTS_DIR, modelFolders } from './forecast/trainer.js';
import type { Forecaster } from './forecast/types.js';
import { metricsStoreFor } from './metrics/store.js';
import type { MetricsStore } from './metrics/types.js';
import { providerFromConfig } from './provider/fromConfig.js';
import type { FleetProvider } from './provider/types.js';
import type { LoadedConfig } from './config/load.js';
import { loadOnnxModel, type LoadedModel } from './forecast/onnxModel.js';
import { TASK_QUEUE } from './shared/temporal.js';
import { observerTaskQueue } from './shared/observation.js';
import { WATCH_LANES, type WatchLane, watchLaneTaskQueue } from './shared/healthWatch.js';
import { temporalConnectionOptions } from './temporalConnection.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
export const BASELINES_MODEL_DIR = join(ARTIFACTS_DIR, 'baselines-v1');

/** Bundles the workflow code once; tests share one bundle across every worker they create. */
export const bundleWorkflows = (): Promise<WorkflowBundleOption> =>
  bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('ERROR') });

const defaultLogLevel = (): LogLevel => (process.env.UNDERSTUDY_LOG_LEVEL as LogLevel | undefined) ?? 'WARN';

/**
 * A logger at `level` that appends every entry to `logFile` as one line, and also prints errors to the console
 * (naming the file), so a console that shows Understudy's own lines is not flooded by the SDK's warnings.
 */
export function fileLogger(logFile: string, level: LogLevel = defaultLogLevel()): DefaultLogger {
  mkdirSync(dirname(logFile), { recursive: true });
  let pointedAtFile = false;
  return new DefaultLogger(level, (entry: LogEntry) => {
    const at = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
    const meta = entry.meta && Object.keys(entry.meta).length > 0 ? ` ${safeJson(entry.meta)}` : '';
    // Synchronous: a worker that dies right after logging must still leave the line behind.
    appendFileSync(logFile, `${at} [${entry.level}] ${entry.message}${meta}\n`);
    if (entry.level === 'ERROR') {
      console.error(`worker: ${entry.message}${pointedAtFile ? '' : ` (details in ${logFile})`}`);
      pointedAtFile = true;
    }
  });
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  } catch {
    return String(value);
  }
}

/**
 * Installs the SDK's process-wide runtime with a logger at `level` (WARN by default: the INFO lines of every
 * state change drown what the operator needs), to the console or, given `logFile`, to that file. Call once, before
 * the first worker or connection.
 */
export function installRuntime(level: LogLevel = defaultLogLevel(), logFile?: string): void {
  if (!logFile) {
    Runtime.install({ logger: new DefaultLogger(level) });
    return;
  }
  Runtime.install({
    logger: fileLogger(logFile, level),
    // The SDK core's own lines ("Workflow task duration exceeded …") print to the console unless forwarded.
    telemetryOptions: { logging: { forward: {}, filter: { core: level, other: 'ERROR' } } },
  });
}

/** What the activities talk to; each defaults to the configured service, and tests pass their own. */
export interface WorkerDependencies {
  baselines: LoadedModel;
  provider: FleetProvider;
  metrics: MetricsStore;
  forecaster: Forecaster;
  /** For the off-peak swap schedules. */
  temporal: Client;
}

export interface WorkerOptions {
  loaded: LoadedConfig;
  connection: NativeConnection;
  taskQueue?: string;
  workflowBundle?: WorkflowBundleOption;
  dependencies?: Partial<WorkerDependencies>;
  /**
   * The health-watcher lanes whose watch loops this process runs (default: both, or `UNDERSTUDY_WATCH_LANES`). Two
   * processes serving one lane each keep a lane checking when either is killed.
   */
  watchLanes?: readonly WatchLane[];
  /** Whether this process runs the shard observers' loops (default: yes, unless `UNDERSTUDY_OBSERVERS=0`). */
  observers?: boolean;
  /** How many workflows this process keeps in memory (default 500, or `UNDERSTUDY_MAX_CACHED_WORKFLOWS`). */
  maxCachedWorkflows?: number;
}

/**
 * Pairs sleep between messages, so most of them need no place in the cache: the shard loops and the pairs acting
 * now do. The SDK's default (about 2,400 at a 4 GiB heap) held every sleeping pair and filled the heap at 5,000
 * pairs per two processes (bench:scale); an evicted pair costs one replay of its short history when it next wakes.
 */
export const DEFAULT_MAX_CACHED_WORKFLOWS = 500;

/**
 * Workflow tasks a worker process takes at once. A task's timeout (WORKFLOW_TASK_TIMEOUT) runs from when a worker
 * takes it, and the process runs its workflows on one thread: with the SDK's 40, tasks queued inside the worker
 * during an enrolment burst outlasted the timeout and were run again (bench:scale, 10,000 pairs). The rest wait on
 * the server's queue, where no timeout runs; fewer at once also enrol more slowly (bench:restart), so not fewer.
 */
export const WORKFLOW_TASKS_AT_ONCE = 20;

/**
 * The SDK sends an activity's heartbeats at most every 80% of its heartbeat timeout, so a watcher (5 s) had one
 * second of slack: on a loaded machine a late heartbeat timed the loop out and a new attempt started cold
 * (bench:scale, 10,000 pairs). Sent at most every two seconds, a watcher's heartbeat has three to arrive, at about
 * twenty heartbeats a second to the server for the 48 shard loops of a task queue.
 */
export const HEARTBEAT_THROTTLE = '2 seconds';

/** `UNDERSTUDY_MAX_CACHED_WORKFLOWS`: the workflows a worker process keeps in memory. */
export function maxCachedWorkflowsFromEnvironment(value = process.env.UNDERSTUDY_MAX_CACHED_WORKFLOWS): number {
  if (value === undefined || value.trim() === '') return DEFAULT_MAX_CACHED_WORKFLOWS;
  const count = Number(value.trim());
  if (!Number.isInteger(count) || count < 2)
    throw new Error(`UNDERSTUDY_MAX_CACHED_WORKFLOWS must be a whole number of at least 2, got "${value}"`);
  return count;
}

/** `UNDERSTUDY_OBSERVERS=0`: this process leaves the observers' reading and forecasting to the others. */
export function observersFromEnvironment(value = process.env.UNDERSTUDY_OBSERVERS): boolean {
  if (value === undefined || value.trim() === '' || value.trim() === '1') return true;
  if (value.trim() === '0') return false;
  throw new Error(`UNDERSTUDY_OBSERVERS must be 0 or 1, got "${value}"`);
}

/** `UNDERSTUDY_WATCH_LANES` (e.g. `a`): the lanes a worker process serves; both when unset. */
export function watchLanesFromEnvironment(value = process.env.UNDERSTUDY_WATCH_LANES): WatchLane[] {
  if (value === undefined || value.trim() === '') return [...WATCH_LANES];
  const lanes = value.split(',').map((lane) => lane.trim());
  const unknown = lanes.filter((lane) => !(WATCH_LANES as readonly string[]).includes(lane));
  if (unknown.length > 0 || lanes.length === 0)
    throw new Error(
      `UNDERSTUDY_WATCH_LANES must name lanes from ${WATCH_LANES.join(', ')} separated by commas, got "${value}"`,
    );
  return [...new Set(lanes)] as WatchLane[];
}

/**
 * One worker process's workers: the main one (every workflow and activity on the task queue), one per health
 * watcher lane it serves, on the lane's own task queue, and the observers' when it serves them. They run and stop
 * together.
 */
export class UnderstudyWorker {
  constructor(
    readonly main: Worker,
    /** The activity-only workers beside it (watcher lanes, observers). */
    readonly beside: Worker[],
  ) {}

  private all(): Worker[] {
    return [this.main, ...this.beside];
  }

  getState(): ReturnType<Worker['getState']> {
    return this.main.getState();
  }

  shutdown(): void {
    for (const worker of this.all()) if (worker.getState() === 'RUNNING') worker.shutdown();
  }

  /** Runs every worker until shut down; one failing stops the others, and its error is thrown. */
  async run(): Promise<void> {
    const runs = this.all().map((worker) => worker.run());
    try {
      await Promise.all(runs);
    } catch (error) {
      this.shutdown();
      await Promise.allSettled(runs);
      throw error;
    }
  }

  /** Runs every worker until `work` settles, then stops them all. */
  async runUntil<T>(work: Promise<T>): Promise<T> {
    const besides = this.beside.map((worker) => worker.run());
    try {
      return await this.main.runUntil(work);
    } finally {
      for (const worker of this.beside) if (worker.getState() === 'RUNNING') worker.shutdown();
      await Promise.allSettled(besides);
    }
  }
}

export async function createWorker({
  loaded,
  connection,
  taskQueue,
  workflowBundle,
  dependencies = {},
  watchLanes = watchLanesFromEnvironment(),
  observers = observersFromEnvironment(),
  maxCachedWorkflows = maxCachedWorkflowsFromEnvironment(),
}: WorkerOptions): Promise<UnderstudyWorker> {
  const { config } = loaded;
  const metrics = dependencies.metrics ?? metricsStoreFor(loaded);
  const provider = dependencies.provider ?? (await providerFromConfig(loaded));
  const temporal =
    dependencies.temporal ??
    new Client({
      connection: await Connection.connect(temporalConnectionOptions(loaded)),
      namespace: config.temporal.namespace,
    });
  const forecaster = dependencies.forecaster ?? (await createForecaster({ artifactsDir: modelFolders(config) }));
  const watching = createHealthWatchActivities({ provider, temporal });
  const observing = createPairObserverActivities({ provider, metrics, forecaster, temporal });
  const activities = {
    ...createActivities({
      metrics,
      baselines: dependencies.baselines ?? (await loadOnnxModel(BASELINES_MODEL_DIR)),
    }),
    ...createOrchestrationActivities({ provider, metrics, forecaster, temporal }),
    // Shares the one forecaster, so a retrain's reload swaps the models the pairs are scored with.
    ...createForecastingActivities({ forecaster, metrics }),
    ...createRolloutActivities({ provider, temporal }),
    ...createFleetHealthActivities({ provider, temporal }),
    ...watching,
    ...observing,
  };
  const queue = taskQueue ?? TASK_QUEUE;
  const observerWorker = observers
    ? [
        await Worker.create({
          connection,
          namespace: loaded.config.temporal.namespace,
          taskQueue: observerTaskQueue(queue),
          activities: {
            observePairs: (input: Parameters<typeof observing.observePairs>[0]) => observing.observePairs(input),
          },
          activityTaskPollerBehavior: { type: 'autoscaling' },
          maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE,
        }),
      ]
    : [];
  const lanes = await Promise.all(
    watchLanes.map((lane) =>
      Worker.create({
        connection,
        namespace: loaded.config.temporal.namespace,
        taskQueue: watchLaneTaskQueue(queue, lane),
        activities: {
          watchPrimaries: (input: Parameters<typeof watching.watchPrimaries>[0]) => watching.watchPrimaries(input),
        },
        activityTaskPollerBehavior: { type: 'autoscaling' },
        maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE,
      }),
    ),
  );
  const main = await Worker.create({
    connection,
    namespace: loaded.config.temporal.namespace,
    taskQueue: queue,
    activities,
    workflowBundle: workflowBundle ?? (await bundleWorkflows()),
    maxCachedWorkflows,
    maxConcurrentWorkflowTaskExecutions: WORKFLOW_TASKS_AT_ONCE,
    maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE,
    // Pollers follow the backlog instead of a fixed ten: bench:scale measured the queueing of a fixed ten.
    workflowTaskPollerBehavior: { type: 'autoscaling' },
    activityTaskPollerBehavior: { type: 'autoscaling' },
    // A worker that died holds its cached workflows' tasks (and queries: the watchers read their members so) on its
    // sticky queue until this runs out; the default 10 s left every pair and watcher waiting that long.
    stickyQueueScheduleToStartTimeout: '2 seconds',
  });
  return new UnderstudyWorker(main, [...lanes, ...observerWorker]);
}

export const connectWorker = (loaded: LoadedConfig): Promise<NativeConnection> =>
  NativeConnection.connect(temporalConnectionOptions(loaded));
