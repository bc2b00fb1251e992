/**
 * The demo on the embedded default (`npm start`): twelve primaries in three regions on the fleet simulator, a fleet
 * that gives each a shadow in another region, and a short scenario an operator can follow in the terminal and in the
 * Temporal Web UI — a paused pair, a demand surge the forecast sees coming, a host failure that fails over, and an
 * off-peak swap fired from its schedule, then a rolling upgrade of the fleet through swaps.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadedConfig } from '../config/load.js';
import { configSchema, type PolicyConfig } from '../config/schema.js';
import type { Topology } from '../policy/types.js';
import { THREE_REGIONS, threeRegionTopology } from './topology.js';
import { HttpFleetProvider, ProviderError } from '../provider/client.js';
import type { Capacity, DemandProfile } from '../provider/types.js';
import {
  FLEET_WORKFLOW_ID,
  pairWorkflowId,
  pauseSignal,
  stateQuery,
  swapScheduleId,
  type PairState,
} from '../shared/pair.js';
import { TASK_QUEUE } from '../shared/temporal.js';
import { SimulatorControl } from '../simulator/control.js';
import { listPairs } from '../cli/pairCommands.js';
import { metricsStoreFor } from '../metrics/store.js';
import type { MetricsStore } from '../metrics/types.js';
import { pairDemandWindow } from '../metrics/utilisation.js';
import { scaleOutLead } from './leadTime.js';
import type { fleetWorkflow } from '../../workflows/fleet.js';
import type { rolloutWorkflow } from '../../workflows/rollout.js';
import { ROLLOUT_WORKFLOW_ID, rolloutStateQuery } from '../shared/rollout.js';
import type { RetrainModelsResult } from '../../workflows/retrainModels.js';

const HOST: Capacity = { cpuCores: 16, memoryGiB: 64, storageIops: 20_000, networkMbps: 10_000 };
const WORKLOAD: Capacity = { cpuCores: 4, memoryGiB: 8, storageIops: 2_000, networkMbps: 1_000 };
/**
 * Simulated hours of history written before the fleet starts, for the retrain: the trainer fits Prophet per host on
 * two days at least, besides its validation fifth. On 2.5 days Prophet and seasonal-naive validated within 10% of
 * each other on the surge host, so which one served it changed from run to run; on 3.5 days (three cycles to fit)
 * Prophet validated about 20% better in each of three runs.
 */
const HISTORY_HOURS = 86;
/** How long the demo waits for the simulator to finish writing that history to InfluxDB. */
const HISTORY_WRITE_TIMEOUT_MS = 300_000;

/** The demo's pairs, by role in the scenario. */
export const DEMO_ROLES = {
  surge: 'us-east-1',
  paused: 'eu-west-2',
  failing: 'ap-south-2',
  swapping: 'eu-west-1',
} as const;

/** Fast loops so that things happen while someone watches (the simulator runs at 60×). */
export const DEMO_POLICY: PolicyConfig = configSchema.parse({
  policy: {
    tickSeconds: 5,
    healthCheckIntervalSeconds: 2,
    failuresBeforeFailover: 3,
    cooldownMinutes: 15,
    scaleBackAfterMinutes: 30,
  },
}).policy;

export function demoTopology(): Topology {
  return threeRegionTopology({
    perRegion: 4,
    hostCapacity: HOST,
    shadowHostsPerRegion: 6,
    hostId: (region, n) => `${region}-${n}`,
  });
}

/**
 * Hours from the end of the seeded history (when the fleet starts) to the surge host's daily peak (~96% CPU). Its
 * cosine cycle crosses 80% about 3.6 hours before the peak, so the crossing comes about 2.4 hours after the fleet
 * starts; the fleet takes 75–90 simulated minutes (as many real seconds) to place its shadows and start its pairs on
 * this 2-core machine, and the pair then sees the crossing coming within its 1-hour horizon.
 */
const SURGE_PEAK_HOURS_AHEAD = 6;

/** Demand as a multiple of the workload's reservation; the surge host's daily peak comes in a few hours. */
function demandFor(hostId: string, index: number, simulatedNow: number): DemandProfile {
  if (hostId === DEMO_ROLES.surge) {
    const now = new Date(simulatedNow);
    const peakHour = (now.getUTCHours() + now.getUTCMinutes() / 60 + HISTORY_HOURS + SURGE_PEAK_HOURS_AHEAD) % 24;
    return {
      kind: 'synthetic',
      base: 0.75,
      daily: { amplitude: 0.5, peakHourUtc: peakHour },
      noise: 0.02,
      seed: index,
    };
  }
  return {
    kind: 'synthetic',
    base: 0.45,
    daily: { amplitude: 0.15, peakHourUtc: 14 + (index % 6) },
    noise: 0.02,
    seed: index,
  };
}

type Say = (line: string) => void;

async function ignoreConflict(work: Promise<unknown>): Promise<void> {
  try {
    await work;
  } catch (error) {
    if (!(error instanceof ProviderError && error.status === 409)) throw error;
  }
}

/** Creates the demo's primaries and workloads; false when an earlier run had (a second run finds them). */
async function seedFleet(
  control: SimulatorControl,
  provider: HttpFleetProvider,
  loaded: LoadedConfig,
  say: Say,
): Promise<boolean> {
  const fleet = await provider.describeFleet();
  const topology = demoTopology();
  if (topology.primaries.every((p) => fleet.hosts.some((h) => h.id === p.hostId))) return false;
  say(
    `creating ${topology.primaries.length} primaries in ${THREE_REGIONS.join(', ')} on the fleet simulator (${loaded.config.provider.url})`,
  );
  const now = Date.parse(fleet.now);
  await Promise.all(
    topology.primaries.map(async (p, i) => {
      const op = await provider.provisionHost({
        hostId: p.hostId,
        region: p.region,
        zone: p.zone,
        capacity: p.capacity,
        role: 'primary',
        idempotencyKey: `demo:create:${p.hostId}`,
      });
      await provider.waitForOperation(op);
      await provider.waitForOperation(
        await provider.syncConfiguration({
          hostId: p.hostId,
          desired: { image: 'shop:4.2', workers: 16 },
          idempotencyKey: `demo:cfg:${p.hostId}`,
        }),
      );
      for (const w of [1, 2, 3]) {
        await ignoreConflict(
          control.createWorkload({
            workloadId: `${p.hostId}-w${w}`,
            hostId: p.hostId,
            requirements: WORKLOAD,
            demand: demandFor(p.hostId, i * 3 + w, now),
          }),
        );
      }
    }),
  );
  return true;
}

/** Writes the demo's history: the simulator's clock jumps, then the demo waits until InfluxDB holds all of it. */
async function writeHistory(control: SimulatorControl, loaded: LoadedConfig, say: Say): Promise<void> {
  say(`writing ${HISTORY_HOURS} simulated hours of utilisation history to InfluxDB (the forecasters learn from it)…`);
  const { now: seededTo } = await control.advance(HISTORY_HOURS * 3600);
  // The simulator writes metrics behind its clock: the trainer and the first forecasts need all of them.
  const metrics = metricsStoreFor(loaded);
  const ids = demoTopology().primaries.map((p) => p.hostId);
  const deadline = Date.now() + HISTORY_WRITE_TIMEOUT_MS;
  for (;;) {
    const newest = await metrics.latestSampleTime(ids).catch(() => undefined);
    if (newest && Date.parse(seededTo) - newest.getTime() < 5 * 60_000) break;
    if (Date.now() > deadline) {
      say(`the history is still being written after ${HISTORY_WRITE_TIMEOUT_MS / 1000} s; going on`);
      break;
    }
    await sleep(1_000);
  }
}

/**
 * Fires the retrain schedule on the seeded history and waits for the new version to serve, as the daily 03:00 run
 * would: Prophet per host where it validates best, the global LSTM, the selection per series.
 */
async function retrainOnHistory(client: Client, scheduleId: string, say: Say): Promise<void> {
  say(`retraining the models on that history now (schedule ${scheduleId}, normally daily at 03:00 UTC)…`);
  const began = Date.now();
  const schedule = client.schedule.getHandle(scheduleId);
  const before = (await schedule.describe()).info.recentActions.length;
  await schedule.trigger();
  let workflowId: string | undefined;
  while (workflowId === undefined) {
    await sleep(500);
    const actions = (await schedule.describe()).info.recentActions;
    const action = actions.length > before ? actions[actions.length - 1]?.action : undefined;
    if (action?.type === 'startWorkflow') workflowId = action.workflow.workflowId;
  }
  const result = (await client.workflow.getHandle(workflowId).result()) as RetrainModelsResult;
  const chosen = new Map<string, number>();
  for (const model of Object.values(result.trained.selected)) chosen.set(model, (chosen.get(model) ?? 0) + 1);
  say(
    `trained version ${result.trained.version} on ${result.trained.series} series in ${Math.round((Date.now() - began) / 1000)} s; ` +
      `chosen per series: ${[...chosen].map(([model, n]) => `${model} ${n}`).join(', ')}`,
  );
}

async function pairState(client: Client, pairId: string): Promise<PairState | undefined> {
  return client.workflow
    .getHandle(pairWorkflowId(pairId))
    .query(stateQuery)
    .catch(() => undefined);
}

/** Once the demo's rollout has ended, prints how it ended and each pair's outcome; true when it has. */
async function reportRolloutEnd(client: Client, say: Say): Promise<boolean> {
  const state = await client.workflow
    .getHandle(ROLLOUT_WORKFLOW_ID)
    .query(rolloutStateQuery)
    .catch(() => undefined);
  if (!state || !['completed', 'halted', 'aborted'].includes(state.phase)) return false;
  const count = (step: string) => state.pairs.filter((p) => p.step === step).length;
  say(
    `rollout ${state.rolloutId} ${state.phase}: ${count('done')} pairs upgraded through swaps, ` +
      `${count('rolled-back')} rolled back, ${count('skipped')} skipped, at most ${state.maxConcurrent} changing at once`,
  );
  if (state.haltReason) say(`  halted: ${state.haltReason}`);
  for (const p of state.pairs.filter((x) => x.step !== 'done')) say(`  ${p.pairId}: ${p.detail ?? p.step}`);
  return true;
}

/** Prints each pair's newest action once, as it happens. */
function actionReporter(say: Say): (pairId: string, state: PairState | undefined) => void {
  const seen = new Map<string, string>();
  return (pairId, state) => {
    const action = state?.lastAction;
    if (!action) return;
    const key = `${action.kind}:${action.at}:${action.outcome}`;
    if (seen.get(pairId) === key) return;
    seen.set(pairId, key);
    say(`pair ${pairId}: ${action.kind} ${action.outcome} — ${action.detail}`);
  };
}

/** How long the demo looks for the surge pair's crossing around its scale-out (simulated minutes). */
const LEAD_LOOKBACK_MINUTES = 30;
const LEAD_LOOKAHEAD_MINUTES = 90;

/**
 * Once the surge pair has scaled out and its demand has crossed the threshold (or stayed under it for the
 * lookahead), prints how long before the crossing the shadow was out, on the pair's whole demand as InfluxDB holds
 * it, and the model that forecast it. Returns true once it has.
 */
async function reportSurgeLead(
  state: PairState | undefined,
  metrics: MetricsStore,
  provider: HttpFleetProvider,
  say: Say,
): Promise<boolean> {
  const scaleOut = state?.recentActions.find((a) => a.kind === 'scale-out' && a.outcome === 'succeeded');
  if (!state || !scaleOut || !state.shadow) return false;
  const fleet = await provider.describeFleet({ hostIds: [state.primary.hostId, state.shadow.hostId] });
  const primary = fleet.hosts.find((h) => h.id === state.primary.hostId);
  const shadow = fleet.hosts.find((h) => h.id === state.shadow?.hostId);
  if (!primary || !shadow) return false;
  const windows = await metrics.readUtilisation({
    hosts: [{ hostId: primary.id }, { hostId: shadow.id }],
    resources: ['cpu'],
    start: new Date(scaleOut.at - LEAD_LOOKBACK_MINUTES * 60_000),
    end: new Date(scaleOut.at + (LEAD_LOOKAHEAD_MINUTES + 5) * 60_000),
    stepSeconds: 300,
  });
  const primaryWindow = windows.find((w) => w.hostId === primary.id);
  if (!primaryWindow) return false;
  const ratio = (shadow.capacity.cpuCores * shadow.allocationFraction) / primary.capacity.cpuCores;
  const demand = pairDemandWindow(
    primaryWindow,
    windows.find((w) => w.hostId === shadow.id),
    ratio,
  );
  const threshold = state.policy.thresholdPercent;
  const lead = scaleOutLead(demand, scaleOut.at, {
    thresholdPercent: threshold,
    lookbackMinutes: LEAD_LOOKBACK_MINUTES,
    lookaheadMinutes: LEAD_LOOKAHEAD_MINUTES,
  });
  if (lead.kind === 'pending') return false;
  const model = /\[forecast: ([^\]]+)\]/.exec(scaleOut.detail)?.[1] ?? 'an unnamed model';
  const pairId = state.pairId;
  if (lead.kind === 'no-crossing') {
    say(
      `pair ${pairId}: its demand stayed under ${threshold}% for ${lead.withinMinutes} min after the scale-out (forecast: ${model})`,
    );
  } else if (lead.leadMinutes >= 0) {
    say(
      `pair ${pairId}: the shadow was out ${lead.leadMinutes} simulated minutes before the pair's demand crossed ${threshold}% (forecast: ${model})`,
    );
  } else {
    say(
      `pair ${pairId}: the shadow came ${-lead.leadMinutes} simulated minutes after the pair's demand crossed ${threshold}% (forecast: ${model})`,
    );
  }
  return true;
}

/** `retrainScheduleId`: the retrain schedule `understudy up` created, absent when retraining could not start. */
export async function runDemo(
  loaded: LoadedConfig,
  client: Client,
  webUi: string,
  say: Say,
  signal: AbortSignal,
  retrainScheduleId?: string,
): Promise<void> {
  const access = { url: loaded.config.provider.url, token: loaded.secrets.providerToken };
  const control = new SimulatorControl(access);
  if (await seedFleet(control, new HttpFleetProvider(access), loaded, say)) {
    // The scenario's clock runs at real speed while the history is written and the models train, so its timing
    // holds.
    const { speed } = await control.status();
    await control.setSpeed(1);
    try {
      await writeHistory(control, loaded, say);
      if (retrainScheduleId)
        await retrainOnHistory(client, retrainScheduleId, say).catch((error: Error) =>
          say(`retraining failed, the pairs forecast with the shipped models and the baselines: ${error.message}`),
        );
      else say('no retraining (see above): the pairs forecast with the shipped models and the baselines');
    } finally {
      await control.setSpeed(speed);
    }
  }
  const topology = demoTopology();
  const namespace = loaded.config.temporal.namespace;
  const ui = (query: string) => `${webUi}/namespaces/${namespace}/workflows?query=${encodeURIComponent(query)}`;

  let resumed = false;
  try {
    await client.workflow.start<typeof fleetWorkflow>('fleetWorkflow', {
      taskQueue: TASK_QUEUE,
      workflowId: FLEET_WORKFLOW_ID,
      args: [{ topology, policy: DEMO_POLICY }],
    });
    say('started fleetWorkflow: placing a shadow for every primary in another region');
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    // Its scenario ran when it started: failing the same host again, or a second rollout, would only be refused.
    resumed = true;
    say('fleetWorkflow is already running (an earlier `npm start`): watching it; its scenario has already run');
    say('  `bin/understudy stack reset`, then `npm start`, runs the scenario again from the beginning');
  }
  say(`  every pair in the Web UI: ${ui("WorkflowType = 'hostPairWorkflow'")}`);

  const report = actionReporter(say);
  const metrics = metricsStoreFor(loaded);
  const provider = new HttpFleetProvider(access);
  let leadReported = resumed;
  let rolloutStarted = false;
  let rolloutReported = false;
  const ids = topology.primaries.map((p) => p.hostId);
  const started = Date.now();
  const steps: { afterSeconds: number; done: boolean; run: () => Promise<void> }[] = [
    {
      afterSeconds: 20,
      done: false,
      run: async () => {
        await client.workflow
          .getHandle(pairWorkflowId(DEMO_ROLES.paused))
          .signal(pauseSignal, { reason: 'demo: change freeze' });
        say(`paused pair ${DEMO_ROLES.paused}: it keeps mirroring and forecasting, takes no action but failover`);
        say(`  paused pairs: ${ui('Paused = true')}`);
      },
    },
    {
      afterSeconds: 0,
      done: false,
      run: () => {
        say(
          `pair ${DEMO_ROLES.surge}'s demand climbs toward a peak in ${SURGE_PEAK_HOURS_AHEAD} simulated hours; ` +
            'watch it scale out before it crosses 80%',
        );
        say(`  ${ui(`PairId = '${DEMO_ROLES.surge}'`)}`);
        return Promise.resolve();
      },
    },
    {
      afterSeconds: 70,
      done: false,
      run: async () => {
        await control.failHost(DEMO_ROLES.failing);
        say(`host ${DEMO_ROLES.failing} failed (simulator fault): its pair will fence it and fail over to the shadow`);
        say(`  pairs failing over or unprotected: ${ui("PairPhase = 'failing-over' OR PairPhase = 'unprotected'")}`);
      },
    },
    {
      afterSeconds: 110,
      done: false,
      run: async () => {
        await client.schedule.getHandle(swapScheduleId(DEMO_ROLES.swapping)).trigger();
        say(
          `fired the off-peak swap schedule of pair ${DEMO_ROLES.swapping} (normally 03:00 UTC): a role swap with pre-checks`,
        );
        say(`  schedules: ${webUi}/namespaces/${namespace}/schedules`);
      },
    },
    {
      afterSeconds: 180,
      done: false,
      run: async () => {
        // The paused pair and the scaled-out one are skipped untouched while the others carry on.
        await client.workflow.start<typeof rolloutWorkflow>('rolloutWorkflow', {
          taskQueue: TASK_QUEUE,
          workflowId: ROLLOUT_WORKFLOW_ID,
          args: [
            {
              rolloutId: 'demo-app-2.0',
              desired: { image: 'app:2.0' },
              fleetWorkflowId: FLEET_WORKFLOW_ID,
              budget: { maxPairs: 3 },
              windows: [{ cron: '* * * * *', durationMinutes: 1 }],
            },
          ],
        });
        say(
          'started a rolling upgrade to image app:2.0, 3 pairs at a time through swaps (`understudy rollout status`)',
        );
        say(`  ${ui("WorkflowType = 'rolloutWorkflow'")}`);
        rolloutStarted = true;
      },
    },
  ];

  if (resumed) for (const step of steps) step.done = true;

  let lastTable = 0;
  while (!signal.aborted) {
    const elapsed = (Date.now() - started) / 1000;
    for (const step of steps) {
      if (!step.done && elapsed >= step.afterSeconds) {
        step.done = true;
        await step.run().catch((error: Error) => say(`demo step failed: ${error.message}`));
      }
    }
    for (const id of ids) {
      const state = await pairState(client, id);
      report(id, state);
      if (id === DEMO_ROLES.surge && !leadReported)
        leadReported = await reportSurgeLead(state, metrics, provider, say).catch(() => false);
    }
    if (rolloutStarted && !rolloutReported) rolloutReported = await reportRolloutEnd(client, say);
    if (Date.now() - lastTable > 30_000) {
      lastTable = Date.now();
      const pairs = await listPairs(client).catch(() => []);
      const byPhase = new Map<string, number>();
      for (const p of pairs) byPhase.set(p.phase, (byPhase.get(p.phase) ?? 0) + 1);
      say(`${pairs.length} pairs: ${[...byPhase].map(([phase, n]) => `${n} ${phase}`).join(', ') || 'starting…'}`);
    }
    await sleep(2_000, undefined, { signal }).catch(() => undefined);
  }
}
