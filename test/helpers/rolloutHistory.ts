/**
 * Reads a rollout back from the simulator's history (what the infrastructure saw), not from the rollout's own
 * account: when each pair's hosts were being changed, how many pairs changed at once, how long each swap took, and
 * every workload interruption.
 */
import type { HistoryEvent } from '../../src/simulator/history.js';

export { maxOverlapping } from '../../src/policy/rollout.js';

type OperationEvent = Extract<HistoryEvent, { kind: 'operation' }>;
export type InterruptionEvent = Extract<HistoryEvent, { kind: 'workload-interrupted' }>;

export interface PairActivity {
  pairId: string;
  /** Simulated ms from the first operation on the pair's hosts to the end of the last. */
  start: number;
  end: number;
  /** The swap: the operations other than configuration syncs (activate, migrate, set role, return to standby). */
  swapStart?: number;
  swapEnd?: number;
  configurationSyncs: OperationEvent[];
  roleChanges: number;
}

/** Per pair (hosts mapped to pairs by `pairOfHost`), the span of the succeeded operations on its hosts. */
export function pairActivity(events: HistoryEvent[], pairOfHost: Map<string, string>): Map<string, PairActivity> {
  const byPair = new Map<string, PairActivity>();
  for (const e of events) {
    if (e.kind !== 'operation' || e.status !== 'succeeded' || e.hostId === undefined) continue;
    const pairId = pairOfHost.get(e.hostId);
    if (pairId === undefined) continue;
    const a = byPair.get(pairId) ?? {
      pairId,
      start: e.startedAtMs,
      end: e.atMs,
      configurationSyncs: [],
      roleChanges: 0,
    };
    a.start = Math.min(a.start, e.startedAtMs);
    a.end = Math.max(a.end, e.atMs);
    if (e.operation === 'syncConfiguration') a.configurationSyncs.push(e);
    else {
      a.swapStart = Math.min(a.swapStart ?? e.startedAtMs, e.startedAtMs);
      a.swapEnd = Math.max(a.swapEnd ?? e.atMs, e.atMs);
      if (e.operation === 'setRole') a.roleChanges += 1;
    }
    byPair.set(pairId, a);
  }
  return byPair;
}

export const interruptions = (events: HistoryEvent[]): InterruptionEvent[] =>
  events.filter((e): e is InterruptionEvent => e.kind === 'workload-interrupted');
