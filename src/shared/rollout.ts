/**
 * The rollout's public surface, defined once: its workflow id, input, per-pair state (the `rolloutState` query's
 * answer) and the operator's signals. The worker, the `understudy` CLI and the tests import it; so do workflows.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ConfigurationValue, RolloutBudget, RolloutPairRef, RolloutWindow } from '../policy/rollout.js';
import { optionalRequestProblem, type HostRef, type PairPhase } from './pair.js';

/** One rollout at a time: the CLI starts every rollout under this id, so a second one is refused while one runs. */
export const ROLLOUT_WORKFLOW_ID = 'rollout';

export const ROLLOUT_PHASES = [
  'validating',
  'waiting-for-window',
  'rolling',
  'paused',
  'halted',
  'aborted',
  'completed',
] as const;
export type RolloutPhase = (typeof ROLLOUT_PHASES)[number];

export const PAIR_ROLLOUT_STEPS = [
  'pending',
  /** Its turn has begun: is the pair steady and not paused? (Else it is skipped.) */
  'checking',
  'upgrading-shadow',
  'swapping',
  'upgrading-former-primary',
  'done',
  'rolled-back',
  'failed',
  'skipped',
] as const;
export type PairRolloutStep = (typeof PAIR_ROLLOUT_STEPS)[number];

export interface RolloutTarget {
  pairId: string;
  primary: HostRef;
  shadow?: HostRef;
  /** The pair's phase and pause when it was read: a rollout touches only a steady pair nobody paused. */
  phase?: PairPhase;
  paused?: boolean;
}

/** What the rollout policy needs of each target: regions and size, for the budget and the spare-capacity proof. */
export function rolloutPairRefs(targets: readonly RolloutTarget[]): RolloutPairRef[] {
  return targets.map((t) => ({
    pairId: t.pairId,
    primaryRegion: t.primary.region,
    shadowRegion: t.shadow?.region,
    capacity: t.primary.capacity,
  }));
}

export interface RolloutInput {
  rolloutId: string;
  desired: Record<string, ConfigurationValue>;
  /** The pairs to roll; absent: every pair of the running fleet (`fleetWorkflowId`). */
  pairs?: RolloutTarget[];
  /** The fleet whose pairs to roll and whose drift correction must leave the pairs under rollout alone. */
  fleetWorkflowId?: string;
  budget: RolloutBudget;
  /** Allowed windows; default: off-peak (DEFAULT_ROLLOUT_WINDOW). */
  windows?: RolloutWindow[];
  /** After a pair fails verification (and is rolled back): carry on with the others (default) or halt. */
  onPairFailure?: 'continue' | 'halt';
  /**
   * While waiting for a window, look at the provider's clock again at least this often (default 60 s): the clock
   * windows are judged by is the fleet's, which need not run at the worker's pace.
   */
  windowPollSeconds?: number;
  /**
   * Continue as new after this many waves in one run (default: when Temporal suggests it, as the history grows).
   * Tests set it low to cross a continue-as-new.
   */
  continueAsNewAfterWaves?: number;
  /** Carried across continue-as-new: where the rollout stands; absent on the first run. */
  progress?: RolloutProgress;
}

/** What a rollout carries into its next run: its state, the pairs as they were read, and whether it was paused. */
export interface RolloutProgress {
  state: RolloutState;
  targets: RolloutTarget[];
  paused: boolean;
  /** Waves finished (the next run starts at this index). */
  wavesDone: number;
  /** The operator's abort reason, when one came: the next run ends the rollout instead of rolling on. */
  aborted?: string;
}

export interface PairRollout {
  pairId: string;
  wave: number;
  step: PairRolloutStep;
  /** Hosts as they were when the pair's turn began (primary, shadow) and after. */
  primaryBefore: string;
  shadowBefore?: string;
  primaryAfter?: string;
  /** The configuration the pair ran before, restored on a rollback. */
  previous?: Record<string, ConfigurationValue>;
  /** sha256 of the applied desired configuration, as verified on each host. */
  verifiedHashes: Record<string, string>;
  /**
   * Configuration drift found when the pair's turn began (primary and shadow differed, e.g. a change made by hand
   * while the rollout ran): reported here and in the rollout's `drift`, never silently replaced.
   */
  drift?: string;
  detail?: string;
  /** Workflow time (epoch ms) the pair's turn started and ended: the budget is checked from these. */
  startedAt?: number;
  finishedAt?: number;
}

export interface RolloutState {
  rolloutId: string;
  phase: RolloutPhase;
  desired: Record<string, ConfigurationValue>;
  waves: string[][];
  currentWave: number;
  pairs: PairRollout[];
  /** Largest number of pairs that were changing at once. */
  maxConcurrent: number;
  nextWindowAt?: number;
  haltReason?: string;
  /** Every drift found during the rollout, one line per pair (see PairRollout.drift). */
  drift?: string[];
  /** Runs of the workflow so far (continue-as-new starts a new one). */
  runs?: number;
}

export const rolloutStateQuery = defineQuery<RolloutState>('rolloutState');
/** Signals, fire-and-forget: the operator reads the effect back through the query (a wave in flight finishes). */
export const pauseRolloutSignal = defineSignal<[]>('pauseRollout');
export const resumeRolloutSignal = defineSignal<[]>('resumeRollout');
export const abortRolloutSignal = defineSignal<[{ reason?: string }?]>('abortRollout');

/** The pairs a rollout holds on its fleet; no pairs clears the hold. */
export interface PairsUnderRollout {
  rolloutId: string;
  pairIds: string[];
  /**
   * The rollout's workflow id: a hold whose rollout no longer runs (terminated from the Web UI, say) is released by
   * the next rollout instead of refusing every rollout after it. Holds recorded before it existed lack it.
   */
  workflowId?: string;
}

/** Sent by a rollout to its fleet: drift correction leaves these pairs alone (and reports drift) until cleared. */
export const pairsUnderRolloutSignal = defineSignal<[PairsUnderRollout]>('pairsUnderRollout');

/** What is wrong with an abortRollout payload, or undefined (the signal's handler drops a bad one with a warning). */
export const abortRolloutRequestProblem = (value: unknown): string | undefined =>
  optionalRequestProblem('abortRollout', value, { reason: 'string' });

export function pairsUnderRolloutProblem(value: unknown): string | undefined {
  const message = value as { rolloutId?: unknown; pairIds?: unknown; workflowId?: unknown } | null | undefined;
  if (message === null || typeof message !== 'object' || Array.isArray(message))
    return 'pairsUnderRollout takes {rolloutId, pairIds}';
  if (typeof message.rolloutId !== 'string' || message.rolloutId === '')
    return 'pairsUnderRollout: rolloutId must be a non-empty string';
  if (!Array.isArray(message.pairIds) || !message.pairIds.every((id) => typeof id === 'string' && id !== ''))
    return 'pairsUnderRollout: pairIds must be a list of pair ids';
  if (message.workflowId !== undefined && (typeof message.workflowId !== 'string' || message.workflowId === ''))
    return 'pairsUnderRollout: workflowId, when given, must be a non-empty string';
  return undefined;
}

// ---- host maintenance ----------------------------------------------------------------------------------------------

/** One maintenance per host at a time: the workflow id is the host's. */
export const maintenanceWorkflowId = (hostId: string): string => `maintenance:${hostId}`;

export interface MaintenanceInput {
  hostId: string;
  /** The fleet whose pairs are searched for the host. */
  fleetWorkflowId: string;
  /**
   * Drain a primary even when its pair serving from the shadow's region would leave a region too little spare
   * capacity for a regional outage (the operator's `--allow-reduced-spare`). Without it such a drain is refused.
   */
  allowReducedSpare?: boolean;
}

export interface MaintenanceState {
  hostId: string;
  phase: 'checking' | 'draining' | 'in-maintenance' | 'returned';
  pairId?: string;
  /** The host was its pair's primary and was drained through a swap. */
  wasPrimary?: boolean;
  /** The host was its pair's shadow: the standby role moved to this new host, and the pair is whole without it. */
  standbyMovedTo?: string;
}

export const maintenanceStateQuery = defineQuery<MaintenanceState>('maintenanceState');
/** The operator's `maintenance HOST off`: return the host to service. */
export const endMaintenanceSignal = defineSignal<[]>('endMaintenance');
