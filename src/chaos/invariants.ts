/**
 * What must hold after every round of the fault campaign, checked on the simulator's fleet (and the pairs' own
 * state): no workload lost or running twice, no two unfenced primaries for one pair, every pair steady, and no
 * pair acting while its metrics were down. Pure, so a crafted fleet shows the checker does flag each violation.
 */
import type { FleetSnapshot, Host, OperationKind } from '../provider/types.js';
import type { HistoryEvent } from '../simulator/history.js';
import type { ActionRecord, PairPhase } from '../shared/pair.js';

export type ChaosViolationKind =
  | 'workload-lost'
  | 'workload-running-twice'
  | 'two-unfenced-primaries'
  | 'pair-not-steady'
  | 'acted-during-metrics-outage'
  | 'double-action'
  | 'message-lost'
  | 'simulator-invariant';

export interface ChaosViolation {
  kind: ChaosViolationKind;
  message: string;
}

/** A pair as its workflow reports it (the `state` query), reduced to what the checks read. */
export interface PairView {
  pairId: string;
  phase: PairPhase;
  primaryHostId: string;
  shadowHostId?: string;
}

/**
 * Workloads: each of `workloadIds` must exist, sit on an active host, and be listed on exactly that one host.
 * Primaries: per pair, at most one primary that is not fenced or decommissioned (a failed one may come back).
 */
export function checkFleet(fleet: FleetSnapshot, workloadIds: readonly string[]): ChaosViolation[] {
  const violations: ChaosViolation[] = [];
  const hosts = new Map(fleet.hosts.map((h) => [h.id, h]));
  const listedOn = new Map<string, string[]>();
  for (const host of fleet.hosts) {
    for (const id of host.workloadIds) listedOn.set(id, [...(listedOn.get(id) ?? []), host.id]);
  }
  for (const id of workloadIds) {
    const records = fleet.workloads.filter((w) => w.id === id);
    const listed = listedOn.get(id) ?? [];
    if (records.length === 0) {
      violations.push({ kind: 'workload-lost', message: `workload ${id} no longer exists in the provider` });
      continue;
    }
    if (records.length > 1 || listed.length > 1) {
      violations.push({
        kind: 'workload-running-twice',
        message: `workload ${id} runs on ${listed.length} hosts (${listed.join(', ')})`,
      });
      continue;
    }
    const host = hosts.get(records[0]!.hostId);
    if (!host || host.status !== 'active' || listed[0] !== host.id) {
      violations.push({
        kind: 'workload-lost',
        message: `workload ${id} is on ${records[0]!.hostId} (${host?.status ?? 'missing'}), listed on [${listed.join(', ')}]: not running`,
      });
    }
  }
  const unfencedPrimaries = new Map<string, Host[]>();
  for (const host of fleet.hosts) {
    if (host.pairId === undefined || host.role !== 'primary') continue;
    if (host.status === 'fenced' || host.status === 'decommissioned') continue;
    unfencedPrimaries.set(host.pairId, [...(unfencedPrimaries.get(host.pairId) ?? []), host]);
  }
  for (const [pairId, primaries] of unfencedPrimaries) {
    if (primaries.length > 1) {
      violations.push({
        kind: 'two-unfenced-primaries',
        message: `pair ${pairId} has ${primaries.length} unfenced primaries: ${primaries.map((h) => `${h.id} (${h.status})`).join(', ')}`,
      });
    }
  }
  return violations;
}

/**
 * Steady: the workflow says `steady` with a shadow, and the provider agrees: the primary is an active primary and
 * the shadow a healthy standby shadow.
 */
export function checkSteady(fleet: FleetSnapshot, pairs: readonly PairView[]): ChaosViolation[] {
  const hosts = new Map(fleet.hosts.map((h) => [h.id, h]));
  const violations: ChaosViolation[] = [];
  for (const pair of pairs) {
    const problem = (() => {
      if (pair.phase !== 'steady') return `phase ${pair.phase}`;
      if (!pair.shadowHostId) return 'no shadow';
      const primary = hosts.get(pair.primaryHostId);
      if (primary?.role !== 'primary' || primary.status !== 'active')
        return `primary ${pair.primaryHostId} is ${primary ? `${primary.role} ${primary.status}` : 'missing'}`;
      const shadow = hosts.get(pair.shadowHostId);
      if (shadow?.role !== 'shadow' || shadow.status !== 'inactive')
        return `shadow ${pair.shadowHostId} is ${shadow ? `${shadow.role} ${shadow.status}` : 'missing'}`;
      return undefined;
    })();
    if (problem) violations.push({ kind: 'pair-not-steady', message: `pair ${pair.pairId}: ${problem}` });
  }
  return violations;
}

/** A pair's action history (the `state` query's `recentActions`) when a metrics outage began and when it ended. */
export interface OutageActions {
  pairId: string;
  before: readonly ActionRecord[];
  after: readonly ActionRecord[];
}

/**
 * No pair may fail over or scale while its metrics are down: no fault was injected besides the outage, so any
 * action the pairs recorded between its start and its end was taken on missing data.
 */
export function checkNoActionDuringOutage(pairs: readonly OutageActions[]): ChaosViolation[] {
  const violations: ChaosViolation[] = [];
  for (const pair of pairs) {
    const known = new Set(pair.before.map((a) => JSON.stringify(a)));
    const taken = pair.after.filter((a) => !known.has(JSON.stringify(a)));
    for (const action of taken) {
      violations.push({
        kind: 'acted-during-metrics-outage',
        message: `pair ${pair.pairId} ran ${action.kind} (${action.outcome}) while InfluxDB was down: ${action.detail}`,
      });
    }
  }
  return violations;
}

/** Provider operations that change which host serves what: failing over or scaling shows as one of these. */
const ACTING_OPERATIONS: readonly OperationKind[] = [
  'provisionHost',
  'activateShadow',
  'resizeHost',
  'scaleUpShadow',
  'deactivateShadow',
  'setRole',
  'fenceHost',
  'migrateWorkload',
];

/**
 * The same rule as the infrastructure saw it: no acting operation may start between the outage's start and end
 * (simulated ms, the provider's clock), whatever the pairs' own records say.
 */
export function checkNoOperationDuringOutage(
  events: readonly HistoryEvent[],
  outage: { startMs: number; endMs: number },
): ChaosViolation[] {
  return events.flatMap((e) =>
    e.kind === 'operation' &&
    ACTING_OPERATIONS.includes(e.operation) &&
    e.startedAtMs >= outage.startMs &&
    e.startedAtMs <= outage.endMs
      ? [
          {
            kind: 'acted-during-metrics-outage' as const,
            message: `the provider ran ${e.operation} on ${e.hostId ?? e.workloadId ?? '?'} (pair ${e.pairId ?? '?'}) while InfluxDB was down`,
          },
        ]
      : [],
  );
}
