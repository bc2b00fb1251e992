/**
 * Health watching, defined once: pairs do not poll their primaries. Each pair is a member of one shard (a stable
 * hash of its id), and every shard has two watcher workflows, lanes `a` and `b`, each running one long-lived
 * activity that checks all the shard's primaries in one provider call per interval. A watcher that sees a primary
 * fail its checks reports it to the pair with the `primaryFailed` update; the pair's validator decides whether the
 * report still holds (same primary, fresh evidence, a shadow to fail over to). Two lanes mean a dead worker or a
 * stalled watcher leaves no gap; their duplicate reports carry the same update id.
 *
 * Types and definitions only, no Node built-ins: workflow code imports this module.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { FailoverResult } from './pair.js';

/**
 * Shards per task queue: a pair's shard is fixed by its id, so changing this moves pairs between shards. Sixteen keep
 * a shard workflow's members (carried across continue-as-new, and handed to its activity) near 625 pairs at 10,000:
 * with four, a 10,000-pair shard's observer input outgrew the server's 2 MB payload limit and a watcher's task took
 * over the workflow thread's 5 s limit.
 */
export const HEALTH_SHARDS = 16;
export const WATCH_LANES = ['a', 'b'] as const;
export type WatchLane = (typeof WATCH_LANES)[number];

/** A failed check is confirmed by checks this far apart rather than a full interval apart. */
export const CONFIRMATION_DELAY_MS = 500;
/**
 * A primary still failing this long after its report is reported again: a pair refuses a report it cannot act on
 * (held, already failing over, stale) without the watcher learning of it, and looks again at fresh evidence.
 */
export const REPORT_AGAIN_AFTER_MS = 30_000;
/**
 * A failure report older than this (watcher's clock to the pair's workflow task) is refused: a watcher that stalled
 * must look again rather than fail a pair over on what it saw long before. Generous, because a busy worker or server
 * delays a fresh report too, and refusing it would only delay the failover; another primary or role generation is
 * what the pair's other checks refuse.
 */
export const MAX_FAILURE_REPORT_AGE_MS = 60_000;

/** FNV-1a over the pair id: stable across processes and releases, and spreads similar ids. */
export function shardOf(pairId: string, shards: number = HEALTH_SHARDS): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < pairId.length; i++) {
    hash ^= pairId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % shards;
}

/** The task queue is part of the id: pairs on another queue (another worker deployment, a test) have watchers of their own. */
export const watcherWorkflowId = (taskQueue: string, shard: number, lane: WatchLane): string =>
  `health-watch:${taskQueue}:${shard}:${lane}`;

/**
 * The task queue a lane's watch loops run on. A worker process serves the lanes it is told to (both by default), so
 * two processes serving one lane each leave a lane checking whichever of them is killed.
 */
export const watchLaneTaskQueue = (taskQueue: string, lane: WatchLane): string => `${taskQueue}@watch-${lane}`;

/** Both lanes of the pair's shard. */
export const watcherWorkflowIds = (taskQueue: string, pairId: string): string[] =>
  WATCH_LANES.map((lane) => watcherWorkflowId(taskQueue, shardOf(pairId), lane));

/** Every watcher a task queue can have: what a deployment (or a test, or a benchmark) stops when it goes. */
export const allWatcherWorkflowIds = (taskQueue: string): string[] =>
  Array.from({ length: HEALTH_SHARDS }, (_, shard) =>
    WATCH_LANES.map((lane) => watcherWorkflowId(taskQueue, shard, lane)),
  ).flat();

/** What a watcher needs to check one pair's primary. */
export interface WatchedPrimary {
  pairId: string;
  primaryHostId: string;
  /** Counts the pair's role changes: a host that is primary again after two swaps is a new watch. */
  generation: number;
  intervalSeconds: number;
  failuresBeforeFailover: number;
}

/** Failing members not reported yet, by pair id: carried from one watch run to the next, so a restart keeps them. */
export type CarriedFailures = Record<string, { primaryHostId: string; failedChecksAt: number[] }>;

/** A pair joins (or updates its entry with) `member`, or leaves its shard (`member` absent). */
export interface WatchChange {
  pairId: string;
  member?: WatchedPrimary;
}

export interface WatcherInput {
  taskQueue: string;
  shard: number;
  lane: WatchLane;
  /** Carried across continue-as-new. */
  members?: Record<string, WatchedPrimary>;
  version?: number;
  /** Membership changes before continue-as-new (default 1,000); lower in tests. */
  changesPerRun?: number;
  /** Members with failed checks not reported yet, handed from one watch run to the next. */
  carried?: CarriedFailures;
}

/** The watcher's members, or nothing when the caller already has `sinceVersion`. */
export interface WatcherMembers {
  version: number;
  members?: WatchedPrimary[];
}

/** Why a `watchChange` payload cannot be taken (signals cannot be refused: the watcher drops it), or undefined. */
export function watchChangeProblem(change: unknown): string | undefined {
  const c = change as Partial<WatchChange> | null | undefined;
  if (typeof c?.pairId !== 'string' || c.pairId === '') return 'watchChange needs a "pairId" string';
  if (c.member === undefined) return undefined;
  const m = c.member as Partial<WatchedPrimary>;
  if (m.pairId !== c.pairId) return `watchChange member.pairId must be "${c.pairId}"`;
  if (typeof m.primaryHostId !== 'string' || m.primaryHostId === '') return 'member.primaryHostId must be a string';
  for (const field of ['generation', 'intervalSeconds', 'failuresBeforeFailover'] as const) {
    const value = m[field];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < (field === 'generation' ? 0 : 1))
      return `member.${field} must be a number of at least ${field === 'generation' ? 0 : 1}`;
  }
  return undefined;
}

/** The memo key where a watcher workflow keeps its members' version. */
export const MEMBERS_VERSION_MEMO = 'membersVersion';

export const watchChangeSignal = defineSignal<[WatchChange]>('watchChange');
export const watcherMembersQuery = defineQuery<WatcherMembers, [number?]>('members');

/** The evidence a watcher sends: consecutive failed checks of the primary, on the provider's clock. */
export interface PrimaryFailureReport {
  primaryHostId: string;
  generation: number;
  /** Provider-clock times (epoch ms) of the consecutive failed checks, oldest first. */
  failedChecksAt: number[];
  /** The status the provider reported at the last check. */
  status: string;
  /** The watcher's wall clock (epoch ms) when it sent the report: the pair refuses stale evidence. */
  reportedAt: number;
  /** The watcher workflow that saw it. */
  watcher: string;
}

/** Answered once the failover ran; refused by its validator when the report no longer holds. */
export const primaryFailedUpdate = defineUpdate<FailoverResult, [PrimaryFailureReport]>('primaryFailed');

/** One id per failed primary and role generation: both lanes' reports of the same failure are one update. */
export const primaryFailedUpdateId = (report: Pick<PrimaryFailureReport, 'primaryHostId' | 'generation'>): string =>
  `primary-failed:${report.primaryHostId}:${report.generation}`;
