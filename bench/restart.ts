/**
 * bench:restart — what a worker restart costs the pairs. For each step, that many pairs run at the default policy
 * (an observer turn every 15 s, a health check every 5 s) for `--warm-seconds`, so their runs hold a history; then the worker
 * process is killed (SIGKILL, as a crash would) and a new one started on the same task queue. A worker that has
 * not cached a pair replays the pair's whole run before the pair does anything, and the new worker has cached none.
 * Measured:
 *   - the health-check gap across the kill: per primary, the longest real-time gap between two batched checks the
 *     simulator answered, from a few intervals before the kill until RECOVERY_WINDOW_SECONDS after the new worker
 *     polls (a primary not checked again counts its whole wait); what a failover would have waited for;
 *   - per pair, from its history (server timestamps): the workflow tasks that timed out after the kill (a replay
 *     that took longer than the 10 s task timeout, to be replayed again), and the run's history length at the kill.
 * Not a test: it prints figures. Each step's pairs are terminated before the next step starts.
 *
 * `--processes 2` (the default) runs two worker processes on the task queue, each serving one health-watcher lane
 * (UNDERSTUDY_WATCH_LANES), and kills the one serving lane a; `--processes 1` runs one process serving both, as a
 * single-process deployment does.
 *
 * Usage: npm run bench:restart [-- --json] [--pairs 12,50,100] [--warm-seconds 240] [--processes 1|2]
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load.js';
import { pairWorkflowId } from '../src/shared/pair.js';
import type { WatchLane } from '../src/shared/healthWatch.js';
import { eventMs, inBatches, round, seedAndStartPairs, spread, startBenchStack } from './harness.js';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean' },
    pairs: { type: 'string' },
    'warm-seconds': { type: 'string' },
    processes: { type: 'string' },
  },
});
const PROCESSES = Number(args.processes ?? 2);
if (PROCESSES !== 1 && PROCESSES !== 2) throw new Error(`--processes must be 1 or 2 (got ${args.processes})`);
const WORKER_LANES: WatchLane[][] = PROCESSES === 2 ? [['a'], ['b']] : [['a', 'b']];
const STEPS = (args.pairs ?? '12,50,100').split(',').map((s) => Number(s.trim()));
if (STEPS.some((n) => !Number.isInteger(n) || n < 1))
  throw new Error(`--pairs must be whole numbers ≥ 1, e.g. 12,50,100 (got ${args.pairs})`);
const WARM_SECONDS = Number(args['warm-seconds'] ?? 240);
if (!Number.isFinite(WARM_SECONDS) || WARM_SECONDS < 30)
  throw new Error(`--warm-seconds must be at least 30 (got ${args['warm-seconds']})`);
/** How long after the new worker polls the health-check gaps are measured. */
const RECOVERY_WINDOW_SECONDS = 60;
const log = (message: string) => {
  if (!args.json) console.log(message);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const loaded = loadConfig(undefined, {});
const { config } = loaded;
const policy = config.policy;
if (config.influx.version !== 1) throw new Error('bench:restart runs against the embedded InfluxDB 1.x');
const stack = await startBenchStack({
  config,
  label: 'restart',
  speed: 1,
  metricsIntervalSeconds: 300,
  workerLanes: WORKER_LANES,
});
try {
  const { client, taskQueue, tag } = stack;
  log(
    `bench:restart: task queue ${taskQueue}, worker processes serving lanes ${WORKER_LANES.map((l) => l.join('+')).join(' and ')} ` +
      `(the first is killed); observer turn ${policy.tickSeconds} s, health check every ` +
      `${policy.healthCheckIntervalSeconds} s; steps ${STEPS.join(', ')} pairs, ${WARM_SECONDS} s before each restart`,
  );
  const steps: Record<string, unknown>[] = [];
  for (const [index, count] of STEPS.entries()) {
    const prefix = `brs-${tag}-${index}`;
    const { pairIds } = await seedAndStartPairs(stack, { prefix, count, policy });
    log(`${count} pairs started; running ${WARM_SECONDS} s before the restart`);
    await sleep(WARM_SECONDS * 1000);

    const historyLengths: number[] = [];
    await inBatches(pairIds, 16, async (pairId) => {
      const { historyLength } = await client.workflow.getHandle(pairWorkflowId(pairId)).describe();
      historyLengths.push(historyLength);
    });
    // Every primary has a check on record before the kill, so the gap across it is measured.
    await stack.control.resetHealthCheckGaps();
    await sleep(3 * policy.healthCheckIntervalSeconds * 1000);
    const { killedAt, readyAt } = await stack.restartWorker();
    log(`worker killed; the new one polled ${round((readyAt - killedAt) / 1000)} s later`);
    await sleep(RECOVERY_WINDOW_SECONDS * 1000);
    const gaps = await stack.control.healthCheckGaps();

    const timedOut = new Map<string, number>();
    await inBatches(pairIds, 8, async (pairId) => {
      const history = await client.workflow
        .getHandle(pairWorkflowId(pairId))
        .fetchHistory()
        .catch(() => undefined);
      const events = history?.events ?? [];
      timedOut.set(pairId, events.filter((e) => e.workflowTaskTimedOutEventAttributes && eventMs(e) > killedAt).length);
    });
    const timeouts = [...timedOut.values()];
    const seconds = (ms: number) => round(ms / 1000, 2);
    const step = {
      pairs: count,
      workerProcesses: PROCESSES,
      healthGapAfterKillSeconds: {
        p50: seconds(gaps.hostMaxGapsMs.p50),
        p99: seconds(gaps.hostMaxGapsMs.p99),
        max: seconds(gaps.hostMaxGapsMs.max),
      },
      hostsChecked: gaps.hostsChecked,
      historyEventsAtKill: spread(historyLengths, 0),
      workerStartSeconds: round((readyAt - killedAt) / 1000),
      workflowTaskTimeouts: {
        total: timeouts.reduce((a, b) => a + b, 0),
        pairsWithOne: timeouts.filter((n) => n > 0).length,
      },
    };
    steps.push(step);
    log(
      `${count} pairs: history ${step.historyEventsAtKill.p50} events (p50) at the kill; longest health-check gap ` +
        `per primary across it p50 ${step.healthGapAfterKillSeconds.p50} s, p99 ${step.healthGapAfterKillSeconds.p99} s, ` +
        `max ${step.healthGapAfterKillSeconds.max} s (${step.hostsChecked} hosts); ` +
        `${step.workflowTaskTimeouts.total} workflow task timeouts in ${step.workflowTaskTimeouts.pairsWithOne} pairs`,
    );
    await inBatches(pairIds, 16, (pairId) =>
      client.workflow
        .getHandle(pairWorkflowId(pairId))
        .terminate('step finished')
        .catch(() => undefined),
    );
  }
  if (args.json) {
    console.log(
      JSON.stringify(
        {
          policy: { tickSeconds: policy.tickSeconds, healthCheckIntervalSeconds: policy.healthCheckIntervalSeconds },
          steps,
        },
        null,
        2,
      ),
    );
  }
} finally {
  await stack.close();
}
