/**
 * bench:scale — how many host pairs one worker process and the shared Temporal dev server sustain on this machine
 * at the default policy (an observer turn every 15 s, a health check every 5 s), in real time. Not a test.
 *
 * A simulator of this run's own (1×, Telegraf metrics every 5 simulated minutes into an InfluxDB database of its
 * own) holds the primaries (one synthetic workload each, far below the scaling threshold, so no pair acts) and their
 * shadows. The pair count steps up (`--pairs 1000,5000,…`); each step adds pairs (their starts spread over one
 * turn), gives every host 4.5 h of history so the forecaster runs its ONNX models, lets the pairs settle (until
 * every pair has decided on a data step sampled after the last of them started: the enrolments are behind it, and
 * how long that took is reported), then measures over a window that holds at least one data step:
 *   - decision lag: how long after a data step's sample the observer's decision on it came (a decision's data time
 *     minus the newest sample it forecast from, plus the time its turn spent forecasting), from the decisions
 *     recorded in InfluxDB for a sample of pairs;
 *   - the gap between two health checks of one primary, from the simulator's record of the watchers' batched checks
 *     it answered, and activity queueing (schedule-to-start) and run time per activity type;
 *   - workflow tasks and history events per second: the sampled pairs' histories scaled to every pair, plus every
 *     shard workflow (watcher lanes and observers) of the task queue counted whole;
 *   - CPU (share of one core) and resident memory of the worker process, the Temporal dev server, InfluxDB and the
 *     simulator, from /proc, over the step's window.
 * A step is sustained when it settled within `--settle-seconds`, its p99 decision lag is at most 60 s and its p99
 * health-check gap at most the interval + 1 s. The run stops at the first step that is not, or after the last step. "Sustained" is the last step of an
 * unbroken run of sustained steps.
 *
 * The dev server and InfluxDB are shared with whatever else runs on the machine: their figures include it (the
 * idle reading before the first step says how much).
 *
 * Two worker processes run on the task queue, each serving one health-watcher lane (as docker-compose.yml deploys
 * them); `--processes 1` runs one serving both.
 *
 * Usage: npm run bench:scale [-- --json] [--pairs 1000,5000,10000] [--window-seconds 390] [--sample 150]
 *        [--processes 1|2] [--settle-seconds 900]
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load.js';
import { pairWorkflowId } from '../src/shared/pair.js';
import { allWatcherWorkflowIds, type WatchLane } from '../src/shared/healthWatch.js';
import { allObserverWorkflowIds } from '../src/shared/observation.js';
import {
  activityTimelines,
  BENCH_HISTORY_SECONDS,
  eventMs,
  inBatches,
  metricsDelivery,
  processMeter,
  round,
  seedAndStartPairs,
  settleUntilDecided,
  spread,
  startBenchStack,
} from './harness.js';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean' },
    pairs: { type: 'string' },
    'window-seconds': { type: 'string' },
    sample: { type: 'string' },
    processes: { type: 'string' },
    'settle-seconds': { type: 'string' },
  },
});
const PROCESSES = Number(args.processes ?? 2);
if (PROCESSES !== 1 && PROCESSES !== 2) throw new Error(`--processes must be 1 or 2 (got ${args.processes})`);
/** Two processes (the deployment docker-compose.yml describes): one watcher lane each, both on the main queue. */
const WORKER_LANES: WatchLane[][] = PROCESSES === 2 ? [['a'], ['b']] : [['a', 'b']];
const STEPS = (args.pairs ?? '1000,5000,10000').split(',').map((s) => Number(s.trim()));
if (STEPS.some((n, i) => !Number.isInteger(n) || n < 1 || (i > 0 && n <= STEPS[i - 1]!)))
  throw new Error(`--pairs must be rising whole numbers, e.g. 100,250,500 (got ${args.pairs})`);
const METRICS_INTERVAL_SECONDS = 300;
/**
 * A step settles until every pair has decided on a data step sampled after the last of them started (so the
 * enrolments are behind it), or for this long at most; the settle is reported, then the window is measured.
 */
const SETTLE_SECONDS = Number(args['settle-seconds'] ?? 900);
if (!Number.isFinite(SETTLE_SECONDS) || SETTLE_SECONDS < 0)
  throw new Error(`--settle-seconds must be a number ≥ 0 (got ${args['settle-seconds']})`);
const WINDOW_SECONDS = Number(args['window-seconds'] ?? 390);
// The window must hold a data step, or there is no decision to time.
if (!Number.isFinite(WINDOW_SECONDS) || WINDOW_SECONDS < METRICS_INTERVAL_SECONDS + 30)
  throw new Error(
    `--window-seconds must be at least ${METRICS_INTERVAL_SECONDS + 30}, so each window holds a data step ` +
      `(got ${args['window-seconds']})`,
  );
const SAMPLE = Number(args.sample ?? 150);
if (!Number.isInteger(SAMPLE) || SAMPLE < 1)
  throw new Error(`--sample must be a whole number ≥ 1 (got ${args.sample})`);
/** Every scaling decision within this long of its data step, p99. */
const DECISION_LAG_GOAL_SECONDS = 60;
const log = (message: string) => {
  if (!args.json) console.log(message);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const loaded = loadConfig(undefined, {});
const { config } = loaded;
const policy = config.policy;
if (config.influx.version !== 1) throw new Error('bench:scale runs against the embedded InfluxDB 1.x');
const stack = await startBenchStack({
  config,
  label: 'scale',
  speed: 1,
  metricsIntervalSeconds: METRICS_INTERVAL_SECONDS,
  workerLanes: WORKER_LANES,
});
const { pairIds } = stack;
try {
  const { client, taskQueue, tag } = stack;
  const meter = processMeter(config, stack);
  const { names } = meter;
  async function measureProcesses(seconds: number) {
    const reading = meter.start();
    await sleep(seconds * 1000);
    return reading.finish();
  }

  log(
    `bench:scale: ${PROCESSES} worker process(es) (watcher lanes ${WORKER_LANES.map((l) => l.join('+')).join(', ')}), task queue ${taskQueue}; observer turn ${policy.tickSeconds} s, health check every ` +
      `${policy.healthCheckIntervalSeconds} s; steps ${STEPS.join(', ')} pairs, ` +
      `each settled (${SETTLE_SECONDS} s at most) and measured over ${WINDOW_SECONDS} s`,
  );
  const idle = await measureProcesses(20);
  log(`idle (no pairs yet, 20 s): cores ${JSON.stringify(idle.cores)}; RSS MiB ${JSON.stringify(idle.rssMiB)}`);

  const steps: Record<string, unknown>[] = [];
  let sustained = 0;
  let unbroken = true;
  const shardWorkflowIds = [...allWatcherWorkflowIds(taskQueue), ...allObserverWorkflowIds(taskQueue)];
  for (const target of STEPS) {
    const adding = target - pairIds.length;
    const prefix = `bsc-${tag}-${target}`;
    const { seededSeconds, startSeconds } = await seedAndStartPairs(stack, { prefix, count: adding, policy });
    const startedDataAt = Date.parse((await stack.control.status()).now);
    log(
      `${target} pairs: seeded ${adding} pairs and ${BENCH_HISTORY_SECONDS / 3600} h of history in ${round(seededSeconds)} s, ` +
        `started them in ${round(startSeconds)} s`,
    );
    const settle = await settleUntilDecided(stack, {
      pairs: target,
      startedDataAt,
      maxSeconds: SETTLE_SECONDS,
    });
    log(
      settle.settled
        ? `  settled in ${settle.seconds} s: every pair has decided on a data step sampled after the starts`
        : `  not settled after ${settle.seconds} s: ${settle.pairsDecidedSinceStart} of ${target} pairs have decided on a data ` +
            `step sampled after the starts; measuring anyway`,
    );
    await stack.control.resetHealthCheckGaps();
    const windowStart = Date.now();
    const dataWindowStart = Date.parse((await stack.control.status()).now);
    const measured = await measureProcesses(WINDOW_SECONDS);
    const windowEnd = Date.now();
    const dataWindowEnd = Date.parse((await stack.control.status()).now);
    const gaps = await stack.control.healthCheckGaps();

    // ---- decisions of a sample of the pairs, as the observers recorded them -----------------------------------------
    const sample = [...pairIds].sort(() => Math.random() - 0.5).slice(0, SAMPLE);
    const recorded = (
      await Promise.all(
        Array.from({ length: Math.ceil(sample.length / 50) }, (_, k) =>
          stack.metrics.readDecisions({
            pairIds: sample.slice(k * 50, k * 50 + 50),
            start: new Date(dataWindowStart),
            end: new Date(dataWindowEnd),
          }),
        ),
      )
    ).flat();
    // A pair added in this step has no lag on a data step that came before it started: its first decision is its
    // enrolment, counted apart. Every other decision counts, the older pairs' on that step included.
    const enrolments = recorded.filter(
      (d) => d.pairId.startsWith(`${prefix}-`) && d.issuedAt.getTime() < startedDataAt,
    );
    const decisions = recorded.filter((d) => !enrolments.includes(d));
    // From the sample to the fleet read of the turn that decided (data time, 1×), plus that turn's forecasting.
    const decisionLags = decisions.map(
      (d) => (d.time.getTime() - d.issuedAt.getTime() + (d.decidedAfterMs ?? 0)) / 1000,
    );
    const decidedPairs = new Set(decisions.map((d) => d.pairId)).size;

    // ---- workflow tasks and events: the sampled pairs (scaled), the shard workflows (whole) -------------------------
    let pairTasks = 0;
    let pairEvents = 0;
    let shardTasks = 0;
    let shardEvents = 0;
    const queueing: Record<string, number[]> = {};
    const runTime: Record<string, number[]> = {};
    let unreadable = 0;
    const countHistory = async (workflowId: string, isPair: boolean) => {
      const history = await client.workflow
        .getHandle(workflowId)
        .fetchHistory()
        .catch(() => undefined);
      if (!history) {
        if (isPair) unreadable++;
        return;
      }
      const events = history.events ?? [];
      for (const e of events) {
        const at = eventMs(e);
        if (at < windowStart || at > windowEnd) continue;
        const task = e.workflowTaskCompletedEventAttributes ? 1 : 0;
        if (isPair) {
          pairEvents += 1;
          pairTasks += task;
        } else {
          shardEvents += 1;
          shardTasks += task;
        }
      }
      for (const a of activityTimelines(events)) {
        if (a.scheduledAt < windowStart || a.scheduledAt > windowEnd) continue;
        if (a.startedAt !== undefined) (queueing[a.activityType] ??= []).push(a.startedAt - a.scheduledAt);
        if (a.completedAt !== undefined) (runTime[a.activityType] ??= []).push(a.completedAt - a.scheduledAt);
      }
    };
    await inBatches(sample, 8, (pairId) => countHistory(pairWorkflowId(pairId), true));
    await inBatches(shardWorkflowIds, 4, (id) => countHistory(id, false));
    const lag = spread(decisionLags);
    const perThousand = (x: number) => round((x / target) * 1000, 3);
    const windowSeconds = (windowEnd - windowStart) / 1000;
    const sampledPairs = sample.length - unreadable;
    const perSecond = (pairCount: number, shardCount: number) =>
      round(((pairCount / Math.max(1, sampledPairs)) * target + shardCount) / windowSeconds, 2);
    const healthGap = {
      p50: round(gaps.gapsMs.p50 / 1000, 2),
      p99: round(gaps.gapsMs.p99 / 1000, 2),
      max: round(gaps.gapsMs.max / 1000, 2),
      n: gaps.gapsMs.count,
      hostsChecked: gaps.hostsChecked,
    };
    const healthGoalMet = healthGap.n > 0 && healthGap.p99 <= policy.healthCheckIntervalSeconds + 1;
    const lagGoalMet = decisionLags.length > 0 && lag.p99 <= DECISION_LAG_GOAL_SECONDS;
    const step = {
      pairs: target,
      sustained: settle.settled && lagGoalMet && healthGoalMet,
      healthGapP99Seconds: healthGap.p99,
      decisionLagP99Seconds: lag.p99,
      workflowTasksPerSecond: perSecond(pairTasks, shardTasks),
      historyEventsPerSecond: perSecond(pairEvents, shardEvents),
      measuredSeconds: round(windowSeconds),
      settle,
      sampledPairs,
      decisionLagSeconds: {
        ...lag,
        decisions: decisions.length,
        pairsDecided: decidedPairs,
        enrolmentDecisionsApart: enrolments.length,
      },
      // The slowest decisions, to say where the lag comes from: the data step, the turn's fleet read, its forecasting.
      slowestDecisions: decisions
        .map((d, i) => ({ d, lag: decisionLags[i]! }))
        .sort((a, b) => b.lag - a.lag)
        .slice(0, 5)
        .map(({ d, lag: seconds }) => ({
          pairId: d.pairId,
          sampleAt: d.issuedAt.toISOString(),
          fleetReadAt: d.time.toISOString(),
          forecastingMs: d.decidedAfterMs,
          lagSeconds: round(seconds, 2),
          pairDecisions: decisions
            .filter((other) => other.pairId === d.pairId)
            .map((other) => `${other.issuedAt.toISOString()}@${other.time.toISOString()}`),
        })),
      healthGapSeconds: healthGap,
      shardWorkflows: { workflowTasksPerSecond: round(shardTasks / windowSeconds, 2), count: shardWorkflowIds.length },
      activityQueueingMs: Object.fromEntries(Object.entries(queueing).map(([k, v]) => [k, spread(v, 0)])),
      activityMs: Object.fromEntries(Object.entries(runTime).map(([k, v]) => [k, spread(v, 0)])),
      cores: measured.cores,
      rssMiB: measured.rssMiB,
      coresPer1000PairsAboveIdle: Object.fromEntries(
        names.map((n) => [n, perThousand(measured.cores[n]! - idle.cores[n]!)]),
      ),
      rssMiBPer1000PairsAboveIdle: Object.fromEntries(
        names.map((n) => [n, round(perThousand(measured.rssMiB[n]! - idle.rssMiB[n]!), 0)]),
      ),
      lagGoalMet,
      healthGoalMet,
      // Cumulative over the run up to this step: a step that dropped metrics decided on less than its fleet sent.
      simulatorMetrics: metricsDelivery((await stack.control.status()).metrics),
    };
    steps.push(step);
    log(
      `  decision lag p50 ${lag.p50} s, p99 ${lag.p99} s, max ${lag.max} s (${decisions.length} decisions of ` +
        `${decidedPairs} of ${sample.length} sampled pairs); health-check gap p50 ${healthGap.p50} s, p99 ` +
        `${healthGap.p99} s, max ${healthGap.max} s (${healthGap.n} gaps of ${healthGap.hostsChecked} hosts)`,
    );
    log(
      `  simulator metrics so far: ${step.simulatorMetrics.pointsWritten} points written, ` +
        `${step.simulatorMetrics.pointsDropped} dropped, ${step.simulatorMetrics.writeErrors} write errors`,
    );
    for (const slow of step.slowestDecisions)
      log(
        `    slow: ${slow.pairId} sample ${slow.sampleAt}, fleet read ${slow.fleetReadAt}, forecasting ` +
          `${slow.forecastingMs} ms: ${slow.lagSeconds} s; its decisions (sample@read): ${slow.pairDecisions.join(', ')}`,
      );
    log(
      `  workflow tasks ${step.workflowTasksPerSecond}/s, history events ${step.historyEventsPerSecond}/s ` +
        `(pairs' histories scaled from ${sampledPairs}, plus ${shardWorkflowIds.length} shard workflows)`,
    );
    log(
      `  queueing p99 ms: ${Object.entries(step.activityQueueingMs)
        .map(([k, v]) => `${k} ${v.p99}`)
        .join(', ')}; run p50/p99 ms: ${Object.entries(step.activityMs)
        .map(([k, v]) => `${k} ${v.p50}/${v.p99}`)
        .join(', ')}`,
    );
    log(
      `  cores: ${names.map((n) => `${n} ${measured.cores[n]}`).join(', ')}; RSS MiB: ${names
        .map((n) => `${n} ${measured.rssMiB[n]}`)
        .join(', ')}`,
    );
    if (!step.sustained) unbroken = false;
    if (unbroken) sustained = target;
    if (!step.sustained) {
      log(
        `  not sustained (${settle.settled ? 'settled' : 'not settled'}; p99 decision lag ${lag.p99} s, goal at ` +
          `most ${DECISION_LAG_GOAL_SECONDS} s; p99 ` +
          `health-check gap ${healthGap.p99} s, goal at most ${policy.healthCheckIntervalSeconds + 1} s): stopping here`,
      );
      break;
    }
  }
  const result = {
    policy: { tickSeconds: policy.tickSeconds, healthCheckIntervalSeconds: policy.healthCheckIntervalSeconds },
    goal: {
      p99DecisionLagAtMostSeconds: DECISION_LAG_GOAL_SECONDS,
      p99HealthGapAtMostSeconds: policy.healthCheckIntervalSeconds + 1,
    },
    idle,
    steps,
    sustainedPairs: sustained,
  };
  if (args.json) console.log(JSON.stringify(result, null, 2));
  else
    log(
      `sustained: ${sustained} pairs with p99 decision lag at most ${DECISION_LAG_GOAL_SECONDS} s and p99 ` +
        `health-check gap at most ${policy.healthCheckIntervalSeconds + 1} s`,
    );
} finally {
  log(`cleaning up ${pairIds.length} pairs and their swap schedules`);
  await stack.close();
}
