/**
 * One round of the fault campaign: an empty simulator, a fresh fleet of three pairs (one primary per region, the
 * shadows placed and started by `fleetWorkflow`), one fault from the plan aimed at an action in flight, then the
 * wait for every pair to be steady again with every invariant holding, within a stated bound.
 */
import {
  primaryFailedUpdate,
  primaryFailedUpdateId,
  watcherWorkflowIds,
  type PrimaryFailureReport,
} from '../shared/healthWatch.js';
import {
  forceSwapSignal,
  pairWorkflowId,
  pauseSignal,
  resumeSignal,
  stateQuery,
  swapNowUpdate,
  swapScheduleId,
} from '../shared/pair.js';
import type { PairState } from '../shared/pair.js';
import { configSchema } from '../config/schema.js';
import { InfluxV1MetricsStore } from '../metrics/influxV1Store.js';
import { WHOLE_RECORD } from '../metrics/types.js';
import { threeRegionTopology } from '../demo/topology.js';
import type { Capacity } from '../provider/types.js';
import type { Topology } from '../policy/types.js';
import {
  checkFleet,
  checkNoActionDuringOutage,
  checkNoOperationDuringOutage,
  checkSteady,
  type ChaosViolation,
  type OutageActions,
  type PairView,
} from './invariants.js';
import { API_ERROR_RATE, type RoundSpec } from './plan.js';
import { pause, type ChaosStack } from './stack.js';

/** After the fault is lifted (worker back, server back, region recovered…), every pair is steady within this. */
export const STEADY_BOUND_MS = 90_000;
export const PAIRS_PER_ROUND = 3;
export const REGIONS_PER_ROUND = 3;

/** Fast loops, so a round takes seconds: a health check every second, a tick every two. */
export const CHAOS_POLICY = configSchema.parse({
  policy: { tickSeconds: 2, healthCheckIntervalSeconds: 1, failuresBeforeFailover: 2, cooldownMinutes: 0 },
}).policy;

const HOST_SIZE: Capacity = { cpuCores: 16, memoryGiB: 64, storageIops: 20_000, networkMbps: 10_000 };
const WORKLOAD_SIZE: Capacity = { cpuCores: 2, memoryGiB: 8, storageIops: 1_000, networkMbps: 500 };
const WORKLOADS_PER_PRIMARY = 2;
/** A migration of 8 GiB then takes 81 simulated seconds, about 1.4 real: long enough to strike in the middle. */
const MIGRATE_SECONDS_PER_GIB = 10;
/** Simulated hours of metrics an InfluxDB-outage round builds first, so its pairs forecast and decide before. */
const OUTAGE_ROUND_HISTORY_HOURS = 3;
const SETUP_TIMEOUT_MS = 90_000;
const IN_FLIGHT_TIMEOUT_MS = 30_000;
const POLL_MS = 200;
/**
 * The messages round's pairs continue as new every second wake, so of a burst of messages one in two lands in a
 * run's last iteration, and some arrive while that run's continue-as-new is being completed.
 */
const MESSAGES_ROUND_ITERATIONS_PER_RUN = 2;
/** Pause and resume signals in the burst (alternating, ending on resume). */
const MESSAGES_ROUND_SIGNALS = 12;

export interface RoundResult {
  round: number;
  fault: RoundSpec['fault'];
  /** What broke: invariants seen broken at any moment (running twice, two primaries) or still broken at the end. */
  violations: ChaosViolation[];
  /** From the fault being lifted to every pair steady with every invariant holding; absent when not reached. */
  timeToSteadyMs?: number;
  /** What the drill observed (e.g. the phase the kill hit), for the log. */
  notes: string[];
  /** A round whose fleet could not be built, or whose drill found nothing in flight to strike. */
  error?: string;
  durationMs: number;
}

interface RoundFleet {
  tag: string;
  topology: Topology;
  fleetWorkflowId: string;
  pairIds: string[];
  workloadIds: string[];
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

async function until<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
  pollMs = POLL_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await pause(pollMs);
  }
}

export function pairView(state: PairState): PairView {
  return {
    pairId: state.pairId,
    phase: state.phase,
    primaryHostId: state.primary.hostId,
    ...(state.shadow ? { shadowHostId: state.shadow.hostId } : {}),
  };
}

async function buildFleet(stack: ChaosStack, spec: RoundSpec, runTag: string): Promise<RoundFleet> {
  await stack.resetSimulator();
  await stack.control.setDelays({ migrateSecondsPerGiB: MIGRATE_SECONDS_PER_GIB });
  const tag = `${runTag}-r${spec.round}`;
  const topology = threeRegionTopology({
    perRegion: PAIRS_PER_ROUND / REGIONS_PER_ROUND,
    hostCapacity: HOST_SIZE,
    shadowHostsPerRegion: 3,
    hostId: (region) => `${region}-${tag}`,
  });
  const workloadIds: string[] = [];
  await Promise.all(
    topology.primaries.map(async (primary) => {
      const { provider, control } = stack;
      await provider.waitForOperation(
        await provider.provisionHost({
          hostId: primary.hostId,
          region: primary.region,
          zone: primary.zone,
          capacity: primary.capacity,
          role: 'primary',
          idempotencyKey: `create:${primary.hostId}`,
        }),
      );
      await provider.waitForOperation(
        await provider.syncConfiguration({
          hostId: primary.hostId,
          desired: { image: 'app:1.0' },
          idempotencyKey: `configure:${primary.hostId}`,
        }),
      );
      for (let n = 1; n <= WORKLOADS_PER_PRIMARY; n++) {
        const workloadId = `${primary.hostId}-w${n}`;
        await control.createWorkload({
          workloadId,
          hostId: primary.hostId,
          requirements: WORKLOAD_SIZE,
          demand: { kind: 'synthetic', base: 0.4, noise: 0.02, seed: n },
        });
        workloadIds.push(workloadId);
      }
    }),
  );
  if (spec.fault === 'influx-outage') await stack.control.advance(OUTAGE_ROUND_HISTORY_HOURS * 3600);

  const fleetWorkflowId = `fleet-${tag}`;
  await stack.client.workflow.start('fleetWorkflow', {
    taskQueue: stack.taskQueue,
    workflowId: fleetWorkflowId,
    args: [
      {
        topology,
        policy: CHAOS_POLICY,
        ...(spec.fault === 'messages-at-continue-as-new'
          ? { pairIterationsPerRun: MESSAGES_ROUND_ITERATIONS_PER_RUN }
          : {}),
      },
    ],
  });
  const pairIds = topology.primaries.map((p) => p.hostId).sort();
  const fleet: RoundFleet = { tag, topology, fleetWorkflowId, pairIds, workloadIds: workloadIds.sort() };
  await until(
    async () => {
      const states = await pairStates(stack, fleet);
      return states.every((s) => s && s.phase === 'steady' && s.shadow && s.observation?.observer) ? true : undefined;
    },
    SETUP_TIMEOUT_MS,
    `round ${spec.round}: the fleet's ${PAIRS_PER_ROUND} pairs steady`,
    500,
  );
  return fleet;
}

/** The decisions the round's pairs' observers recorded, read from the campaign's InfluxDB. */
async function recordedDecisions(stack: ChaosStack, fleet: RoundFleet, start: Date, end: Date) {
  const { influx } = stack.config;
  if (influx.version !== 1) throw new Error('the fault campaign runs on InfluxDB 1.x');
  const metrics = new InfluxV1MetricsStore({ url: influx.url, database: influx.database });
  return metrics.readDecisions({ pairIds: fleet.pairIds, start, end });
}

const pairStates = (stack: ChaosStack, fleet: RoundFleet): Promise<(PairState | undefined)[]> =>
  Promise.all(
    fleet.pairIds.map((id) =>
      stack.client.workflow
        .getHandle(pairWorkflowId(id))
        .query(stateQuery)
        .catch(() => undefined),
    ),
  );

async function tearDown(stack: ChaosStack, fleet: RoundFleet): Promise<void> {
  const terminate = (workflowId: string) =>
    stack.client.workflow
      .getHandle(workflowId)
      .terminate('fault campaign round finished')
      .catch(() => undefined);
  await terminate(fleet.fleetWorkflowId);
  await Promise.all(fleet.pairIds.map((id) => terminate(pairWorkflowId(id))));
  await Promise.all(
    fleet.pairIds.map((id) =>
      stack.client.schedule
        .getHandle(swapScheduleId(id))
        .delete()
        .catch(() => undefined),
    ),
  );
}

/**
 * Watches the fleet while the fault and the recovery run: a workload on two hosts or two unfenced primaries for
 * one pair break the invariants at any moment, not only at the end (a lost workload is only judged at the end:
 * while a host is down its workloads are down until a failover restores them).
 */
function watchFleet(stack: ChaosStack, fleet: RoundFleet): { stop(): Promise<ChaosViolation[]> } {
  const seen = new Map<string, ChaosViolation>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const snapshot = await stack.provider.describeFleet().catch(() => undefined);
      if (snapshot) {
        for (const v of checkFleet(snapshot, fleet.workloadIds)) {
          if (v.kind !== 'workload-lost') seen.set(v.message, v);
        }
      }
      await pause(500);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return [...seen.values()];
    },
  };
}

interface DrillOutcome {
  faultLiftedAt: number;
  /** The InfluxDB outage on the provider's clock (simulated ms), checked against its history once all settled. */
  outage?: { startMs: number; endMs: number };
  notes: string[];
  violations: ChaosViolation[];
}

async function forceSwapOf(stack: ChaosStack, pairId: string, reason: string): Promise<void> {
  await stack.client.workflow.getHandle(pairWorkflowId(pairId)).signal(forceSwapSignal, { reason });
}

async function phaseOf(stack: ChaosStack, pairId: string): Promise<PairState['phase'] | undefined> {
  const state = await stack.client.workflow
    .getHandle(pairWorkflowId(pairId))
    .query(stateQuery)
    .catch(() => undefined);
  return state?.phase;
}

async function waitForPhase(stack: ChaosStack, pairId: string, phase: PairState['phase']): Promise<void> {
  await until(
    async () => ((await phaseOf(stack, pairId)) === phase ? true : undefined),
    IN_FLIGHT_TIMEOUT_MS,
    `pair ${pairId} ${phase}`,
    50,
  );
}

/** The pair's state once it has failed over more often than `failoversBefore` (its replacement shadow may be ready). */
async function failedOver(stack: ChaosStack, pairId: string, failoversBefore: number): Promise<PairState> {
  return until(
    async () => {
      const state = await stack.client.workflow
        .getHandle(pairWorkflowId(pairId))
        .query(stateQuery)
        .catch(() => undefined);
      return state && state.counters.failovers > failoversBefore ? state : undefined;
    },
    IN_FLIGHT_TIMEOUT_MS,
    `pair ${pairId} failed over`,
    100,
  );
}

/** Kills the worker `strikeDelayMs` after the moment, keeps it down `downtimeMs`, and brings another up. */
async function killWorker(stack: ChaosStack, spec: RoundSpec, pairId: string, notes: string[]): Promise<void> {
  await pause(spec.strikeDelayMs);
  const phase = await phaseOf(stack, pairId);
  await stack.worker.kill();
  notes.push(`worker killed (SIGKILL) with pair ${pairId} ${phase ?? 'unknown'}`);
  await pause(spec.downtimeMs);
  await stack.worker.start();
}

async function runDrill(stack: ChaosStack, spec: RoundSpec, fleet: RoundFleet): Promise<DrillOutcome> {
  const notes: string[] = [];
  const violations: ChaosViolation[] = [];
  let outage: DrillOutcome['outage'];
  const target = fleet.pairIds[spec.targetPair % fleet.pairIds.length]!;
  const targetPrimary = (await stack.client.workflow.getHandle(pairWorkflowId(target)).query(stateQuery)).primary
    .hostId;
  switch (spec.fault) {
    case 'worker-kill-mid-failover': {
      await stack.control.failHost(targetPrimary);
      await waitForPhase(stack, target, 'failing-over');
      await killWorker(stack, spec, target, notes);
      break;
    }
    case 'worker-kill-mid-migration': {
      await forceSwapOf(stack, target, 'fault campaign: kill mid-migration');
      const migrating = await until(
        async () =>
          (await stack.provider.describeFleet()).workloads.find(
            (w) => w.migratingTo !== undefined && fleet.workloadIds.includes(w.id),
          )?.id,
        IN_FLIGHT_TIMEOUT_MS,
        `a migration of pair ${target} in flight`,
        50,
      );
      notes.push(`migration of ${migrating} in flight`);
      await killWorker(stack, spec, target, notes);
      break;
    }
    case 'worker-kill-mid-swap': {
      await forceSwapOf(stack, target, 'fault campaign: kill mid-swap');
      await waitForPhase(stack, target, 'swapping');
      await killWorker(stack, spec, target, notes);
      break;
    }
    case 'temporal-restart-mid-swap': {
      await forceSwapOf(stack, target, 'fault campaign: Temporal restart mid-swap');
      await waitForPhase(stack, target, 'swapping');
      await pause(spec.strikeDelayMs);
      await stack.stopTemporal();
      notes.push(`Temporal dev server stopped with pair ${target} swapping (SQLite kept)`);
      await pause(spec.downtimeMs);
      await stack.startTemporal();
      break;
    }
    case 'influx-outage': {
      // Pairs must be deciding before the outage, or "no action without data" would say nothing.
      await until(
        async () => {
          const decided = new Set(
            (await recordedDecisions(stack, fleet, WHOLE_RECORD.start, WHOLE_RECORD.end)).map((d) => d.pairId),
          );
          return fleet.pairIds.every((id) => decided.has(id)) ? true : undefined;
        },
        SETUP_TIMEOUT_MS,
        'every pair deciding on its forecast before the outage',
        500,
      );
      const before = await pairStates(stack, fleet);
      await stack.stopInflux();
      const startMs = Date.parse((await stack.control.status()).now);
      await pause(spec.faultDurationMs);
      const after = await pairStates(stack, fleet);
      outage = { startMs, endMs: Date.parse((await stack.control.status()).now) };
      await stack.startInflux();
      const recorded: OutageActions[] = fleet.pairIds.map((pairId, i) => ({
        pairId,
        before: before[i]?.recentActions ?? [],
        after: after[i]?.recentActions ?? [],
      }));
      violations.push(...checkNoActionDuringOutage(recorded));
      // Without data the observers forecast nothing, so they decide (and record) nothing for the outage.
      const decidedDuring = await recordedDecisions(stack, fleet, new Date(outage.startMs), new Date(outage.endMs));
      notes.push(
        `InfluxDB down ${spec.faultDurationMs / 1000} s; decisions recorded for that window: ${decidedDuring.length}`,
      );
      break;
    }
    case 'slow-failing-api': {
      await stack.control.setApiFaults({ apiLatencyMs: spec.apiLatencyMs, apiErrorRate: API_ERROR_RATE });
      await forceSwapOf(stack, target, 'fault campaign: swap through a slow, failing provider API');
      await pause(spec.faultDurationMs);
      await stack.control.setApiFaults({ apiLatencyMs: 0, apiErrorRate: 0 });
      notes.push(`API +${spec.apiLatencyMs} ms, ${API_ERROR_RATE * 100}% 503s for ${spec.faultDurationMs / 1000} s`);
      break;
    }
    case 'region-failure': {
      const region = fleet.topology.regions[spec.targetRegion % fleet.topology.regions.length]!.name;
      const { affectedHostIds } = await stack.control.failRegion(region);
      await pause(spec.faultDurationMs);
      await stack.control.recoverRegion(region);
      notes.push(`region ${region} down ${spec.faultDurationMs / 1000} s (${affectedHostIds.length} hosts)`);
      break;
    }
    case 'watcher-lane-dies': {
      // One lane of the target's shard is terminated as its primary dies: the other lane must see it alone.
      const lanes = watcherWorkflowIds(stack.taskQueue, target);
      const lane = lanes[spec.targetRegion % lanes.length]!;
      const before = await stack.client.workflow.getHandle(pairWorkflowId(target)).query(stateQuery);
      await stack.control.failHost(targetPrimary);
      await pause(spec.strikeDelayMs);
      await stack.client.workflow
        .getHandle(lane)
        .terminate('fault campaign: a watcher lane dies')
        .catch(() => undefined);
      notes.push(`${targetPrimary} failed; watcher ${lane} terminated ${spec.strikeDelayMs} ms later`);
      await failedOver(stack, target, before.counters.failovers);
      break;
    }
    case 'duplicate-failure-reports': {
      // Beside the watchers' own reports, two more of the same failure and one stale, delivered at once: one failover.
      await stack.control.failHost(targetPrimary);
      const providerNow = Date.parse((await stack.control.status()).now);
      const state = await stack.client.workflow.getHandle(pairWorkflowId(target)).query(stateQuery);
      const report: PrimaryFailureReport = {
        primaryHostId: targetPrimary,
        generation: state.counters.failovers + state.counters.swaps,
        failedChecksAt: Array.from({ length: state.policy.failuresBeforeFailover }, () => providerNow),
        status: 'failed',
        reportedAt: Date.now(),
        watcher: 'fault campaign',
      };
      const pair = stack.client.workflow.getHandle(pairWorkflowId(target));
      const sent = await Promise.allSettled([
        pair.executeUpdate(primaryFailedUpdate, { args: [report], updateId: primaryFailedUpdateId(report) }),
        pair.executeUpdate(primaryFailedUpdate, { args: [report], updateId: primaryFailedUpdateId(report) }),
        pair.executeUpdate(primaryFailedUpdate, { args: [{ ...report, reportedAt: Date.now() - 3_600_000 }] }),
      ]);
      notes.push(`${targetPrimary} failed; reports sent by hand: ${sent.map((r) => r.status).join(', ')}`);
      const after = await failedOver(stack, target, state.counters.failovers);
      if (after.counters.failovers !== state.counters.failovers + 1)
        violations.push({
          kind: 'double-action',
          message: `pair ${target} failed over ${after.counters.failovers - state.counters.failovers} times for one failure`,
        });
      break;
    }
    case 'messages-at-continue-as-new': {
      violations.push(...(await messagesAcrossContinueAsNew(stack, target, targetPrimary, notes)));
      break;
    }
    case 'host-flap': {
      await stack.control.flapHost(targetPrimary, spec.flapPeriodSeconds);
      await pause(spec.faultDurationMs);
      await stack.control.stopFlapping(targetPrimary).catch(() => undefined);
      notes.push(
        `${targetPrimary} flapped every ${spec.flapPeriodSeconds} simulated s for ${spec.faultDurationMs / 1000} s`,
      );
      break;
    }
  }
  return { faultLiftedAt: Date.now(), notes, violations, ...(outage ? { outage } : {}) };
}

/**
 * A swap asked for by update, then a burst of pause and resume signals while it runs, into a pair that continues as
 * new every second wake; then the same update id again, after several runs; then a failure report for the host that
 * was primary before the swap. Nothing may be lost or done twice: one swap, the same answer to the repeated id, the
 * last signal's pause state, and the stale report refused with its reason.
 */
async function messagesAcrossContinueAsNew(
  stack: ChaosStack,
  pairId: string,
  formerPrimary: string,
  notes: string[],
): Promise<ChaosViolation[]> {
  const violations: ChaosViolation[] = [];
  const pair = stack.client.workflow.getHandle(pairWorkflowId(pairId));
  const before = await pair.query(stateQuery);
  const updateId = `fault-campaign-swap-${pairId}-${before.counters.runs}`;
  const request = { reason: 'fault campaign: swap across continue-as-new' };
  const swapping = await pair.startUpdate(swapNowUpdate, { args: [request], updateId, waitForStage: 'ACCEPTED' });
  for (let i = 0; i < MESSAGES_ROUND_SIGNALS; i++)
    await (i % 2 === 0 ? pair.signal(pauseSignal, { reason: 'fault campaign burst' }) : pair.signal(resumeSignal));
  const answer = await swapping.result();
  // The pair continues as new on its own in the burst; one more wake after the swap makes sure of a run of its own.
  await pair.signal(resumeSignal);
  const repeated = await until(
    async () => {
      const state = await pair.query(stateQuery);
      return state.counters.runs > before.counters.runs + 1 && state.phase === 'steady'
        ? await pair.executeUpdate(swapNowUpdate, { args: [request], updateId })
        : undefined;
    },
    IN_FLIGHT_TIMEOUT_MS,
    `pair ${pairId} steady in a later run after the swap`,
  );
  const after = await pair.query(stateQuery);
  notes.push(
    `swapNow answered ${answer.swapped ? 'swapped' : `not swapped (${answer.reason})`}; ` +
      `${MESSAGES_ROUND_SIGNALS} signals; runs ${before.counters.runs} → ${after.counters.runs}`,
  );
  if (JSON.stringify(repeated) !== JSON.stringify(answer))
    violations.push({
      kind: 'message-lost',
      message: `pair ${pairId}: update ${updateId} repeated in a later run answered ${JSON.stringify(repeated)}, first ${JSON.stringify(answer)}`,
    });
  const swaps = after.counters.swaps - before.counters.swaps;
  if (swaps !== (answer.swapped ? 1 : 0))
    violations.push({ kind: 'double-action', message: `pair ${pairId} swapped ${swaps} times for one swapNow` });
  if (after.paused || !after.failoverEnabled)
    violations.push({
      kind: 'message-lost',
      message: `pair ${pairId} is ${after.paused ? 'paused' : 'holding failover'} although the last signal resumed it`,
    });
  if (answer.swapped) {
    // The host that was primary before the swap, reported failed with the generation it had then: refused.
    const stale: PrimaryFailureReport = {
      primaryHostId: formerPrimary,
      generation: before.counters.failovers + before.counters.swaps,
      failedChecksAt: Array.from({ length: after.policy.failuresBeforeFailover }, () => Date.now()),
      status: 'failed',
      reportedAt: Date.now(),
      watcher: 'fault campaign',
    };
    const refused = await pair.executeUpdate(primaryFailedUpdate, { args: [stale] }).then(
      () => undefined,
      // The validator's reason is the cause of the update's failure.
      (error: unknown) => errorText((error as { cause?: unknown }).cause ?? error),
    );
    notes.push(`a report for the former primary ${formerPrimary}: ${refused ?? 'accepted'}`);
    const latest = await pair.query(stateQuery);
    if (refused === undefined || latest.counters.failovers !== before.counters.failovers)
      violations.push({
        kind: 'double-action',
        message: `pair ${pairId} took a failure report for ${formerPrimary}, no longer its primary`,
      });
  }
  return violations;
}

/** Every invariant and the steady state, as they stand now; empty when the round is over and well. */
async function standing(stack: ChaosStack, fleet: RoundFleet): Promise<ChaosViolation[]> {
  const [snapshot, report, states] = await Promise.all([
    stack.provider.describeFleet(),
    stack.provider.invariants(),
    pairStates(stack, fleet),
  ]);
  const views = states.map((s, i): PairView =>
    s ? pairView(s) : { pairId: fleet.pairIds[i]!, phase: 'unprotected', primaryHostId: '?' },
  );
  return [
    ...checkFleet(snapshot, fleet.workloadIds),
    ...checkSteady(snapshot, views),
    ...report.violations.map((v): ChaosViolation => ({ kind: 'simulator-invariant', message: v.message })),
  ];
}

/** The pairs' actions in this round, counted by kind and outcome ("failover succeeded ×1"), for the log. */
async function actionsTaken(stack: ChaosStack, fleet: RoundFleet): Promise<string> {
  const counts = new Map<string, number>();
  for (const state of await pairStates(stack, fleet)) {
    for (const a of state?.recentActions ?? []) {
      const key = `${a.kind} ${a.outcome}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return [...counts].map(([key, n]) => `${key} ×${n}`).join(', ') || 'none';
}

export async function runRound(stack: ChaosStack, spec: RoundSpec, runTag: string): Promise<RoundResult> {
  const startedAt = Date.now();
  const result = (r: Omit<RoundResult, 'round' | 'fault' | 'durationMs'>): RoundResult => ({
    round: spec.round,
    fault: spec.fault,
    ...r,
    durationMs: Date.now() - startedAt,
  });
  if (!stack.worker.running) await stack.worker.start();
  let fleet: RoundFleet;
  try {
    fleet = await buildFleet(stack, spec, runTag);
  } catch (error) {
    return result({ violations: [], notes: [], error: `setting up the round failed: ${errorText(error)}` });
  }
  const watcher = watchFleet(stack, fleet);
  try {
    let drill: DrillOutcome;
    try {
      drill = await runDrill(stack, spec, fleet);
    } catch (error) {
      // Whatever the drill broke is still lifted, so the next round starts clean.
      await stack.control.setApiFaults({ apiLatencyMs: 0, apiErrorRate: 0 }).catch(() => undefined);
      if (!stack.worker.running) await stack.worker.start().catch(() => undefined);
      await stack.startTemporal().catch(() => undefined);
      await stack.startInflux().catch(() => undefined);
      return result({ violations: await watcher.stop(), notes: [], error: `drill failed: ${errorText(error)}` });
    }
    let last: ChaosViolation[] = [];
    let timeToSteadyMs: number | undefined;
    const deadline = drill.faultLiftedAt + STEADY_BOUND_MS;
    while (Date.now() <= deadline) {
      last = await standing(stack, fleet).catch((error: unknown) => [
        { kind: 'pair-not-steady' as const, message: `could not read the fleet: ${errorText(error)}` },
      ]);
      if (last.length === 0) {
        timeToSteadyMs = Date.now() - drill.faultLiftedAt;
        break;
      }
      await pause(500);
    }
    const transient = await watcher.stop();
    if (drill.outage) {
      // Read once everything settled, so an operation started in the outage and finished after it shows too.
      drill.violations.push(...checkNoOperationDuringOutage(await stack.control.history(), drill.outage));
    }
    drill.notes.push(`actions: ${await actionsTaken(stack, fleet)}`);
    return result({
      violations: [...drill.violations, ...transient, ...(timeToSteadyMs === undefined ? last : [])],
      ...(timeToSteadyMs !== undefined ? { timeToSteadyMs } : {}),
      notes: drill.notes,
    });
  } finally {
    await watcher.stop();
    await tearDown(stack, fleet);
  }
}
