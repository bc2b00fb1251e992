/**
 * Plumbing the end-to-end benchmarks share: figures (percentiles), process readings from /proc, an InfluxDB
 * database and a simulator of the benchmark's own, a workflow bundle on disk for worker processes, pairs seeded and
 * started on them, and timestamps read from workflow histories. The benchmarks run against the shared embedded
 * stack, so everything here is private to one run and removed afterwards.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { UnderstudyConfig } from '../src/config/schema.js';
import { HttpFleetProvider } from '../src/provider/client.js';
import type { Capacity } from '../src/provider/types.js';
import { pairWorkflowId, swapScheduleId, type HostRef, type PairPolicy } from '../src/shared/pair.js';
import { InfluxV1MetricsStore } from '../src/metrics/influxV1Store.js';
import { messageOf } from '../src/shared/failures.js';
import { DECISION_MEASUREMENT } from '../src/metrics/types.js';
import { WATCH_LANES, allWatcherWorkflowIds, type WatchLane } from '../src/shared/healthWatch.js';
import { allObserverWorkflowIds } from '../src/shared/observation.js';
import { SimulatorControl } from '../src/simulator/control.js';
import type { WriterStats } from '../src/simulator/telegraf.js';
import { stackPaths } from '../src/stack/index.js';
import { spawnSimulator } from '../src/stack/simulator.js';
import { bundleWorkflows } from '../src/worker.js';
import { spawnWorkerProcess } from '../src/workerProcess.js';
import type { hostPairWorkflow } from '../workflows/hostPair.js';
import { WORKFLOW_TASK_TIMEOUT } from '../workflows/profiles.js';

/** One event of a workflow history, as the client fetches it. */
export type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];

export const percentile = (xs: number[], p: number): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};
export const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** p50, p99 and max of a sample (in its own unit), with its size. */
export function spread(xs: number[], digits = 2): { p50: number; p99: number; max: number; n: number } {
  return {
    p50: round(percentile(xs, 50), digits),
    p99: round(percentile(xs, 99), digits),
    max: round(xs.length > 0 ? Math.max(...xs) : Number.NaN, digits),
    n: xs.length,
  };
}

/** The simulator's metrics writer over a run: points handed to InfluxDB, dropped by its bounded queue, failed writes. */
export function metricsDelivery(stats: WriterStats | undefined) {
  return {
    pointsWritten: stats?.pointsWritten ?? 0,
    pointsDropped: stats?.pointsDropped ?? 0,
    writeErrors: stats?.writeErrors ?? 0,
  };
}

/** utime + stime of a process, in seconds (Linux /proc). */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Resident memory of a process, in MiB (Linux /proc). */
export function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return line ? Number(line.replace(/\D+/g, '')) / 1024 : Number.NaN;
}

/**
 * CPU and memory of every process a benchmark runs on: its worker processes (named by their lanes), the dev server,
 * InfluxDB and its simulator. `start()` then `finish()` gives the cores each used in between.
 */
export function processMeter(config: UnderstudyConfig, stack: BenchStack) {
  const pids = (): Record<string, number | undefined> => ({
    ...Object.fromEntries(stack.workerLanes.map((lanes, i) => [`worker-${lanes.join('')}`, stack.workerPids[i]])),
    temporal: stackServicePid(config, 'temporal'),
    influxd: stackServicePid(config, 'influxd'),
    simulator: stack.simulatorPid,
  });
  const names = Object.keys(pids());
  const read = (measure: (pid: number) => number) => {
    const now = pids();
    return Object.fromEntries(names.map((n) => [n, now[n] ? measure(now[n]) : Number.NaN])) as Record<string, number>;
  };
  return {
    names,
    start() {
      const before = read(cpuSeconds);
      const started = performance.now();
      return {
        finish() {
          const wall = (performance.now() - started) / 1000;
          const after = read(cpuSeconds);
          const cores = Object.fromEntries(names.map((n) => [n, round((after[n]! - before[n]!) / wall, 3)]));
          return { cores, rssMiB: read((pid) => round(rssMiB(pid), 0)) };
        },
      };
    },
  };
}

/** The pid of an embedded service (`temporal`, `influxd`) from the stack's pid file, read only. */
export function stackServicePid(config: UnderstudyConfig, name: 'temporal' | 'influxd'): number | undefined {
  const file = join(stackPaths(config).pidsDir, `${name}.pid`);
  if (!existsSync(file)) return undefined;
  const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
  return Number.isInteger(pid) && existsSync(`/proc/${pid}`) ? pid : undefined;
}

/** A fresh database on the embedded InfluxDB 1.x, for one benchmark run. */
export async function createBenchDatabase(
  influxUrl: string,
  prefix: string,
): Promise<{ name: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomUUID().slice(0, 8)}`;
  const run = async (q: string) => {
    const response = await fetch(`${influxUrl}/query`, { method: 'POST', body: new URLSearchParams({ q }) });
    if (!response.ok) throw new Error(`InfluxDB: ${q}: ${await response.text()}`);
  };
  await run(`CREATE DATABASE "${name}"`);
  return { name, drop: () => run(`DROP DATABASE "${name}"`) };
}

/** Bundles the workflows into a file of this run's own, for worker processes to load without bundling again. */
export async function writeWorkflowBundle(config: UnderstudyConfig, label: string): Promise<string> {
  const bundle = await bundleWorkflows();
  if (!('code' in bundle)) throw new Error('expected an in-memory workflow bundle');
  const dir = join(stackPaths(config).stateDir, 'bench');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${label}-workflow-bundle-${process.pid}.js`);
  writeFileSync(path, bundle.code);
  return path;
}

/** Wall-clock ms of a history event, as the Temporal server stamped it. */
export function eventMs(event: HistoryEvent): number {
  const time = event.eventTime;
  if (!time) return Number.NaN;
  const seconds = typeof time.seconds === 'number' ? time.seconds : Number(time.seconds?.toString() ?? 0);
  return seconds * 1000 + (time.nanos ?? 0) / 1e6;
}

/**
 * The longest stretch after `sinceMs` during which a workflow had work no worker was doing: a workflow task
 * scheduled and not yet started (or started on a worker that died, until it timed out), or an activity's retry after
 * `sinceMs` (its last attempt started then: an earlier attempt was lost with its worker). Stretches that meet are
 * one wait. What a crash costs a running action, read from its history (server timestamps).
 */
export function longestWaitAfter(events: HistoryEvent[], sinceMs: number): number {
  const waits: [number, number][] = [];
  const scheduledAt = new Map<string, number>();
  const startedAt = new Map<string, number>();
  for (const event of events) {
    const at = eventMs(event);
    if (event.workflowTaskScheduledEventAttributes) scheduledAt.set(String(event.eventId), at);
    const started = event.workflowTaskStartedEventAttributes;
    if (started) {
      const from = scheduledAt.get(String(started.scheduledEventId));
      if (from !== undefined) waits.push([from, at]);
      startedAt.set(String(event.eventId), at);
    }
    const timedOut = event.workflowTaskTimedOutEventAttributes;
    if (timedOut) {
      const from =
        timedOut.startedEventId && Number(timedOut.startedEventId) > 0
          ? startedAt.get(String(timedOut.startedEventId))
          : scheduledAt.get(String(timedOut.scheduledEventId));
      if (from !== undefined) waits.push([from, at]);
    }
    const activityStarted = event.activityTaskStartedEventAttributes;
    if (activityStarted && (activityStarted.attempt ?? 1) > 1 && at > sinceMs) waits.push([sinceMs, at]);
  }
  // Stretches that meet (within the server's few milliseconds between one event and the next) are one wait.
  const clipped = waits
    .map(([from, to]): [number, number] => [Math.max(from, sinceMs), to])
    .filter(([from, to]) => to > from)
    .sort((a, b) => a[0] - b[0]);
  let longest = 0;
  let current: [number, number] | undefined;
  for (const [from, to] of clipped) {
    if (current && from <= current[1] + 50) current[1] = Math.max(current[1], to);
    else current = [from, to];
    longest = Math.max(longest, current[1] - current[0]);
  }
  return longest;
}

/** One activity execution as its history tells it: type, when it was scheduled, started and finished, its result. */
export interface ActivityTimeline {
  activityType: string;
  scheduledAt: number;
  startedAt?: number;
  completedAt?: number;
  result?: unknown;
}

/** Every activity of a history, in order of scheduling. */
export function activityTimelines(events: HistoryEvent[]): ActivityTimeline[] {
  const byScheduledId = new Map<string, ActivityTimeline>();
  for (const event of events) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) {
      byScheduledId.set(String(event.eventId), {
        activityType: scheduled.activityType?.name ?? '?',
        scheduledAt: eventMs(event),
      });
      continue;
    }
    const started = event.activityTaskStartedEventAttributes;
    if (started) {
      const timeline = byScheduledId.get(String(started.scheduledEventId));
      if (timeline) timeline.startedAt = eventMs(event);
      continue;
    }
    const completed = event.activityTaskCompletedEventAttributes;
    if (completed) {
      const timeline = byScheduledId.get(String(completed.scheduledEventId));
      if (!timeline) continue;
      timeline.completedAt = eventMs(event);
      const payload = completed.result?.payloads?.[0];
      if (payload) timeline.result = defaultPayloadConverter.fromPayload(payload);
    }
  }
  return [...byScheduledId.values()];
}

/** Stops a child process and waits for it to exit (nothing to do when it already has). */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** What an end-to-end benchmark runs against: its own simulator, database, task queue and worker process. */
export interface BenchStack {
  /** Unique to this run: a prefix for host and pair names. */
  tag: string;
  simulatorUrl: string;
  simulatorPid: number;
  /** The first worker process: the one `restartWorker` kills. */
  workerPid: number;
  workerPids: number[];
  /** The watcher lanes of each worker process, in the order of `workerPids`. */
  workerLanes: WatchLane[][];
  provider: HttpFleetProvider;
  control: SimulatorControl;
  /** The run's own InfluxDB database: the simulator's metrics and the observers' decisions. */
  metrics: InfluxV1MetricsStore;
  client: Client;
  taskQueue: string;
  /** Pairs to terminate (with their swap schedules) when the run ends. */
  pairIds: string[];
  /** Kills the first worker process (SIGKILL, as a crash would) and starts a new one like it. */
  restartWorker(): Promise<{ killedAt: number; readyAt: number }>;
  close(): Promise<void>;
}

/**
 * Starts a simulator at `speed` writing to a new InfluxDB database, and a worker process on a task queue of this
 * run's own on the shared dev server. `close()` removes all of it again, pairs first, and never throws.
 */
export async function startBenchStack(options: {
  config: UnderstudyConfig;
  label: string;
  speed: number;
  metricsIntervalSeconds: number;
  /**
   * The health-watcher lanes of each worker process: one process serving both lanes unless told otherwise. Only the
   * first process runs the shard observers, so the others' lanes are clear of their reading and forecasting.
   */
  workerLanes?: WatchLane[][];
}): Promise<BenchStack> {
  const { config, label } = options;
  const tag = randomUUID().slice(0, 6);
  const cleanups: (() => Promise<unknown>)[] = [];
  const pairIds: string[] = [];
  const close = async () => {
    for (const cleanup of cleanups)
      await cleanup().catch((e: unknown) => console.error(`cleanup: ${(e as Error).message}`));
  };
  try {
    const database = await createBenchDatabase(config.influx.url, `bench_${label}`);
    cleanups.unshift(() => database.drop());
    const stateDir = mkdtempSync(join(tmpdir(), `understudy-bench-${label}-`));
    cleanups.unshift(() => rm(stateDir, { recursive: true, force: true }));
    const { child: simulator, url } = await spawnSimulator({
      stateDir,
      speed: options.speed,
      metricsIntervalSeconds: options.metricsIntervalSeconds,
      influx: { url: config.influx.url, database: database.name },
      tokenEnv: 'BENCH_NO_SIMULATOR_TOKEN',
    });
    cleanups.unshift(() => stopChild(simulator));
    const bundlePath = await writeWorkflowBundle(config, `${label}-${tag}`);
    cleanups.unshift(() => rm(bundlePath, { force: true }));
    const taskQueue = `bench-${label}-${tag}`;
    const workerArgs = {
      taskQueue,
      simulatorUrl: url,
      influxUrl: config.influx.url,
      database: database.name,
      bundlePath,
    };
    // The workers' warnings and crashes, for reading after a run (the SDK logs at WARN).
    mkdirSync(stackPaths(config).logsDir, { recursive: true });
    const workerLog = (lanes: WatchLane[]) =>
      createWriteStream(join(stackPaths(config).logsDir, `bench-${label}-${tag}-worker-${lanes.join('')}.log`), {
        flags: 'a',
      });
    const connection = await Connection.connect({ address: config.temporal.address });
    cleanups.unshift(() => connection.close());
    const client = new Client({ connection, namespace: config.temporal.namespace });
    cleanups.unshift(() =>
      inBatches([...allWatcherWorkflowIds(taskQueue), ...allObserverWorkflowIds(taskQueue)], 8, (id) =>
        client.workflow
          .getHandle(id)
          .terminate('benchmark finished')
          .catch(() => undefined),
      ),
    );
    cleanups.unshift(() =>
      inBatches(pairIds, 32, async (pairId) => {
        await client.workflow
          .getHandle(pairWorkflowId(pairId))
          .terminate('benchmark finished')
          .catch(() => undefined);
        await client.schedule
          .getHandle(swapScheduleId(pairId))
          .delete()
          .catch(() => undefined);
      }),
    );
    // Registered last, so they stop first: terminating thousands of pairs is quick on a dev server no worker keeps busy.
    const workers: ChildProcess[] = [];
    for (const watchLanes of options.workerLanes ?? [[...WATCH_LANES]]) {
      const observers = workers.length === 0;
      workers.push(await spawnWorkerProcess({ ...workerArgs, watchLanes, observers }, workerLog(watchLanes)));
      const index = workers.length - 1;
      cleanups.unshift(() => stopChild(workers[index]!));
    }
    // A run stopped by Ctrl-C or kill still removes what it started (the simulator would outlive it).
    const stopOnSignal = (signal: NodeJS.Signals) => {
      console.error(`bench: ${signal}: stopping the workers and the simulator, removing the pairs`);
      void close().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    };
    process.once('SIGINT', stopOnSignal);
    process.once('SIGTERM', stopOnSignal);
    cleanups.push(() => {
      process.off('SIGINT', stopOnSignal);
      process.off('SIGTERM', stopOnSignal);
      return Promise.resolve();
    });
    const stack: BenchStack = {
      tag,
      simulatorUrl: url,
      simulatorPid: simulator.pid!,
      workerPid: workers[0]!.pid!,
      workerPids: workers.map((w) => w.pid!),
      workerLanes: options.workerLanes ?? [[...WATCH_LANES]],
      async restartWorker() {
        const killed = workers[0]!;
        const exited = new Promise((resolve) => killed.once('exit', resolve));
        killed.kill('SIGKILL');
        await exited;
        const killedAt = Date.now();
        const lanes = (options.workerLanes ?? [[...WATCH_LANES]])[0]!;
        workers[0] = await spawnWorkerProcess({ ...workerArgs, watchLanes: lanes, observers: true }, workerLog(lanes));
        stack.workerPid = workers[0].pid!;
        stack.workerPids = workers.map((w) => w.pid!);
        return { killedAt, readyAt: Date.now() };
      },
      provider: new HttpFleetProvider({ url, requestTimeoutMs: 30_000 }),
      control: new SimulatorControl({ url, requestTimeoutMs: 600_000 }),
      metrics: new InfluxV1MetricsStore({ url: config.influx.url, database: database.name }),
      client,
      taskQueue,
      pairIds,
      close,
    };
    return stack;
  } catch (error) {
    await close();
    throw error;
  }
}

/** Runs `work` over `items`, `concurrency` at a time. */
export async function inBatches<T>(
  items: T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const i = next++;
        await work(items[i]!, i);
      }
    }),
  );
}

/**
 * How many pairs have recorded a decision on a data step sampled at or after `sampledSince`, in the run's own
 * database: one number from one query, however many pairs there are.
 */
export async function pairsDecidedSince(metrics: InfluxV1MetricsStore, sampledSince: Date): Promise<number> {
  const since = sampledSince.getTime();
  const [result] = await metrics.query([
    `SELECT COUNT("action") FROM (SELECT LAST("action") AS "action" FROM "${DECISION_MEASUREMENT}" ` +
      `WHERE time >= ${since}ms AND "issued_at" >= ${since} GROUP BY "pair")`,
  ]);
  const count = result?.series?.[0]?.values?.[0]?.[1];
  return typeof count === 'number' ? count : 0;
}

/** How long a settle waits between two counts of the pairs that have decided. */
const SETTLE_POLL_MS = 10_000;

export interface Settle {
  seconds: number;
  pairsDecidedSinceStart: number;
  settled: boolean;
  /** Reads of the decisions InfluxDB did not answer in time (the count stood at the last answer until the next). */
  unansweredReads: number;
}

/**
 * `call`, tried up to `attempts` times, `pauseMs` apart: a read over a fleet of thousands of hosts may outlast its
 * timeout while the stack is busy, and a dev server that busy has answered a start with "namespace not found"; a
 * benchmark run of an hour should not end on one.
 */
export async function withRetries<T>(call: () => Promise<T>, what: string, attempts = 3, pauseMs = 2_000): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= attempts) throw new Error(`${what} failed ${attempts} times; the last: ${messageOf(error)}`);
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  }
}

/**
 * Waits until `pairs` pairs have decided on a data step sampled at or after the simulator time `startedDataAt` (so
 * their enrolments are behind them), or `maxSeconds` at most, and says how long it took and whether they had.
 */
export async function settleUntilDecided(
  stack: BenchStack,
  options: { pairs: number; startedDataAt: number; maxSeconds: number },
): Promise<Settle> {
  const started = performance.now();
  let decided = 0;
  let unansweredReads = 0;
  while (performance.now() - started < options.maxSeconds * 1000) {
    decided = await pairsDecidedSince(stack.metrics, new Date(options.startedDataAt)).catch(() => {
      unansweredReads++;
      return decided;
    });
    if (decided >= options.pairs) break;
    await new Promise((r) => setTimeout(r, SETTLE_POLL_MS));
  }
  return {
    seconds: round((performance.now() - started) / 1000),
    pairsDecidedSinceStart: decided,
    settled: decided >= options.pairs,
    unansweredReads,
  };
}

/** Enough history for the LSTM (a 4-hour window) at the pairs' 5-minute steps. */
export const BENCH_HISTORY_SECONDS = 4.5 * 3600;
const BENCH_HOST_SIZE: Capacity = { cpuCores: 32, memoryGiB: 128, storageIops: 20_000, networkMbps: 10_000 };
/** Three primary regions, so a region outage (bench:failover --region-outage) takes down a third of the pairs. */
export const BENCH_PRIMARY_REGIONS = ['us-east', 'ap-south', 'us-west'] as const;
const BENCH_REGIONS = { primaries: [...BENCH_PRIMARY_REGIONS], shadows: ['eu-west'] };

/**
 * Seeds `count` primaries (one synthetic workload each, far below the scaling threshold, so no pair acts) and as
 * many shadows on the stack's simulator, gives every host BENCH_HISTORY_SECONDS of history, and starts a pair per
 * primary, the starts spread over one observer turn as a fleet started over time would be (so the pairs do not all
 * enrol in the same second). Pairs are named `<prefix>-<n>` and added to `stack.pairIds`.
 */
export async function seedAndStartPairs(
  stack: BenchStack,
  options: { prefix: string; count: number; policy: PairPolicy },
): Promise<{
  pairIds: string[];
  hosts: { primary: string; shadow: string }[];
  seededSeconds: number;
  startSeconds: number;
}> {
  const { control, client, taskQueue } = stack;
  const { prefix, count, policy } = options;
  const seedStarted = performance.now();
  const primaries = await control.seed({
    prefix: `${prefix}-p`,
    count,
    regions: BENCH_REGIONS.primaries,
    capacity: BENCH_HOST_SIZE,
    workload: {
      requirements: { cpuCores: 8, memoryGiB: 32, storageIops: 5_000, networkMbps: 2_000 },
      demand: { kind: 'synthetic', base: 0.35, daily: { amplitude: 0.1 }, noise: 0.02, seed: 1 },
    },
  });
  const shadows = await control.seed({
    prefix: `${prefix}-s`,
    count,
    regions: BENCH_REGIONS.shadows,
    capacity: BENCH_HOST_SIZE,
    role: 'shadow',
    allocationFraction: policy.shadowFraction,
  });
  await control.advance(BENCH_HISTORY_SECONDS);
  const seededSeconds = (performance.now() - seedStarted) / 1000;
  const hostRef = (hostId: string, region: string): HostRef => ({
    hostId,
    region,
    zone: `${region}-a`,
    capacity: BENCH_HOST_SIZE,
  });
  const pairs = primaries.hostIds.map((primaryId, i) => ({
    pairId: `${prefix}-${i}`,
    primary: hostRef(primaryId, BENCH_REGIONS.primaries[i % BENCH_REGIONS.primaries.length]!),
    shadow: hostRef(shadows.hostIds[i]!, BENCH_REGIONS.shadows[0]!),
  }));
  const spreadMs = policy.tickSeconds * 1000;
  const startAt = performance.now();
  await inBatches(pairs, 16, async (p, i) => {
    const due = startAt + (i / pairs.length) * spreadMs;
    if (due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
    await client.workflow.start<typeof hostPairWorkflow>('hostPairWorkflow', {
      taskQueue,
      workflowTaskTimeout: WORKFLOW_TASK_TIMEOUT,
      workflowId: pairWorkflowId(p.pairId),
      args: [{ pairId: p.pairId, primary: p.primary, shadow: p.shadow, policy }],
    });
    stack.pairIds.push(p.pairId);
  });
  return {
    pairIds: pairs.map((p) => p.pairId),
    hosts: pairs.map((p) => ({ primary: p.primary.hostId, shadow: p.shadow.hostId })),
    seededSeconds,
    startSeconds: (performance.now() - startAt) / 1000,
  };
}
