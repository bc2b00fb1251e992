/**
 * bench:failover — how fast a pair replaces a dead primary, end to end and in real time: the shared Temporal dev
 * server, two worker processes (one watcher lane each), a simulator process of this run's own (at 1×, so the
 * provider's delays are real: fence 1 s, activate 2 s, restore 1 s + 2 s per GiB) and an InfluxDB database of its
 * own. Not a test.
 *
 * N pairs run with the product's default policy, `--batch` of them at a time (more would measure an overloaded
 * worker, see bench:scale); within a batch the primaries fail one after another (`--stagger-ms` apart, so failovers
 * overlap), and the batch is terminated once every one has failed over. Per failover, from the provider's record of
 * its health answers and from the pair's and the failover child's histories (server timestamps):
 *   - first missed check: the provider first answered a watcher's batched check with the primary unhealthy;
 *   - detected: the pair started its failover child (the failure is declared);
 *   - shadow active: the child's activateShadow completed (after the fence: the shadow serves at full size);
 *   - workloads restored: the child completed (promoted, every workload restored from the replica).
 * Each is reported from the first missed check and from the injection. Data lost per failover comes from the
 * simulator's data-loss records; split brain is a pair that the simulator's invariant check ever saw with two
 * unfenced primaries (checked every 250 ms through the run, less often on a fleet where a check takes the simulator
 * long, and at the end).
 *
 * `--running N` first starts N idle pairs (bench:scale's) beside them, so the failovers run in a fleet of that size,
 * and lets them settle before the first failure: until every idle pair has decided on a data step sampled after
 * the starts (so their enrolments are behind them), `--settle-seconds` (1,500) at most.
 * `--region-outage` then takes down the region of a third of those idle pairs' primaries at once, and reports how
 * long after the outage each affected pair's shadow was active (the simulator's record of its activations), and
 * how many were not within REGION_OUTAGE_TIMEOUT_MS.
 *
 * Usage: npm run bench:failover [-- --json] [--failures 50] [--batch 10] [--stagger-ms 1500] [--running 0]
 *        [--settle-seconds 1500] [--region-outage]
 *        npm run bench:failover -- --provider kubernetes [...]: the same on the Kubernetes test bed, beside
 *        Kubernetes alone (bench/failoverKubernetes.ts)
 */
import { parseArgs } from 'node:util';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { loadConfig } from '../src/config/load.js';
import { messageOf } from '../src/shared/failures.js';
import type { Capacity } from '../src/provider/types.js';
import { pairWorkflowId, stateQuery, type HostRef, type PairState } from '../src/shared/pair.js';
import { DEFAULT_DELAYS } from '../src/simulator/fleet.js';
import { LARGEST_AFTER_SEQ } from '../src/simulator/history.js';
import type { hostPairWorkflow } from '../workflows/hostPair.js';
import { WORKFLOW_TASK_TIMEOUT } from '../workflows/profiles.js';
import { runKubernetesFailover } from './failoverKubernetes.js';
import {
  activityTimelines,
  BENCH_PRIMARY_REGIONS,
  eventMs,
  metricsDelivery,
  processMeter,
  round,
  seedAndStartPairs,
  settleUntilDecided,
  type Settle,
  spread,
  startBenchStack,
  withRetries,
} from './harness.js';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean' },
    failures: { type: 'string' },
    'stagger-ms': { type: 'string' },
    batch: { type: 'string' },
    provider: { type: 'string' },
    'baseline-minutes': { type: 'string' },
    running: { type: 'string' },
    'region-outage': { type: 'boolean' },
    'settle-seconds': { type: 'string' },
  },
});
const PROVIDER = args.provider ?? 'simulator';
if (PROVIDER !== 'simulator' && PROVIDER !== 'kubernetes')
  throw new Error(`--provider must be simulator or kubernetes, not ${args.provider}`);
const FAILURES = Number(args.failures ?? (PROVIDER === 'kubernetes' ? 20 : 50));
const STAGGER_MS = Number(args['stagger-ms'] ?? 1500);
if (!Number.isInteger(FAILURES) || FAILURES < 1)
  throw new Error(`--failures must be a whole number ≥ 1, not ${args.failures}`);
if (!Number.isFinite(STAGGER_MS) || STAGGER_MS < 0)
  throw new Error(`--stagger-ms must be ≥ 0, not ${args['stagger-ms']}`);
/** Idle pairs running beside the failing ones, as in a fleet of that size (bench:scale's pairs). */
const RUNNING = Number(args.running ?? 0);
if (!Number.isInteger(RUNNING) || RUNNING < 0)
  throw new Error(`--running must be a whole number ≥ 0, not ${args.running}`);
/** How long the idle pairs may take to settle before the first failure: thousands of new pairs take minutes to enrol. */
const SETTLE_SECONDS = Number(args['settle-seconds'] ?? (RUNNING > 0 ? 1500 : 0));
if (!Number.isFinite(SETTLE_SECONDS) || SETTLE_SECONDS < 0)
  throw new Error(`--settle-seconds must be ≥ 0, not ${args['settle-seconds']}`);
const REGION_OUTAGE = args['region-outage'] ?? false;
if (REGION_OUTAGE && RUNNING < 3) throw new Error('--region-outage needs --running 3 or more: the pairs it takes down');
/** How long the affected pairs of a region outage may take to be active on their shadows. */
const REGION_OUTAGE_TIMEOUT_MS = 600_000;
const BATCH = Number(args.batch ?? 10);
if (!Number.isInteger(BATCH) || BATCH < 1) throw new Error(`--batch must be a whole number ≥ 1, not ${args.batch}`);
/** How long after a batch's last injection its failovers may take. */
const SETTLE_TIMEOUT_MS = 180_000;
const HOST_SIZE: Capacity = { cpuCores: 16, memoryGiB: 64, storageIops: 20_000, networkMbps: 10_000 };
const WORKLOAD_SIZE: Capacity = { cpuCores: 4, memoryGiB: 2, storageIops: 2_000, networkMbps: 1_000 };
const WORKLOADS_PER_PAIR = 2;
const log = (message: string) => {
  if (!args.json) console.log(message);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const loaded = loadConfig(undefined, {});
const { config } = loaded;
if (config.influx.version !== 1) throw new Error('bench:failover runs against the embedded InfluxDB 1.x');

interface BenchPair {
  pairId: string;
  primary: HostRef;
  shadow: HostRef;
  workloadIds: string[];
  injectedAt?: number;
}

if (PROVIDER === 'kubernetes') {
  const baselineMinutes = Number(args['baseline-minutes'] ?? 8);
  if (!(baselineMinutes > 0)) throw new Error(`--baseline-minutes must be above 0, not ${args['baseline-minutes']}`);
  await runKubernetesFailover(loaded, {
    json: args.json ?? false,
    failures: FAILURES,
    batch: BATCH,
    staggerMs: STAGGER_MS,
    baselineMinutes,
  });
  process.exit();
}

// Two worker processes, one watcher lane each, as docker-compose deploys them: one process serving everything
// starved its shard observers' workflow tasks at 5,000 idle pairs.
const stack = await startBenchStack({
  config,
  label: 'failover',
  speed: 1,
  metricsIntervalSeconds: 60,
  workerLanes: [['a'], ['b']],
});
try {
  const { provider, control, client, taskQueue } = stack;
  const { tag } = stack;

  // ---- the fleet: built with instant provider actions, then the real delays for the failovers ---------------------
  log(`bench:failover: building ${FAILURES} pairs on a simulator at 1× (task queue ${taskQueue})`);
  await control.setDelays(Object.fromEntries(Object.keys(DEFAULT_DELAYS).map((k) => [k, 0])));
  const pairs: BenchPair[] = [];
  for (let i = 0; i < FAILURES; i++) {
    const pairId = `bench-fo-${tag}-${i}`;
    const primary: HostRef = { hostId: `${pairId}-p`, region: 'us-east', zone: 'us-east-a', capacity: HOST_SIZE };
    const shadow: HostRef = { hostId: `${pairId}-s`, region: 'eu-west', zone: 'eu-west-b', capacity: HOST_SIZE };
    const key = (step: string) => `${pairId}:${step}`;
    await Promise.all([
      provider.provisionHost({ ...primary, role: 'primary', pairId, idempotencyKey: key('p') }),
      provider.provisionHost({
        ...shadow,
        role: 'shadow',
        pairId,
        allocationFraction: config.policy.shadowFraction,
        idempotencyKey: key('s'),
      }),
    ]).then((ops) => Promise.all(ops.map((op) => provider.waitForOperation(op, { pollIntervalMs: 20 }))));
    await provider.waitForOperation(
      await provider.startReplication({
        sourceHostId: primary.hostId,
        targetHostId: shadow.hostId,
        idempotencyKey: key('repl'),
      }),
      { pollIntervalMs: 20 },
    );
    const workloadIds: string[] = [];
    for (let w = 1; w <= WORKLOADS_PER_PAIR; w++) {
      const workloadId = `${pairId}-w${w}`;
      await control.createWorkload({
        workloadId,
        hostId: primary.hostId,
        requirements: WORKLOAD_SIZE,
        demand: { kind: 'synthetic', base: 0.4, noise: 0.02, seed: i * WORKLOADS_PER_PAIR + w },
      });
      workloadIds.push(workloadId);
    }
    pairs.push({ pairId, primary, shadow, workloadIds });
  }
  await control.setDelays(DEFAULT_DELAYS);
  let idlePairs: { primary: string; shadow: string }[] = [];
  let settle: Settle | undefined;
  if (RUNNING > 0) {
    const { seededSeconds, startSeconds, hosts } = await seedAndStartPairs(stack, {
      prefix: `bench-fo-${tag}-idle`,
      count: RUNNING,
      policy: config.policy,
    });
    idlePairs = hosts;
    const startedDataAt = Date.parse((await control.status()).now);
    log(
      `${RUNNING} idle pairs running beside them (seeded in ${round(seededSeconds)} s, started in ${round(startSeconds)} s); ` +
        `settling (${SETTLE_SECONDS} s at most)`,
    );
    settle = await settleUntilDecided(stack, { pairs: RUNNING, startedDataAt, maxSeconds: SETTLE_SECONDS });
    log(
      settle.settled
        ? `settled in ${settle.seconds} s: every idle pair has decided on a data step sampled after the starts`
        : `not settled after ${settle.seconds} s: ${settle.pairsDecidedSinceStart} of ${RUNNING} idle pairs have ` +
            `decided on a data step sampled after the starts; failing primaries anyway`,
    );
  }

  // ---- batches of pairs: each runs, loses its primaries one after another, and is terminated once failed over ------
  const policy = config.policy;
  const splitBrainPairs = new Set<string>();
  const ourPairs = new Set(pairs.map((p) => p.pairId));
  let invariantChecks = 0;
  /** Checks the simulator did not answer in time (it reads every host): the next one, or the final one, reads it. */
  let invariantChecksUnanswered = 0;
  let watching = true;
  // Every 250 ms, or less often on a fleet so large that a check would take more than a tenth of the simulator's time
  // (it reads every host): a split brain persists until fenced, and the final check below reads it too.
  const watcher = (async () => {
    while (watching) {
      const checkStarted = performance.now();
      try {
        const report = await provider.invariants();
        invariantChecks++;
        for (const v of report.violations)
          if (v.kind === 'two-unfenced-primaries' && ourPairs.has(v.pairId)) splitBrainPairs.add(v.pairId);
      } catch (error) {
        invariantChecksUnanswered++;
        log(`an invariant check went unanswered: ${messageOf(error)}`);
      }
      await sleep(Math.max(250, 9 * (performance.now() - checkStarted)));
    }
  })();
  // A query fails while a pair's workflow task is being retried (a starved worker lets one time out): not ready yet.
  const queryStates = (batch: BenchPair[]) =>
    Promise.all(
      batch.map((p) =>
        client.workflow
          .getHandle(pairWorkflowId(p.pairId))
          .query(stateQuery)
          .catch(() => undefined),
      ),
    );
  const states = new Map<string, PairState>();
  const firstMisses: Record<string, number> = {};
  for (let first = 0; first < pairs.length; first += BATCH) {
    const batch = pairs.slice(first, first + BATCH);
    stack.pairIds.push(...batch.map((p) => p.pairId));
    for (const p of batch) {
      // Started again after a refusal: a start that did take answers "already started" to the next try.
      await withRetries(
        () =>
          client.workflow
            .start<typeof hostPairWorkflow>('hostPairWorkflow', {
              taskQueue,
              workflowTaskTimeout: WORKFLOW_TASK_TIMEOUT,
              workflowId: pairWorkflowId(p.pairId),
              args: [{ pairId: p.pairId, primary: p.primary, shadow: p.shadow, policy }],
            })
            .catch((error: unknown) => {
              if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
            }),
        `starting ${p.pairId}`,
      );
    }
    for (const deadline = Date.now() + 120_000; ;) {
      const batchStates = await queryStates(batch);
      if (
        batchStates.every(
          (s) => s !== undefined && s.health.watch !== undefined && s.observation?.observer !== undefined,
        )
      )
        break;
      if (Date.now() > deadline) throw new Error('the pairs were not all enrolled with their watchers within 120 s');
      await sleep(1_000);
    }
    log(
      `pairs ${first + 1}-${first + batch.length} steady (health check every ${policy.healthCheckIntervalSeconds} s, ` +
        `failover after ${policy.failuresBeforeFailover} failed checks); failing one primary every ${STAGGER_MS} ms`,
    );
    for (const p of batch) {
      p.injectedAt = Date.now();
      await control.failHost(p.primary.hostId);
      await sleep(STAGGER_MS);
    }
    const settleDeadline = Date.now() + SETTLE_TIMEOUT_MS;
    for (;;) {
      const batchStates = await queryStates(batch);
      if (batchStates.every((s) => s?.phase === 'unprotected' && s.counters.failovers === 1)) break;
      if (Date.now() > settleDeadline) break;
      await sleep(1_000);
    }
    // The provider's own record of its answers: when each dead primary first answered unhealthy.
    Object.assign(firstMisses, (await control.healthCheckGaps()).failingSince);
    for (let attempt = 0; attempt < 10; attempt++) {
      const batchStates = await queryStates(batch);
      batch.forEach((p, i) => {
        const state = batchStates[i];
        if (state) states.set(p.pairId, state);
      });
      if (batchStates.every((s) => s !== undefined)) break;
      await sleep(2_000);
    }
    // Done with: terminated, so the next batch runs beside no more than itself.
    await Promise.all(
      batch.map((p) =>
        client.workflow
          .getHandle(pairWorkflowId(p.pairId))
          .terminate('failed over; benchmark moves on')
          .catch(() => undefined),
      ),
    );
  }
  const regionOutage = REGION_OUTAGE ? await measureRegionOutage(idlePairs) : undefined;
  watching = false;
  await watcher;
  const finalReport = await withRetries(() => provider.invariants(), 'the final invariant check');
  for (const v of finalReport.violations)
    if (v.kind === 'two-unfenced-primaries' && ourPairs.has(v.pairId)) splitBrainPairs.add(v.pairId);

  // ---- read the timings from the histories -----------------------------------------------------------------------
  const fromMiss = { detected: [] as number[], shadowActive: [] as number[], restored: [] as number[] };
  const fromInjection = { firstMiss: [] as number[], detected: [] as number[], shadowActive: [] as number[] };
  const restoredFromInjection: number[] = [];
  const unfinished: string[] = [];
  for (const p of pairs) {
    const state = states.get(p.pairId);
    if (!state) {
      unfinished.push(`${p.pairId}: its state could not be queried`);
      continue;
    }
    const childId = state.lastAction?.kind === 'failover' ? state.lastAction.workflowId : undefined;
    if (state.counters.failovers !== 1 || !childId) {
      unfinished.push(`${p.pairId}: phase ${state.phase}, last action ${JSON.stringify(state.lastAction)}`);
      continue;
    }
    const [pairHistory, childHistory] = await Promise.all([
      client.workflow.getHandle(pairWorkflowId(p.pairId)).fetchHistory(),
      client.workflow.getHandle(childId).fetchHistory(),
    ]);
    const pairEvents = pairHistory.events ?? [];
    const missedAt = firstMisses[p.primary.hostId];
    const firstMiss = missedAt !== undefined && missedAt >= p.injectedAt! ? missedAt : undefined;
    const detectedEvent = pairEvents.find(
      (e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId === childId,
    );
    const childEvents = childHistory.events ?? [];
    const activated = activityTimelines(childEvents).find((a) => a.activityType === 'activateShadow')?.completedAt;
    const completedEvent = childEvents.find((e) => e.workflowExecutionCompletedEventAttributes);
    if (firstMiss === undefined || !detectedEvent || activated === undefined || !completedEvent) {
      unfinished.push(`${p.pairId}: its histories lack a missed check, the failover start, activation or completion`);
      continue;
    }
    const seconds = (ms: number) => ms / 1000;
    fromMiss.detected.push(seconds(eventMs(detectedEvent) - firstMiss));
    fromMiss.shadowActive.push(seconds(activated - firstMiss));
    fromMiss.restored.push(seconds(eventMs(completedEvent) - firstMiss));
    fromInjection.firstMiss.push(seconds(firstMiss - p.injectedAt!));
    fromInjection.detected.push(seconds(eventMs(detectedEvent) - p.injectedAt!));
    fromInjection.shadowActive.push(seconds(activated - p.injectedAt!));
    restoredFromInjection.push(seconds(eventMs(completedEvent) - p.injectedAt!));
  }
  const dataLoss = finalReport.dataLoss.filter((d) => d.pairId !== undefined && ourPairs.has(d.pairId));
  const status = await control.status();
  const writesPerSecond = status.replication.writesPerSecond;
  const otherViolations = finalReport.violations.filter(
    (v) => v.kind !== 'two-unfenced-primaries' && 'hostId' in v && String(v.hostId).startsWith(`bench-fo-${tag}`),
  );
  const shadowActiveP99 = spread(fromMiss.shadowActive).p99;
  const result = {
    pairsRunning: RUNNING + BATCH,
    failures: pairs.length,
    shadowActiveSeconds: spread(fromMiss.shadowActive),
    staggerMs: STAGGER_MS,
    pairsRunningAtOnce: BATCH,
    ...(settle ? { settle } : {}),
    policy: {
      healthCheckIntervalSeconds: policy.healthCheckIntervalSeconds,
      failuresBeforeFailover: policy.failuresBeforeFailover,
    },
    provider: { speed: 1, delays: DEFAULT_DELAYS, workloadsPerPair: WORKLOADS_PER_PAIR, workloadMemoryGiB: 2 },
    completed: fromMiss.shadowActive.length,
    unfinished,
    secondsFromFirstMissedCheck: {
      detected: spread(fromMiss.detected),
      shadowActive: spread(fromMiss.shadowActive),
      workloadsRestored: spread(fromMiss.restored),
    },
    secondsFromInjection: {
      firstMissedCheck: spread(fromInjection.firstMiss),
      detected: spread(fromInjection.detected),
      shadowActive: spread(fromInjection.shadowActive),
      workloadsRestored: spread(restoredFromInjection),
    },
    dataLossPerFailover: {
      versions: spread(
        dataLoss.map((d) => d.lostVersions),
        0,
      ),
      secondsOfWrites: spread(
        dataLoss.map((d) => d.lostVersions / writesPerSecond),
        1,
      ),
      records: dataLoss.length,
    },
    splitBrainPairs: splitBrainPairs.size,
    invariantChecks,
    invariantChecksUnanswered,
    otherInvariantViolations: otherViolations.map((v) => v.message),
    goal: { shadowActiveWithinSecondsP99: 5, p99: shadowActiveP99, met: shadowActiveP99 <= 5 },
    ...(regionOutage ? { regionOutage } : {}),
    // What the simulator's Telegraf-like writer could not hand InfluxDB over the whole run: forecasts and decisions
    // read those metrics, so a run that dropped many measured a fleet that saw less than a real one would.
    simulatorMetrics: metricsDelivery((await control.status()).metrics),
  };
  if (args.json) console.log(JSON.stringify(result, null, 2));
  else {
    const row = (name: string, s: ReturnType<typeof spread>) =>
      `  ${name.padEnd(44)} p50 ${String(s.p50).padStart(6)} s   p99 ${String(s.p99).padStart(6)} s   max ${String(s.max).padStart(6)} s`;
    log(`${result.completed}/${pairs.length} failovers completed`);
    log('from the first missed health check:');
    log(row('detected (failover started)', result.secondsFromFirstMissedCheck.detected));
    log(row('shadow active (fenced, then activated)', result.secondsFromFirstMissedCheck.shadowActive));
    log(row('workloads restored (failover complete)', result.secondsFromFirstMissedCheck.workloadsRestored));
    log('from the failure injection:');
    log(row('first missed health check', result.secondsFromInjection.firstMissedCheck));
    log(row('detected', result.secondsFromInjection.detected));
    log(row('shadow active', result.secondsFromInjection.shadowActive));
    log(row('workloads restored', result.secondsFromInjection.workloadsRestored));
    log(
      `data lost per failover: p50 ${result.dataLossPerFailover.versions.p50} versions ` +
        `(${result.dataLossPerFailover.secondsOfWrites.p50} s of writes), max ${result.dataLossPerFailover.versions.max}; ` +
        `${dataLoss.length} records`,
    );
    log(
      `split brain: ${result.splitBrainPairs} pairs (${invariantChecks} invariant checks, ${invariantChecksUnanswered} unanswered); other violations: ${otherViolations.length}`,
    );
    log(
      `goal: shadow active within 5 s of the first missed check at p99: ${shadowActiveP99} s — ${result.goal.met ? 'met' : 'NOT met'}`,
    );
    if (regionOutage) {
      log(
        `region outage (${regionOutage.region}, ${regionOutage.affectedPairs} of ${RUNNING} idle pairs): ` +
          `${regionOutage.activated} active on their shadows within ${REGION_OUTAGE_TIMEOUT_MS / 1000} s`,
      );
      log(row('shadow active, from the outage', regionOutage.shadowActiveSeconds));
      log(`  active by each minute: ${regionOutage.activeByMinute.join(', ')}`);
      log(`  cores meanwhile: ${JSON.stringify(regionOutage.cores)}`);
    }
    const m = result.simulatorMetrics;
    log(
      `simulator metrics: ${m.pointsWritten} points written, ${m.pointsDropped} dropped, ${m.writeErrors} write errors`,
    );
    for (const u of unfinished) log(`unfinished: ${u}`);
  }
  if (unfinished.length > 0) process.exitCode = 1;
} finally {
  await stack.close();
}

/**
 * Takes down the first primary region and waits until every idle pair whose primary it held has its shadow active,
 * reading the activations from the simulator's history (simulated clock, at 1× the wall's pace) as they happen: the
 * history is bounded, so it is read on every few seconds rather than once at the end.
 */
async function measureRegionOutage(pairs: { primary: string; shadow: string }[]) {
  const { control } = stack;
  // Asked for what follows the largest sequence number it takes, the history answers its newest one.
  let lastSeq = (await control.historyPage(LARGEST_AFTER_SEQ)).lastSeq;
  const outageAtMs = Date.parse((await control.status()).now);
  const region = BENCH_PRIMARY_REGIONS[0];
  const { affectedHostIds } = await control.failRegion(region);
  const down = new Set(affectedHostIds);
  const affectedShadows = new Set(pairs.filter((p) => down.has(p.primary)).map((p) => p.shadow));
  log(`region ${region} down: ${affectedShadows.size} idle pairs lost their primaries at once`);
  // Where the outage's work goes: the cores each process spends until the last shadow is active (or time is up).
  const usage = processMeter(config, stack).start();
  const activatedAtMs = new Map<string, number>();
  let unanswered = 0;
  for (const deadline = Date.now() + REGION_OUTAGE_TIMEOUT_MS; activatedAtMs.size < affectedShadows.size;) {
    // The simulator is the busiest process in an outage: a read it cannot answer now is read again next round.
    const events = await control.history(lastSeq).catch(() => undefined);
    if (!events) unanswered += 1;
    for (const event of events ?? [])
      if (
        event.kind === 'operation' &&
        event.operation === 'activateShadow' &&
        event.status === 'succeeded' &&
        event.hostId !== undefined &&
        affectedShadows.has(event.hostId) &&
        !activatedAtMs.has(event.hostId)
      )
        activatedAtMs.set(event.hostId, event.atMs);
    lastSeq = events?.at(-1)?.seq ?? lastSeq;
    if (Date.now() > deadline) break;
    await sleep(2_000);
  }
  const { cores } = usage.finish();
  const seconds = [...activatedAtMs.values()].map((atMs) => (atMs - outageAtMs) / 1000);
  // Shadows active by each minute after the outage: a steady rate is a queue drained at one process's pace.
  const activeByMinute = Array.from(
    { length: Math.ceil(Math.max(0, ...seconds) / 60) },
    (_, minute) => seconds.filter((s) => s <= (minute + 1) * 60).length,
  );
  return {
    region,
    cores,
    activeByMinute,
    historyReadsUnanswered: unanswered,
    affectedPairs: affectedShadows.size,
    activated: activatedAtMs.size,
    notActiveWithinSeconds: {
      seconds: REGION_OUTAGE_TIMEOUT_MS / 1000,
      pairs: affectedShadows.size - activatedAtMs.size,
    },
    // Over the pairs that were: notActiveWithinSeconds says how many were not, which these figures then flatter.
    shadowActiveSeconds: spread(seconds),
  };
}
