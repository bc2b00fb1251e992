/**
 * Observation, defined once: pairs do not tick. Each shard of pairs (the same shards as health watching) has one
 * observer workflow running one long-lived activity that, when a pair's data has a new step, reads the fleet for the
 * shard's pairs in a few provider calls, their metrics in batched reads and their forecasts in batched model runs,
 * and takes each pair's scaling decision with the pure policy (`decideScaling`). Every decision, "none" included, is recorded in
 * the metrics store (`understudy_decision`) when its data is new. Only a decision to act wakes the pair, with the
 * `act` update; the pair's validator refuses an order that no longer holds (another primary, a pair already acting,
 * paused) without a trace in its history, and runs an accepted one as a child workflow, as before.
 *
 * Types and definitions only, no Node built-ins: workflow code imports this module.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ForecastSummary, ScalingAction, ScalingMemory } from '../policy/types.js';
import type { Resource } from '../provider/types.js';
import { HEALTH_SHARDS } from './healthWatch.js';
import type { HostRef, PairPhase, PairPolicy } from './pair.js';

/** The task queue is part of the id, as for the watchers: pairs on another queue have observers of their own. */
export const observerWorkflowId = (taskQueue: string, shard: number): string => `observe:${taskQueue}:${shard}`;

/**
 * The task queue the observers' loops run on: reading and forecasting a shard at every data step is the heaviest work
 * a worker does, and a process that does not serve it (UNDERSTUDY_OBSERVERS=0) keeps its health-watcher lane clear
 * of it.
 */
export const observerTaskQueue = (taskQueue: string): string => `${taskQueue}@observe`;

/** Every observer a task queue can have: what a deployment (or a test, or a benchmark) stops when it goes. */
export const allObserverWorkflowIds = (taskQueue: string): string[] =>
  Array.from({ length: HEALTH_SHARDS }, (_, shard) => observerWorkflowId(taskQueue, shard));

/** What an observer needs to decide for one pair: its hosts, its policy and what it has moved. */
export interface ObservedPair {
  pairId: string;
  primary: HostRef;
  shadowHostId?: string;
  policy: PairPolicy;
  movedToShadow: string[];
  /** Data time the current primary took its role (PairState.rolesSince). */
  rolesSince?: number;
  /** Counts the pair's role changes (failovers and swaps): an order is for one holder of the primary role. */
  generation: number;
  /** A paused pair is still observed and its decisions recorded; it is sent no order. */
  paused: boolean;
  /** Only a steady or scaled-out pair is sent orders (an unprotected one has no shadow to act with). */
  phase: PairPhase;
  /** The scaling memory as of the pair's last order: where an observer without one of its own starts. */
  scaling: ScalingMemory;
}

/** A pair joins (or updates its entry with) `member`, or leaves its shard's observer (`member` absent). */
export interface ObservationChange {
  pairId: string;
  member?: ObservedPair;
}

export interface ObserverInput {
  taskQueue: string;
  shard: number;
  /** Carried across continue-as-new. */
  members?: Record<string, ObservedPair>;
  version?: number;
  /** Membership changes before continue-as-new (default 1,000); lower in tests. */
  changesPerRun?: number;
  /** Each member's scaling memory as the last observation run left it, carried to the next. */
  memories?: Record<string, ScalingMemory>;
}

/** The observer's members, or nothing when the caller already has `sinceVersion`. */
export interface ObservedMembers {
  version: number;
  members?: ObservedPair[];
}

/** Why an `observationChange` payload cannot be taken (the observer drops it), or undefined. */
export function observationChangeProblem(change: unknown): string | undefined {
  const c = change as Partial<ObservationChange> | null | undefined;
  if (typeof c?.pairId !== 'string' || c.pairId === '') return 'observationChange needs a "pairId" string';
  if (c.member === undefined) return undefined;
  const m = c.member as Partial<ObservedPair>;
  if (m.pairId !== c.pairId) return `observationChange member.pairId must be "${c.pairId}"`;
  if (typeof m.primary?.hostId !== 'string' || m.primary.hostId === '') return 'member.primary.hostId must be a string';
  if (typeof m.policy !== 'object' || m.policy === null) return 'member.policy must be an object';
  if (!Array.isArray(m.movedToShadow)) return 'member.movedToShadow must be an array';
  if (typeof m.generation !== 'number' || !Number.isInteger(m.generation) || m.generation < 0)
    return 'member.generation must be a whole number of at least 0';
  return undefined;
}

export const observationChangeSignal = defineSignal<[ObservationChange]>('observationChange');
export const observedMembersQuery = defineQuery<ObservedMembers, [number?]>('observedMembers');

/** One scaling decision, as the observer took it and as the metrics store records it. */
export interface ScalingDecisionRecord {
  action: ScalingAction['kind'];
  reason: string;
  /** False in forecast-only mode, in cooldown, while paused, or when the pair refused the order. */
  executed: boolean;
  /** Data time (provider clock, epoch ms) of the decision. */
  at: number;
  bindingResource?: Resource;
  peakPercent?: number;
  /** The primary's measured utilisation of the binding resource at the decision, beside the forecast peak. */
  actualPercent?: number;
}

/** What an observer sends a pair that must act: the decision and the evidence it was taken on. */
export interface ScalingOrder {
  primaryHostId: string;
  generation: number;
  action: ScalingAction;
  reason: string;
  /** False in forecast-only mode: the pair records the action it would take and takes none. */
  execute: boolean;
  /** Data time (provider clock, epoch ms) of the decision. */
  at: number;
  actualPercent?: number;
  forecast: ForecastSummary;
  /** The scaling memory after this decision: the pair keeps it and enrols with it. */
  memory: ScalingMemory;
  mirror: { lastSampleAt?: number; lagSeconds?: number; dataIssues: string[] };
}

export interface ActResult {
  outcome: 'succeeded' | 'failed' | 'recorded-only';
  phase: PairPhase;
}

/** Answered once the action ran (or was recorded, in forecast-only mode); refused when the order no longer holds. */
export const actUpdate = defineUpdate<ActResult, [ScalingOrder]>('act');

/** One id per pair, role generation and decision time: an order sent twice (a retried observer) is one update. */
export const actUpdateId = (pairId: string, order: Pick<ScalingOrder, 'generation' | 'at'>): string =>
  `act:${pairId}:${order.generation}:${order.at}`;

/** Why an `act` payload is malformed, or undefined. */
export function scalingOrderProblem(order: unknown): string | undefined {
  const o = order as Partial<ScalingOrder> | null | undefined;
  if (typeof o?.primaryHostId !== 'string' || typeof o.generation !== 'number' || typeof o.at !== 'number')
    return 'act needs primaryHostId, generation and at';
  if (typeof o.action?.kind !== 'string' || o.action.kind === 'none') return 'act needs an action other than none';
  if (typeof o.reason !== 'string' || typeof o.execute !== 'boolean') return 'act needs a reason and execute';
  if (typeof o.forecast?.issuedAt !== 'number' || typeof o.memory !== 'object' || o.memory === null)
    return 'act needs the forecast and the scaling memory it was decided with';
  return undefined;
}
