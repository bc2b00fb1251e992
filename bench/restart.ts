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
 *     that took longer than the 10 s task timeout, to be replayed again), and the run's history length at the kill;
 *   - then, with `--actions K` (default 10) of the step's pairs failing over (their primaries failed, each failover
 *     child seen running), the same worker process is killed a second time: per action, the longest wait after that
 *     kill for a worker to take up its work (`longestWaitAfter`, from the child's and the pair's histories). The
 *     health-check gaps come from the first kill only: a failed primary stops being checked, as it should.
 * Not a test: it prints figures. Each step's pairs are terminated before the next step starts.
 *
 * `--processes 2` (the default) runs two worker processes on the task queue, each serving one health-watcher lane
 * (UNDERSTUDY_WATCH_LANES), and kills the one serving lane a; `--processes 1` runs one process serving both, as a
 * single-process deployment does.
 *
 * Usage: npm run bench:restart [-- --json] [--pairs 12,50,100] [--warm-seconds 240] [--processes 1|2] [--actions 10]
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load.js';
import { pairWorkflowId, stateQuery, type PairState } from '../src/shared/pair.js';
import type { hostPairWorkflow } from '../workflows/hostPair.js';
import type { WatchLane } from '../src/shared/healthWatch.js';
import { eventMs, inBatches, longestWaitAfter, round, seedAndStartPairs, spread, startBenchStack } from './harness.js';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean' },
    pairs: { type: 'string' },
    'warm-seconds': { type: 'string' },
    processes: { type: 'string' },
    actions: { type: 'string' },
  },
});
const ACTIONS = Number(args.actions ?? 10);
if (!Number.isInteger(ACTIONS) || ACTIONS < 0)
  throw new Error(`--actions must be a whole number ≥ 0 (got ${args.actions})`);
/** How long the failovers in flight across the second kill may take to finish (a restore moves 32 GiB: ~65 s). */
const ACTIONS_TIMEOUT_MS = 300_000;
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
    const { pairIds, hosts } = await seedAndStartPairs(stack, { prefix, count, policy });
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
    const actionWaits = ACTIONS > 0 ? await actionsAcrossAKill(pairIds.slice(0, ACTIONS), hosts) : undefined;
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
      ...(actionWaits
        ? { actionWaitAfterKillSeconds: actionWaits.seconds, actionsUnfinished: actionWaits.unfinished }
        : {}),
    };
    steps.push(step);
    log(
      `${count} pairs: history ${step.historyEventsAtKill.p50} events (p50) at the kill; longest health-check gap ` +
        `per primary across it p50 ${step.healthGapAfterKillSeconds.p50} s, p99 ${step.healthGapAfterKillSeconds.p99} s, ` +
        `max ${step.healthGapAfterKillSeconds.max} s (${step.hostsChecked} hosts); ` +
        `${step.workflowTaskTimeouts.total} workflow task timeouts in ${step.workflowTaskTimeouts.pairsWithOne} pairs`,
    );
    if (actionWaits)
      log(
        `${ACTIONS} failovers in flight across a second kill: longest wait for a worker per action p50 ` +
          `${actionWaits.seconds.p50} s, p99 ${actionWaits.seconds.p99} s, max ${actionWaits.seconds.max} s` +
          (actionWaits.unfinished.length > 0 ? `; unfinished: ${actionWaits.unfinished.join('; ')}` : ''),
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
          // The last step's figures first, in the shape the goal names; every step after them.
          ...steps.at(-1),
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

/**
 * Fails the primaries of `pairIds`, kills the first worker process once every one of their failover children runs,
 * waits for the failovers to finish, and reads from each child's history (and its pair's) how long after the kill
 * its work waited for a worker.
 */
async function actionsAcrossAKill(pairIds: string[], hosts: { primary: string }[]) {
  const { client, control } = stack;
  const handles = pairIds.map((pairId) => client.workflow.getHandle<typeof hostPairWorkflow>(pairWorkflowId(pairId)));
  const states = () => Promise.all(handles.map((h) => h.query(stateQuery).catch(() => undefined)));
  for (const [i] of pairIds.entries()) await control.failHost(hosts[i]!.primary);
  // Each pair's failover has started once it is failing over or has failed over; the kill waits for all of them.
  for (const deadline = Date.now() + 60_000; ; await sleep(250)) {
    const now = await states();
    if (now.every((s) => s !== undefined && (s.phase === 'failing-over' || s.counters.failovers > 0))) break;
    if (Date.now() > deadline)
      throw new Error(
        `the failovers did not all start within 60 s of their primaries failing: ${now
          .map(
            (s, i) => `${pairIds[i]} ${s ? `${s.phase}, last action ${JSON.stringify(s.lastAction)}` : 'unreadable'}`,
          )
          .join('; ')}`,
      );
  }
  // Past the fence and the activation (1 s and 2 s at 1×), so the kill lands in the restores as well.
  await sleep(3_000);
  const { killedAt } = await stack.restartWorker();
  let finalStates: (PairState | undefined)[] = [];
  for (const deadline = Date.now() + ACTIONS_TIMEOUT_MS; Date.now() < deadline; await sleep(1_000)) {
    finalStates = await states();
    if (finalStates.every((s) => s !== undefined && s.phase !== 'failing-over')) break;
  }
  const waits: number[] = [];
  const unfinished: string[] = [];
  await inBatches(pairIds, 4, async (pairId, i) => {
    const state = finalStates[i];
    const childId = state?.lastAction?.kind === 'failover' ? state.lastAction.workflowId : undefined;
    if (!state || state.counters.failovers !== 1 || !childId) {
      unfinished.push(
        `${pairId}: phase ${state?.phase ?? 'unknown'}, last action ${JSON.stringify(state?.lastAction)}`,
      );
      return;
    }
    const [child, pair] = await Promise.all([
      client.workflow.getHandle(childId).fetchHistory(),
      handles[i]!.fetchHistory(),
    ]);
    waits.push(
      Math.max(longestWaitAfter(child.events ?? [], killedAt), longestWaitAfter(pair.events ?? [], killedAt)) / 1000,
    );
  });
  return { seconds: spread(waits), unfinished };
}
