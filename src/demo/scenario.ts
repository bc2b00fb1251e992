/**
 * What both demos share (the simulator's, `npm start`, and the Kubernetes bed's): starting the fleet, firing the
 * scenario's steps on a clock, and printing what the pairs do as they do it.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PolicyConfig } from '../config/schema.js';
import type { Topology } from '../policy/types.js';
import type { Capacity, DemandProfile, FleetProvider, SyntheticDemandProfile } from '../provider/types.js';
import {
  FLEET_WORKFLOW_ID,
  pairWorkflowId,
  pauseSignal,
  stateQuery,
  swapScheduleId,
  type ActionRecord,
  type PairState,
} from '../shared/pair.js';
import { ROLLOUT_WORKFLOW_ID, rolloutStateQuery } from '../shared/rollout.js';
import { TASK_QUEUE } from '../shared/temporal.js';
import { listPairs } from '../cli/pairCommands.js';
import type { MetricsStore } from '../metrics/types.js';
import { pairDemandWindow } from '../metrics/utilisation.js';
import { scaleOutLead } from './leadTime.js';
import type { fleetWorkflow } from '../../workflows/fleet.js';
import type { rolloutWorkflow } from '../../workflows/rollout.js';
import type { RetrainModelsResult } from '../../workflows/retrainModels.js';

export type Say = (line: string) => void;

/** The demos' pairs, by role in the scenario. */
export const DEMO_ROLES = {
  surge: 'us-east-1',
  paused: 'eu-west-2',
  failing: 'ap-south-2',
  swapping: 'eu-west-1',
} as const;

export const DEMO_HOST: Capacity = { cpuCores: 16, memoryGiB: 64, storageIops: 20_000, networkMbps: 10_000 };
/** Each primary runs three of these. */
export const DEMO_WORKLOAD: Capacity = { cpuCores: 4, memoryGiB: 8, storageIops: 2_000, networkMbps: 1_000 };
/**
 * Hours of history written before the fleet starts, for the retrain: the trainer fits Prophet per host on two days
 * at least, besides its validation fifth. On 2.5 days Prophet and seasonal-naive validated within 10% of each other
 * on the surge host, so which one served it changed from run to run; on 3.5 days (three cycles to fit) Prophet
 * validated about 20% better in each of three runs.
 */
export const HISTORY_HOURS = 86;

/** The surge host's daily cycle (demand as a multiple of each workload's reservation): about 96% CPU at its peak. */
export const SURGE_DEMAND = { base: 0.75, amplitude: 0.5 };

export function surgeDemand(peakHourUtc: number, seed: number): SyntheticDemandProfile {
  return {
    kind: 'synthetic',
    base: SURGE_DEMAND.base,
    daily: { amplitude: SURGE_DEMAND.amplitude, peakHourUtc },
    noise: 0.02,
    seed,
  };
}

/** Every other host: a daily cycle between 30% and 60% of the reservation, peaking at staggered hours. */
export function backgroundDemand(seed: number): DemandProfile {
  return { kind: 'synthetic', base: 0.45, daily: { amplitude: 0.15, peakHourUtc: 14 + (seed % 6) }, noise: 0.02, seed };
}

/** A link into the Temporal Web UI's workflow list, filtered by a visibility query. */
export function webUiQuery(webUi: string, namespace: string): (query: string) => string {
  return (query) => `${webUi}/namespaces/${namespace}/workflows?query=${encodeURIComponent(query)}`;
}

export async function pairState(client: Client, pairId: string): Promise<PairState | undefined> {
  return client.workflow
    .getHandle(pairWorkflowId(pairId))
    .query(stateQuery)
    .catch(() => undefined);
}

/**
 * Starts the fleet workflow, or finds it running; true when it was already running (its scenario has run). A fleet
 * already running beside a fleet the demo has just created belongs to another run (the other provider's demo, or a
 * provider whose state was deleted): the demo stops rather than steer pairs it did not make.
 */
export async function startFleet(
  client: Client,
  args: { topology: Topology; policy: PolicyConfig; seededNow: boolean; say: Say },
): Promise<boolean> {
  try {
    await client.workflow.start<typeof fleetWorkflow>('fleetWorkflow', {
      taskQueue: TASK_QUEUE,
      workflowId: FLEET_WORKFLOW_ID,
      args: [{ topology: args.topology, policy: args.policy }],
    });
    args.say('started fleetWorkflow: placing a shadow for every primary in another region');
    return false;
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
  }
  if (args.seededNow) {
    throw new Error(
      `workflow ${FLEET_WORKFLOW_ID} already runs a fleet this demo did not create (another provider's demo?); ` +
        '`bin/understudy stack reset` deletes it, then start the demo again',
    );
  }
  args.say('fleetWorkflow is already running (an earlier run of the demo): watching it; its scenario has already run');
  args.say('  `bin/understudy stack reset`, then the same command, runs the scenario again from the beginning');
  return true;
}

/**
 * Fires the retrain schedule on the seeded history and waits for the new version to serve, as the daily 03:00 run
 * would: Prophet per host where it validates best, the global LSTM, the selection per series.
 */
export async function retrainOnHistory(client: Client, scheduleId: string, say: Say): Promise<void> {
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

/**
 * Prints each pair's actions once, as they happen: every one new since the last look (a failover and the fleet's
 * re-pairing can both land between two looks), only the newest at the first look at a pair.
 */
function actionReporter(say: Say): (pairId: string, state: PairState | undefined) => void {
  const seen = new Map<string, Set<string>>();
  return (pairId, state) => {
    if (!state) return;
    const keyOf = (action: ActionRecord) => `${action.kind}:${action.at}:${action.outcome}`;
    const known = seen.get(pairId);
    const fresh = known
      ? state.recentActions.filter((action) => !known.has(keyOf(action)))
      : state.recentActions.slice(-1);
    seen.set(pairId, new Set(state.recentActions.map(keyOf)));
    for (const action of fresh) say(`pair ${pairId}: ${action.kind} ${action.outcome} — ${action.detail}`);
  };
}

/** How long the demo looks for the surge pair's crossing around its scale-out (minutes of its clock). */
const LEAD_LOOKBACK_MINUTES = 30;
const LEAD_LOOKAHEAD_MINUTES = 90;

export interface SurgeLead {
  pairId: string;
  metrics: MetricsStore;
  provider: Pick<FleetProvider, 'describeFleet'>;
  /** "simulated" on the simulator's faster clock, "" on the wall clock. */
  minutes: string;
}

/**
 * Once the surge pair has scaled out and its demand has crossed the threshold (or stayed under it for the
 * lookahead), prints how long before the crossing the shadow was out, on the pair's whole demand as InfluxDB holds
 * it, and the model that forecast it. Returns true once it has.
 */
async function reportSurgeLead(state: PairState | undefined, surge: SurgeLead, say: Say): Promise<boolean> {
  const scaleOut = state?.recentActions.find((a) => a.kind === 'scale-out' && a.outcome === 'succeeded');
  if (!state || !scaleOut || !state.shadow) return false;
  const fleet = await surge.provider.describeFleet({ hostIds: [state.primary.hostId, state.shadow.hostId] });
  const primary = fleet.hosts.find((h) => h.id === state.primary.hostId);
  const shadow = fleet.hosts.find((h) => h.id === state.shadow?.hostId);
  if (!primary || !shadow) return false;
  const windows = await surge.metrics.readUtilisation({
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
  const minutes = surge.minutes === '' ? 'minutes' : `${surge.minutes} minutes`;
  const pairId = state.pairId;
  if (lead.kind === 'no-crossing') {
    say(
      `pair ${pairId}: its demand stayed under ${threshold}% for ${lead.withinMinutes} min after the scale-out (forecast: ${model})`,
    );
  } else if (lead.leadMinutes >= 0) {
    say(
      `pair ${pairId}: the shadow was out ${lead.leadMinutes} ${minutes} before the pair's demand crossed ${threshold}% (forecast: ${model})`,
    );
  } else {
    say(
      `pair ${pairId}: the shadow came ${-lead.leadMinutes} ${minutes} after the pair's demand crossed ${threshold}% (forecast: ${model})`,
    );
  }
  return true;
}

export interface ScenarioStep {
  /** Seconds after the scenario's clock starts. */
  afterSeconds: number;
  run: () => Promise<void>;
}

/** Something the demo reports once, when it has happened: returns true then. */
export type Watch = () => Promise<boolean>;

export interface Scenario {
  client: Client;
  pairIds: string[];
  steps: ScenarioStep[];
  /** Reports to make once each; a step may add more. */
  watches: Set<Watch>;
  /** The steps' clock starts once this is true (polled with the pairs); at once without it. */
  startsWhen?: () => Promise<boolean>;
  /** The surge pair's lead, reported once it has scaled out and crossed. */
  surge?: SurgeLead;
  say: Say;
  signal: AbortSignal;
}

/**
 * Runs until `signal`: fires each step at its time, prints every pair's newest action, the watches' reports, and
 * every 30 s how many pairs are in each phase.
 */
export async function playScenario(scenario: Scenario): Promise<void> {
  const { client, say, signal } = scenario;
  const report = actionReporter(say);
  const pending = [...scenario.steps].sort((a, b) => a.afterSeconds - b.afterSeconds);
  let leadReported = scenario.surge === undefined;
  let started = scenario.startsWhen === undefined ? Date.now() : undefined;
  let lastTable = 0;
  while (!signal.aborted) {
    if (started === undefined && (await scenario.startsWhen!().catch(() => false))) started = Date.now();
    while (started !== undefined && pending.length > 0 && (Date.now() - started) / 1000 >= pending[0]!.afterSeconds) {
      await pending
        .shift()!
        .run()
        .catch((error: Error) => say(`demo step failed: ${error.message}`));
    }
    for (const id of scenario.pairIds) {
      const state = await pairState(client, id);
      report(id, state);
      if (id === scenario.surge?.pairId && !leadReported)
        leadReported = await reportSurgeLead(state, scenario.surge, say).catch(() => false);
    }
    for (const watch of [...scenario.watches]) {
      if (await watch().catch(() => false)) scenario.watches.delete(watch);
    }
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

/** The scenario's moves both demos make, each announced with where to watch it in the Web UI. */
export interface DemoMoves {
  client: Client;
  webUi: string;
  namespace: string;
  say: Say;
}

export async function pauseForChangeFreeze({ client, webUi, namespace, say }: DemoMoves): Promise<void> {
  await client.workflow
    .getHandle(pairWorkflowId(DEMO_ROLES.paused))
    .signal(pauseSignal, { reason: 'demo: change freeze' });
  say(`paused pair ${DEMO_ROLES.paused}: it keeps mirroring and forecasting, takes no action but failover`);
  say(`  paused pairs: ${webUiQuery(webUi, namespace)('Paused = true')}`);
}

export async function fireOffPeakSwap({ client, webUi, namespace, say }: DemoMoves): Promise<void> {
  await client.schedule.getHandle(swapScheduleId(DEMO_ROLES.swapping)).trigger();
  say(
    `fired the off-peak swap schedule of pair ${DEMO_ROLES.swapping} (normally 03:00 UTC): a role swap with pre-checks`,
  );
  say(`  schedules: ${webUi}/namespaces/${namespace}/schedules`);
}

/**
 * Starts a rolling upgrade of every pair to image app:2.0 through swaps, `maxPairs` at a time, and watches for its
 * end. The paused pair and a scaled-out one are skipped untouched while the others carry on.
 */
export async function startRollingUpgrade(
  { client, webUi, namespace, say }: DemoMoves,
  maxPairs: number,
  watches: Set<Watch>,
  how = '',
): Promise<void> {
  await client.workflow.start<typeof rolloutWorkflow>('rolloutWorkflow', {
    taskQueue: TASK_QUEUE,
    workflowId: ROLLOUT_WORKFLOW_ID,
    args: [
      {
        rolloutId: 'demo-app-2.0',
        desired: { image: 'app:2.0' },
        fleetWorkflowId: FLEET_WORKFLOW_ID,
        budget: { maxPairs },
        windows: [{ cron: '* * * * *', durationMinutes: 1 }],
      },
    ],
  });
  say(
    `started a rolling upgrade to image app:2.0, ${maxPairs} pairs at a time through swaps${how} (\`understudy rollout status\`)`,
  );
  say(`  ${webUiQuery(webUi, namespace)("WorkflowType = 'rolloutWorkflow'")}`);
  watches.add(() => reportRolloutEnd(client, say));
}
