/**
 * The simulator's history: what the fleet did and what its workloads went through, in order, on the simulated
 * clock. Tests and operators read it back (`GET /sim/history`) to judge an orchestration by what the
 * infrastructure saw rather than by the orchestrator's own account: how many pairs were changing at once, and
 * how long any workload was out of service.
 *
 * A workload is interrupted while the host it runs on is not serving it: the host failed or was fenced under it
 * (until the host recovers or the workload is restored elsewhere), or the host was reconfigured while it ran
 * there (a configuration change restarts the host's services for the sync's duration). A live migration is not
 * an interruption: the workload keeps running on its source until it runs on its target.
 */
import type { OperationKind, OperationStatus } from '../provider/types.js';

export type InterruptionCause = 'host-down' | 'configuration';

export type HistoryEvent =
  | {
      seq: number;
      kind: 'operation';
      /** Simulated ms the operation finished (succeeded or failed). */
      atMs: number;
      startedAtMs: number;
      operationId: string;
      operation: OperationKind;
      status: OperationStatus;
      /** The host acted on (a migration's target). */
      hostId?: string;
      /** The host's pair, when the provider knows it. */
      pairId?: string;
      workloadId?: string;
      /** A migration's source host. */
      sourceHostId?: string;
    }
  | {
      seq: number;
      kind: 'workload-interrupted';
      /** Simulated ms the interruption ended. */
      atMs: number;
      startedAtMs: number;
      workloadId: string;
      hostId: string;
      cause: InterruptionCause;
    };

/** What the history endpoint answers: the events after `afterSeq`, oldest first. */
export interface HistoryPage {
  events: HistoryEvent[];
  /** The sequence number of the last event returned (of the newest one when none is); read on after it. */
  lastSeq: number;
  /** The oldest sequence number still held: events before it were forgotten (the history is bounded). */
  oldestSeq: number;
}

export interface HistoryState {
  events: HistoryEvent[];
  lastSeq: number;
  /** Workload id → when its current host-down interruption began (simulated ms). */
  downSince: Record<string, { startedAtMs: number; hostId: string }>;
}

/** Events kept (the whole fleet state, history included, is rewritten on every change): a few MB at most. */
export const MAX_HISTORY_EVENTS = 20_000;
/** The most events one read returns; read on from `lastSeq`. */
export const HISTORY_PAGE_SIZE = 5_000;
/** `afterSeq` takes at most this many digits; the largest such number asks for what follows the newest event. */
export const AFTER_SEQ_DIGITS = 15;
export const LARGEST_AFTER_SEQ = 10 ** AFTER_SEQ_DIGITS - 1;

export const emptyHistory = (): HistoryState => ({ events: [], lastSeq: 0, downSince: {} });

type NewEvent = HistoryEvent extends infer E ? (E extends HistoryEvent ? Omit<E, 'seq'> : never) : never;

export class History {
  constructor(private readonly state: HistoryState) {}

  record(event: NewEvent): void {
    this.state.events.push({ ...event, seq: ++this.state.lastSeq });
    if (this.state.events.length > MAX_HISTORY_EVENTS * 1.1)
      this.state.events.splice(0, this.state.events.length - MAX_HISTORY_EVENTS);
  }

  /** The workloads' host stopped serving them at `atMs` (failed, fenced); an interruption already open stays. */
  hostDown(hostId: string, workloadIds: readonly string[], atMs: number): void {
    for (const workloadId of workloadIds) this.state.downSince[workloadId] ??= { startedAtMs: atMs, hostId };
  }

  /** The workloads run on a serving host again (recovered, or restored elsewhere): their interruption ends. */
  serving(workloadIds: readonly string[], atMs: number): void {
    for (const workloadId of workloadIds) {
      const open = this.state.downSince[workloadId];
      if (!open) continue;
      delete this.state.downSince[workloadId];
      this.record({ kind: 'workload-interrupted', atMs, cause: 'host-down', workloadId, ...open });
    }
  }

  page(afterSeq: number): HistoryPage {
    const events = this.state.events.filter((e) => e.seq > afterSeq).slice(0, HISTORY_PAGE_SIZE);
    return {
      events,
      lastSeq: events.at(-1)?.seq ?? this.state.lastSeq,
      oldestSeq: this.state.events[0]?.seq ?? this.state.lastSeq + 1,
    };
  }
}
