/**
 * Crafted fleets and metric windows for the observation tests (observePair, the shard observer): hosts and
 * workloads of a pair, two days of utilisation with a chosen tail, and a provider and metrics store that answer from
 * them and keep what is written.
 */
import { configSchema } from '../../src/config/schema.js';
import type {
  AnomalyEvent,
  DecisionPoint,
  MetricsStore,
  PairDemandPoint,
  PairDemandQuery,
  UtilisationWindow,
} from '../../src/metrics/types.js';
import type { ScalingPolicy } from '../../src/policy/types.js';
import type { FleetProvider, FleetSnapshot, Host } from '../../src/provider/types.js';

export const STEP_MS = 300_000;
export type ForecastPeakLike = { resource: string; horizonMinutes: number; peakPercent: number; upperPercent?: number };
export const NOW = Date.UTC(2026, 10, 28, 12, 0, 0);
export const STEPS = 576; // two days, as the observer reads
export const CAPACITY = { cpuCores: 16, memoryGiB: 64, storageIops: 8_000, networkMbps: 10_000 };
/** The default policy, as a pair gets it when its config says nothing. */
export const POLICY: ScalingPolicy = configSchema.parse({}).policy;

export const host = (
  id: string,
  role: Host['role'],
  status: Host['status'],
  allocationFraction: number,
  workloadIds: string[],
  pairId = 'pair-obs',
): Host => ({
  id,
  region: role === 'primary' ? 'eu-west' : 'us-east',
  zone: role === 'primary' ? 'eu-west-a' : 'us-east-a',
  capacity: CAPACITY,
  allocationFraction,
  role,
  status,
  pairId,
  workloadIds,
  dataVersion: 1,
  createdAt: new Date(NOW - 3 * 86_400_000).toISOString(),
  updatedAt: new Date(NOW).toISOString(),
});

export const workload = (id: string, hostId: string) => ({
  id,
  requirements: { cpuCores: 4, memoryGiB: 16, storageIops: 2_000, networkMbps: 2_500 },
  demand: { kind: 'synthetic' as const, base: 0.5 },
  hostId,
  createdAt: new Date(NOW - 3 * 86_400_000).toISOString(),
});

/** A flat, slightly noisy cpu at `level`, with `tail` replacing the newest steps; the other resources stay quiet. */
export function windowsFor(hostId: string, level: number, tail: number[] = []): UtilisationWindow[] {
  const start = new Date(NOW - (STEPS - 1) * STEP_MS).toISOString();
  return (['cpu', 'memory', 'storage', 'network'] as const).map((resource) => {
    const values: number[] = Array.from({ length: STEPS }, (_, i) => (resource === 'cpu' ? level : 20) + (i % 3));
    if (resource === 'cpu') tail.forEach((v, k) => (values[STEPS - tail.length + k] = v));
    return {
      hostId,
      resource,
      start,
      stepSeconds: 300,
      values,
      lastSampleAt: new Date(NOW).toISOString(),
      issues: [],
    };
  });
}

export function observeWith(
  fleet: FleetSnapshot,
  windows: Record<string, UtilisationWindow[]>,
  writeForecasts: MetricsStore['writeForecasts'] = () => Promise.resolve(),
  /** The pair's recorded demand, as InfluxDB keeps it: one point per pair, resource and step. */
  pairDemand = new Map<string, PairDemandPoint>(),
) {
  const anomalies: AnomalyEvent[] = [];
  const decisions: DecisionPoint[] = [];
  let utilisationReads = 0;
  /** The `after` of each newest-sample read (undefined: an open one). */
  const newestReadsAfter: (number | undefined)[] = [];
  const pointKey = (p: PairDemandPoint) => `${p.pairId}|${p.resource}|${p.time.getTime()}`;
  const provider = {
    describeFleet: () => Promise.resolve(fleet),
    getHost: (id: string) => Promise.resolve(fleet.hosts.find((h) => h.id === id)!),
  } as unknown as FleetProvider;
  const metrics = {
    readUtilisation: (query: { hosts: { hostId: string }[] }) => {
      utilisationReads += 1;
      return Promise.resolve(query.hosts.flatMap((h) => windows[h.hostId] ?? []));
    },
    // Every crafted window ends at NOW: the data never moves on unless a test says so.
    latestSampleTime: (_hostIds: string[], after?: Date) => {
      newestReadsAfter.push(after?.getTime());
      return Promise.resolve(after !== undefined && after.getTime() >= NOW ? undefined : new Date(NOW));
    },
    writeAnomalies: (events: AnomalyEvent[]) => {
      anomalies.push(...events);
      return Promise.resolve();
    },
    writeForecasts,
    writeDecisions: (points: DecisionPoint[]) => {
      decisions.push(...points);
      return Promise.resolve();
    },
    writePairDemand: (points: PairDemandPoint[]) => {
      for (const p of points) pairDemand.set(pointKey(p), p);
      return Promise.resolve();
    },
    readPairDemand: (query: PairDemandQuery) =>
      Promise.resolve(
        [...pairDemand.values()].filter(
          (p) => query.pairIds.includes(p.pairId) && p.time >= query.start && p.time < query.end,
        ),
      ),
  } as unknown as MetricsStore;
  return {
    provider,
    metrics,
    anomalies,
    pairDemand,
    decisions,
    utilisationReads: () => utilisationReads,
    newestReadsAfter,
  };
}
