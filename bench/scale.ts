/**
 * bench:scale — how many host pairs one worker process and the shared Temporal dev server sustain on this machine
 * at the default policy (a tick every 15 s, a health check every 5 s), in real time. Not a test.
 *
 * A simulator of this run's own (1×, Telegraf metrics every 5 simulated minutes into an InfluxDB database of its
 * own) holds the primaries (one synthetic workload each, far below the scaling threshold, so no pair acts) and their
 * shadows. The pair count steps up (`--pairs 100,250,…`); each step adds pairs (their starts spread over one tick),
 * gives every host 4.5 h of history so the forecaster runs its ONNX models, lets the pairs settle, then measures:
 *   - tick lag: the interval between two consecutive observePair starts of one pair, minus tickSeconds (what a
 *     pair's 15 s tick actually is), read from the histories of a sample of pairs (server timestamps);
 *   - the gap between two health checks of one primary, from the simulator's record of the watchers' batched checks
 *     it answered (pairs do not check their primaries themselves), and activity queueing (schedule-to-start) and
 *     run time per activity type;
 *   - workflow tasks and history events per second, counted in the sampled histories over the window and scaled to
 *     every pair; the decision lag, the longest a new data step can wait for the tick that decides on it (tick
 *     interval p99);
 *   - CPU (share of one core) and resident memory of the worker process, the Temporal dev server, InfluxDB and the
 *     simulator, from /proc, over the step's window.
 * A step is sustained when its p99 tick lag stays under 1 s and its p99 health-check gap under the interval + 1 s.
 * The run stops at the first step that is not, or after the last step; with --past-goal it goes on until the median
 * tick lag reaches 5 s. "Sustained" is the last step of an unbroken run of sustained steps.
 *
 * The dev server and InfluxDB are shared with whatever else runs on the machine: their figures include it (the
 * idle reading before the first step says how much).
 *
 * Usage: npm run bench:scale [-- --json] [--pairs 100,250,500,1000,2000] [--step-seconds 120] [--sample 150]
 *        [--past-goal]
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load.js';
import { pairWorkflowId } from '../src/shared/pair.js';
import {
  activityTimelines,
  BENCH_HISTORY_SECONDS,
  cpuSeconds,
  eventMs,
  inBatches,
  percentile,
  round,
  rssMiB,
  seedAndStartPairs,
  spread,
  stackServicePid,
  startBenchStack,
} from './harness.js';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean' },
    pairs: { type: 'string' },
    'step-seconds': { type: 'string' },
    sample: { type: 'string' },
    'past-goal': { type: 'boolean' },
  },
});
const STEPS = (args.pairs ?? '100,250,500,1000,2000,4000,10000').split(',').map((s) => Number(s.trim()));
if (STEPS.some((n, i) => !Number.isInteger(n) || n < 1 || (i > 0 && n <= STEPS[i - 1]!)))
  throw new Error(`--pairs must be rising whole numbers, e.g. 100,250,500 (got ${args.pairs})`);
const STEP_SECONDS = Number(args['step-seconds'] ?? 120);
if (!Number.isFinite(STEP_SECONDS) || STEP_SECONDS < 45)
  throw new Error(`--step-seconds must be at least 45 (got ${args['step-seconds']})`);
const SAMPLE = Number(args.sample ?? 150);
if (!Number.isInteger(SAMPLE) || SAMPLE < 1)
  throw new Error(`--sample must be a whole number ≥ 1 (got ${args.sample})`);
/** The first part of each step only lets the new pairs settle; the rest is measured. */
const SETTLE_SECONDS = 30;
const LAG_GOAL_SECONDS = 1;
/** With --past-goal, a step whose median tick lag reaches this ends the run. */
const SATURATED_P50_LAG_SECONDS = 5;
const METRICS_INTERVAL_SECONDS = 300;
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
});
const { pairIds } = stack;
try {
  const { client, taskQueue, tag } = stack;
  const processes = {
    worker: stack.workerPid,
    temporal: stackServicePid(config, 'temporal'),
    influxd: stackServicePid(config, 'influxd'),
    simulator: stack.simulatorPid,
  };
  type ProcessName = keyof typeof processes;
  const names = Object.keys(processes) as ProcessName[];
  const readCpu = () =>
    Object.fromEntries(names.map((n) => [n, processes[n] ? cpuSeconds(processes[n]) : Number.NaN])) as Record<
      ProcessName,
      number
    >;
  const readRss = () =>
    Object.fromEntries(names.map((n) => [n, processes[n] ? round(rssMiB(processes[n]), 0) : Number.NaN])) as Record<
      ProcessName,
      number
    >;
  async function measureProcesses(seconds: number) {
    const before = readCpu();
    const started = performance.now();
    await sleep(seconds * 1000);
    const wall = (performance.now() - started) / 1000;
    const after = readCpu();
    const cores = Object.fromEntries(names.map((n) => [n, round((after[n] - before[n]) / wall, 3)])) as Record<
      ProcessName,
      number
    >;
    return { cores, rssMiB: readRss() };
  }

  log(
    `bench:scale: one worker process, task queue ${taskQueue}; tick ${policy.tickSeconds} s, health check every ` +
      `${policy.healthCheckIntervalSeconds} s; steps ${STEPS.join(', ')} pairs, ${STEP_SECONDS} s each`,
  );
  const idle = await measureProcesses(20);
  log(`idle (no pairs yet, 20 s): cores ${JSON.stringify(idle.cores)}; RSS MiB ${JSON.stringify(idle.rssMiB)}`);

  const steps: Record<string, unknown>[] = [];
  let sustained = 0;
  let unbroken = true;
  let firstPairHosts: string[] = [];
  for (const target of STEPS) {
    const adding = target - pairIds.length;
    const prefix = `bsc-${tag}-${target}`;
    const { hosts, seededSeconds, startSeconds } = await seedAndStartPairs(stack, { prefix, count: adding, policy });
    if (firstPairHosts.length === 0 && hosts[0]) firstPairHosts = [hosts[0].primary, hosts[0].shadow];
    log(
      `${target} pairs: seeded ${adding} pairs and ${BENCH_HISTORY_SECONDS / 3600} h of history in ${round(seededSeconds)} s, ` +
        `started them in ${round(startSeconds)} s; settling ${SETTLE_SECONDS} s`,
    );
    await sleep(SETTLE_SECONDS * 1000);
    await stack.control.resetHealthCheckGaps();
    const windowStart = Date.now();
    const measured = await measureProcesses(Math.max(15, STEP_SECONDS - SETTLE_SECONDS));
    const windowEnd = Date.now();
    const gaps = await stack.control.healthCheckGaps();

    // ---- timings from a sample of the pairs' histories ----------------------------------------------------------
    const sample = [...pairIds].sort(() => Math.random() - 0.5).slice(0, SAMPLE);
    const tickLags: number[] = [];
    let workflowTasks = 0;
    let historyEvents = 0;
    const queueing: Record<string, number[]> = {};
    const runTime: Record<string, number[]> = {};
    let unreadable = 0;
    await inBatches(sample, 8, async (pairId) => {
      const history = await client.workflow
        .getHandle(pairWorkflowId(pairId))
        .fetchHistory()
        .catch(() => undefined);
      if (!history) {
        unreadable++;
        return;
      }
      const events = history.events ?? [];
      for (const e of events) {
        const at = eventMs(e);
        if (at < windowStart || at > windowEnd) continue;
        historyEvents += 1;
        if (e.workflowTaskCompletedEventAttributes) workflowTasks += 1;
      }
      const activities = activityTimelines(events);
      const intervals = (type: string, periodSeconds: number, into: number[]) => {
        const starts = activities
          .filter((a) => a.activityType === type && a.startedAt !== undefined)
          .map((a) => a.startedAt!);
        for (let i = 1; i < starts.length; i++)
          if (starts[i - 1]! >= windowStart && starts[i]! <= windowEnd)
            into.push((starts[i]! - starts[i - 1]!) / 1000 - periodSeconds);
      };
      intervals('observePair', policy.tickSeconds, tickLags);
      for (const a of activities) {
        if (a.scheduledAt < windowStart || a.scheduledAt > windowEnd) continue;
        if (a.startedAt !== undefined) (queueing[a.activityType] ??= []).push(a.startedAt - a.scheduledAt);
        if (a.completedAt !== undefined) (runTime[a.activityType] ??= []).push(a.completedAt - a.scheduledAt);
      }
    });
    const lag = spread(tickLags);
    const perThousand = (x: number) => round((x / target) * 1000, 3);
    const windowSeconds = (windowEnd - windowStart) / 1000;
    const sampledPairs = sample.length - unreadable;
    const perSecondOfFleet = (count: number) => round((count / Math.max(1, sampledPairs) / windowSeconds) * target, 1);
    const healthGap = {
      p50: round(gaps.gapsMs.p50 / 1000, 2),
      p99: round(gaps.gapsMs.p99 / 1000, 2),
      max: round(gaps.gapsMs.max / 1000, 2),
      n: gaps.gapsMs.count,
      hostsChecked: gaps.hostsChecked,
    };
    const healthGoalMet = healthGap.n > 0 && healthGap.p99 <= policy.healthCheckIntervalSeconds + 1;
    const lagGoalMet = tickLags.length > 0 && lag.p99 < LAG_GOAL_SECONDS;
    const step = {
      pairs: target,
      sustained: lagGoalMet && healthGoalMet,
      healthGapP99Seconds: healthGap.p99,
      decisionLagP99Seconds: round(policy.tickSeconds + lag.p99, 2),
      workflowTasksPerSecond: perSecondOfFleet(workflowTasks),
      historyEventsPerSecond: perSecondOfFleet(historyEvents),
      measuredSeconds: round(windowSeconds),
      sampledPairs,
      tickLagSeconds: lag,
      healthGapSeconds: healthGap,
      activityQueueingMs: Object.fromEntries(Object.entries(queueing).map(([k, v]) => [k, spread(v, 0)])),
      activityMs: Object.fromEntries(Object.entries(runTime).map(([k, v]) => [k, spread(v, 0)])),
      cores: measured.cores,
      rssMiB: measured.rssMiB,
      coresPer1000PairsAboveIdle: Object.fromEntries(
        names.map((n) => [n, perThousand(measured.cores[n] - idle.cores[n])]),
      ),
      rssMiBPer1000PairsAboveIdle: Object.fromEntries(
        names.map((n) => [n, round(perThousand(measured.rssMiB[n] - idle.rssMiB[n]), 0)]),
      ),
      lagGoalMet,
      healthGoalMet,
    };
    steps.push(step);
    log(
      `  tick lag p50 ${lag.p50} s, p99 ${lag.p99} s, max ${lag.max} s (${lag.n} intervals of ${step.sampledPairs} pairs); ` +
        `health-check gap p50 ${healthGap.p50} s, p99 ${healthGap.p99} s, max ${healthGap.max} s ` +
        `(${healthGap.n} gaps of ${healthGap.hostsChecked} hosts)`,
    );
    log(
      `  workflow tasks ${step.workflowTasksPerSecond}/s, history events ${step.historyEventsPerSecond}/s ` +
        `(pairs' histories, scaled from ${sampledPairs})`,
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
    // --past-goal: keep stepping to show how the lag grows, until the pairs are plainly saturated.
    if (!step.sustained && (!args['past-goal'] || !(lag.p50 < SATURATED_P50_LAG_SECONDS))) {
      log(
        `  not sustained (p99 tick lag ${lag.p99} s, goal under ${LAG_GOAL_SECONDS} s; p99 health-check gap ` +
          `${healthGap.p99} s, goal at most ${policy.healthCheckIntervalSeconds + 1} s): stopping here`,
      );
      break;
    }
  }
  // What observePair's fleet view costs at the fleet reached: the whole fleet (as it was read on every tick before)
  // against the pair's own two hosts (as it is now), median of a few calls each.
  const timeFleetView = async (query: string) => {
    const times: number[] = [];
    let bytes = 0;
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      bytes = (await (await fetch(`${stack.simulatorUrl}/v1/fleet${query}`)).text()).length;
      times.push(performance.now() - started);
    }
    return { ms: round(percentile(times, 50), 1), kB: round(bytes / 1000, 1) };
  };
  const fleetView = {
    hosts: pairIds.length * 2,
    wholeFleet: await timeFleetView(''),
    pairOnly: await timeFleetView(`?hostIds=${firstPairHosts.join(',')}`),
  };
  log(
    `fleet view at ${fleetView.hosts} hosts: whole fleet ${fleetView.wholeFleet.kB} kB in ${fleetView.wholeFleet.ms} ms, ` +
      `the pair's two hosts ${fleetView.pairOnly.kB} kB in ${fleetView.pairOnly.ms} ms`,
  );
  const result = {
    fleetView,
    policy: { tickSeconds: policy.tickSeconds, healthCheckIntervalSeconds: policy.healthCheckIntervalSeconds },
    goal: {
      p99TickLagBelowSeconds: LAG_GOAL_SECONDS,
      p99HealthGapAtMostSeconds: policy.healthCheckIntervalSeconds + 1,
    },
    idle,
    steps,
    sustainedPairs: sustained,
  };
  if (args.json) console.log(JSON.stringify(result, null, 2));
  else
    log(
      `sustained: ${sustained} pairs with p99 tick lag under ${LAG_GOAL_SECONDS} s and p99 health-check gap at most ` +
        `${policy.healthCheckIntervalSeconds + 1} s`,
    );
} finally {
  log(`cleaning up ${pairIds.length} pairs and their swap schedules`);
  await stack.close();
}
