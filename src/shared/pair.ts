/**
 * The host pair's public surface, defined once: its workflow id, phases, state (the `state` query's answer), the
 * operator's signals, queries and updates with their input types, and the fleet's messages. The worker, the
 * `understudy` CLI and the tests all import this module; so do the workflows (no Node built-ins here).
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { PolicyConfig } from '../config/schema.js';
import type { Capacity } from '../provider/types.js';
import type { ForecastSummary, RegionSpec, ScalingAction } from '../policy/types.js';
import type { PrimaryFailureReport, WatchedPrimary } from './healthWatch.js';
import type { ObservedPair } from './observation.js';
import type { PairsUnderRollout } from './rollout.js';

/** Readable workflow ids: the Web UI and `temporal workflow …` find a pair by its id. */
export const pairWorkflowId = (pairId: string): string => `pair:${pairId}`;
export const FLEET_WORKFLOW_ID = 'fleet';
/** The Temporal Schedule that asks a pair for its off-peak role swap. */
export const swapScheduleId = (pairId: string): string => `swap:${pairId}`;

/**
 * - `steady`: shadow on standby, mirroring; `scaled-out`: the shadow is active and carries moved workloads;
 * - `scaling-out`, `scaling-back`, `failing-over`, `swapping`: a child workflow is running that action;
 * - `unprotected`: the shadow was consumed (a failover) and its replacement is not ready yet.
 */
export const PAIR_PHASES = [
  'steady',
  'scaling-out',
  'scaled-out',
  'scaling-back',
  'failing-over',
  'swapping',
  'unprotected',
] as const;
export type PairPhase = (typeof PAIR_PHASES)[number];

/** A host as the pair knows it: enough to act on it and to label it in the Web UI. */
export interface HostRef {
  hostId: string;
  region: string;
  zone: string;
  capacity: Capacity;
}

/** Per-pair policy: the configuration's policy section, changeable at run time through the `setPolicy` update. */
export type PairPolicy = PolicyConfig;

export interface ActionRecord {
  kind: 'scale-out' | 'scale-up' | 'provision-primary' | 'scale-back' | 'failover' | 'swap' | 'config-sync';
  /** Data time (provider clock, epoch ms) the action was decided. */
  at: number;
  outcome: 'started' | 'succeeded' | 'failed' | 'rolled-back' | 'recorded-only';
  detail: string;
  /** For scaling actions: the primary's measured utilisation of the binding resource when it was decided. */
  actualPercent?: number;
  /** Child workflow that ran it, when one did. */
  workflowId?: string;
}

export interface PairState {
  pairId: string;
  primary: HostRef;
  shadow?: HostRef;
  phase: PairPhase;
  paused: boolean;
  /** When false, even automatic failover waits for the operator (a `failover` update still works). */
  failoverEnabled: boolean;
  policy: PairPolicy;
  /**
   * The forecast of the last order the pair took from its observer, and that decision (also in forecast-only mode).
   * Every decision, "none" included, is in the metrics store's `understudy_decision` measurement.
   */
  lastForecast?: ForecastSummary;
  lastDecision?: {
    action: ScalingAction['kind'];
    reason: string;
    executed: boolean;
    at: number;
    /** The primary's measured utilisation of the binding resource at the decision, beside the forecast peak. */
    actualPercent?: number;
  };
  lastAction?: ActionRecord;
  /** Recent actions, newest last; bounded so the state stays small across continue-as-new. */
  recentActions: ActionRecord[];
  /**
   * The pair does not poll its primary: its shard's health watchers do (src/shared/healthWatch.ts) and report a
   * failure with the `primaryFailed` update.
   */
  health: {
    /** What the watchers check, as last enrolled; absent while nothing needs watching (no shadow, failover held). */
    watch?: WatchedPrimary;
    /** The watcher workflows the pair is enrolled with. */
    watchers?: string[];
    /** Why the last enrolment failed; it is tried again every iteration. */
    watchError?: string;
    /** The last failure report the pair accepted. */
    lastFailureReport?: PrimaryFailureReport;
  };
  /**
   * The pair does not tick: its shard's observer forecasts and decides for it (src/shared/observation.ts) and sends
   * an `act` update when it must act.
   */
  observation?: {
    /** What the observer decides with, as last enrolled. */
    member?: ObservedPair;
    /** The observer workflow the pair is enrolled with. */
    observer?: string;
    /** Why the last enrolment failed; it is tried again every iteration. */
    error?: string;
  };
  /**
   * The newest provider-clock time (epoch ms) the pair has seen, from its orders and failure reports: the
   * time an action without one of its own is recorded at.
   */
  providerTime?: number;
  /** The primary's utilisation stream as the last order saw it: how far it trailed the provider's clock. */
  mirror: { lastSampleAt?: number; lagSeconds?: number; dataIssues: string[] };
  /** Workloads moved from the primary onto the activated shadow by scale-out (moved home by scale-back). */
  movedToShadow: string[];
  /**
   * Data time of the decision that gave the current primary its role (the last failover or swap); absent while the
   * pair has its first roles. Before it, the pair's demand history comes only from its record, not its hosts.
   */
  rolesSince?: number;
  scaling: { lastActionAt?: number; lowSince?: number; highSince?: number };
  /** Orders taken from the observer (actions and forecast-only records). */
  counters: { orders: number; failovers: number; swaps: number; scaleOuts: number; scaleBacks: number; runs: number };
  /** The off-peak swap schedule as last applied (cron and zone), or why it could not be. */
  swapSchedule?: { scheduleId: string; cronExpressions: string[]; timezone: string } | { error: string };
  /** The latest updates answered (failover, swapNow, primaryFailed), by id: a repeat in a later run gets the same answer. */
  answeredUpdates?: { id: string; result: unknown }[];
  /**
   * Requests received and not yet acted on. They live in the state so that one arriving during a run's last
   * iteration (a forceSwap while a swap runs, an off-peak change) is carried across continue-as-new.
   */
  pending?: {
    /** Why a swap was asked for (operator or off-peak schedule), taken at the next iteration. */
    swapRequest?: string;
    /** The off-peak spec changed since the swap schedule was last applied. */
    swapScheduleOutdated?: boolean;
  };
}

export interface HostPairInput {
  pairId: string;
  primary: HostRef;
  shadow?: HostRef;
  policy: PairPolicy;
  /** The fleet workflow to tell when the shadow is consumed; absent for a pair started on its own. */
  fleetWorkflowId?: string;
  /**
   * Loop iterations (wakes) per run before continue-as-new (default 120). Lower bounds each run's history further;
   * the state carries over whole.
   */
  iterationsPerRun?: number;
  /** Carried across continue-as-new; absent on the first run. */
  state?: PairState;
}

// ---- operator messages ---------------------------------------------------------------------------------------------

/** Signals: fire-and-forget requests whose effect the operator reads back through the `state` query. */
export const pauseSignal = defineSignal<[PauseRequest?]>('pause');
export const resumeSignal = defineSignal<[]>('resume');
export const forceSwapSignal = defineSignal<[ForceSwapRequest?]>('forceSwap');

export interface PauseRequest {
  /** Also hold automatic failover (default false: a paused pair still fails over). */
  disableFailover?: boolean;
  reason?: string;
}

export interface ForceSwapRequest {
  reason?: string;
}

export const stateQuery = defineQuery<PairState>('state');

/**
 * Updates: requests that need an answer (accepted or refused with a reason) before the caller moves on; their
 * validators refuse bad payloads and wrong phases without touching the workflow's history.
 */
export const failoverUpdate = defineUpdate<FailoverResult, [FailoverRequest]>('failover');
export const setPolicyUpdate = defineUpdate<PairPolicy, [Partial<PairPolicy>]>('setPolicy');

/**
 * Swaps the roles now and answers with the outcome (a rollout awaits it); refused by its validator when the pair
 * has no shadow, is paused, or is not steady. An update, not the `forceSwap` signal, because the caller acts on
 * the result.
 */
export const swapNowUpdate = defineUpdate<SwapNowResult, [SwapNowRequest]>('swapNow');

export interface SwapNowRequest {
  reason: string;
}

export type SwapNowResult =
  { swapped: true; primary: HostRef; shadow: HostRef } | { swapped: false; rolledBack: boolean; reason: string };

export interface FailoverRequest {
  reason: string;
}

export interface FailoverResult {
  newPrimary: string;
  fencedHost: string;
  lostVersions: number;
  workloadsRestored: string[];
}

// ---- payload checks -----------------------------------------------------------------------------------------------
// A signal cannot be refused the way an update is: its handler drops a malformed payload with a warning naming what
// is wrong, so a typo sent with the official `temporal` CLI changes nothing and never fails the workflow task.

type FieldKind = 'string' | 'boolean';

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const describeValue = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'a list' : `${typeof value} ${JSON.stringify(value)}`;

/**
 * What is wrong with an optional request object whose every field is optional, or undefined when it is fine:
 * absent is fine; otherwise an object with only the known fields, strings non-empty.
 */
export function optionalRequestProblem(
  message: string,
  value: unknown,
  fields: Record<string, FieldKind>,
): string | undefined {
  if (value === undefined) return undefined;
  if (!isPlainObject(value)) return `${message} takes an object, got ${describeValue(value)}`;
  for (const [key, field] of Object.entries(value)) {
    const kind = fields[key];
    if (kind === undefined)
      return `${message}: unknown field "${key}" (known: ${Object.keys(fields).join(', ') || 'none'})`;
    if (field === undefined) continue;
    if (typeof field !== kind) return `${message}: ${key} must be a ${kind}, got ${describeValue(field)}`;
    if (kind === 'string' && (field as string).trim() === '') return `${message}: ${key} must not be empty`;
  }
  return undefined;
}

export const pauseRequestProblem = (value: unknown): string | undefined =>
  optionalRequestProblem('pause', value, { disableFailover: 'boolean', reason: 'string' });

export const forceSwapRequestProblem = (value: unknown): string | undefined =>
  optionalRequestProblem('forceSwap', value, { reason: 'string' });

const CAPACITY_FIELDS = ['cpuCores', 'memoryGiB', 'storageIops', 'networkMbps'] as const;

/** What is wrong with `value` as a host reference (`what` names it in the message), or undefined. */
export function hostRefProblem(value: unknown, what: string): string | undefined {
  if (!isPlainObject(value))
    return `${what} must be a host (hostId, region, zone, capacity), got ${describeValue(value)}`;
  for (const key of ['hostId', 'region', 'zone'] as const) {
    const field = value[key];
    if (typeof field !== 'string' || field.trim() === '')
      return `${what}.${key} must be a non-empty string, got ${describeValue(field)}`;
  }
  const capacity = value.capacity;
  if (!isPlainObject(capacity)) return `${what}.capacity must be an object, got ${describeValue(capacity)}`;
  for (const key of CAPACITY_FIELDS) {
    const field = capacity[key];
    if (typeof field !== 'number' || !Number.isFinite(field) || field <= 0)
      return `${what}.capacity.${key} must be a positive number, got ${describeValue(field)}`;
  }
  return undefined;
}

export function shadowConsumedProblem(value: unknown): string | undefined {
  if (!isPlainObject(value)) return `shadowConsumed takes {pairId, newPrimary}, got ${describeValue(value)}`;
  if (typeof value.pairId !== 'string' || value.pairId === '')
    return `shadowConsumed: pairId must be a non-empty string, got ${describeValue(value.pairId)}`;
  return hostRefProblem(value.newPrimary, 'shadowConsumed: newPrimary');
}

export function primaryAddedProblem(value: unknown): string | undefined {
  if (!isPlainObject(value)) return `primaryAdded takes {fromPairId, primary}, got ${describeValue(value)}`;
  if (typeof value.fromPairId !== 'string' || value.fromPairId === '')
    return `primaryAdded: fromPairId must be a non-empty string, got ${describeValue(value.fromPairId)}`;
  return hostRefProblem(value.primary, 'primaryAdded: primary');
}

// ---- messages between workflows ------------------------------------------------------------------------------------

/** Sent by the off-peak swap schedule's workflow to its pair. */
export const offPeakSwapSignal = defineSignal<[]>('offPeakSwap');
/** Sent by the fleet to a pair whose consumed shadow has been replaced. */
export const shadowReplacedSignal = defineSignal<[HostRef]>('shadowReplaced');
/** Sent by a pair to the fleet when a failover consumed its shadow. */
export interface ShadowConsumed {
  pairId: string;
  newPrimary: HostRef;
}
export const shadowConsumedSignal = defineSignal<[ShadowConsumed]>('shadowConsumed');

/** Sent by a pair whose scale-out provisioned a new primary: the fleet gives it a shadow and a pair of its own. */
export interface PrimaryAdded {
  fromPairId: string;
  primary: HostRef;
}
export const primaryAddedSignal = defineSignal<[PrimaryAdded]>('primaryAdded');

export interface FleetPair {
  pairId: string;
  primary: HostRef;
  shadow?: HostRef;
  diversityGroup?: string;
}

export interface FleetState {
  pairs: FleetPair[];
  /** Shadows provisioned to replace ones consumed by failovers (or maintenance), or ones that failed. */
  replacements: number;
  /** Of those, shadows that replaced a failed shadow. */
  failedShadowsReplaced?: number;
  /** Regions whose hosts the provider reported all failed at the last check: no shadow is placed there. */
  failedRegions?: string[];
  /**
   * Failed shadows the last check left alone, each with why: held by a rollout or a maintenance, carrying
   * workloads, or with the primary down too. Replaced once that no longer holds.
   */
  failedShadowsLeft?: string[];
  /** Failed shadows taken out of their pairs, decommissioned once their region is no longer failed. */
  retiring?: string[];
  /** Configuration drifts found on shadows and corrected. */
  driftCorrections: number;
  lastDriftCheckAt?: number;
  /** Pairs a rollout is changing: drift correction leaves them alone (the rollout owns their configuration). */
  underRollout?: PairsUnderRollout;
  /** Drift found on pairs under rollout at the last check, reported instead of corrected. */
  driftUnderRollout?: string[];
  /** Problems the fleet could not solve on its own (e.g. no region left for a replacement shadow). */
  problems: string[];
  /** The regions' shadow capacity and the standby fraction: a rollout keeps its waves within them. */
  spareCapacity?: { regions: RegionSpec[]; shadowFraction: number };
  /**
   * Signals received and not yet acted on, oldest first. They live in the state so that one arriving during a run's
   * last check is carried across continue-as-new and handled by the next run.
   */
  pending?: { shadowsConsumed: ShadowConsumed[]; primariesAdded: PrimaryAdded[] };
}

export const fleetStateQuery = defineQuery<FleetState>('fleetState');
