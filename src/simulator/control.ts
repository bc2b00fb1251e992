/**
 * A client for the simulator's control endpoints (`/sim/*`): faults, the clock, workloads, traces, bulk seeding.
 * Used by the tests, the benchmark and the demo; never by activities (a real platform has no such switches).
 */
import { HttpFleetProvider, type HttpFleetProviderOptions } from '../provider/client.js';
import type { Capacity, DemandProfile, Host, Workload } from '../provider/types.js';
import type { TraceSummary } from './demand.js';
import type { Delays, FaultSettings, ReplicationSettings, UtilisationSample } from './fleet.js';
import type { HealthCheckGaps } from './healthCheckLog.js';
import type { HistoryEvent, HistoryPage } from './history.js';
import type { WriterStats } from './telegraf.js';

export interface SimulatorStatus {
  ok: boolean;
  now: string;
  speed: number;
  hosts: number;
  workloads: number;
  metricsIntervalSeconds: number;
  metrics?: WriterStats & { database?: string };
  delays: Delays;
  faults: FaultSettings;
  replication: ReplicationSettings;
  downZones: string[];
  downRegions: string[];
  flapping: string[];
}

export class SimulatorControl {
  private readonly http: HttpFleetProvider;

  constructor(options: HttpFleetProviderOptions) {
    this.http = new HttpFleetProvider({ requestTimeoutMs: 60_000, ...options });
  }

  private host(hostId: string, action: string, body?: unknown): Promise<Host> {
    return this.http.request<Host>('POST', `/sim/hosts/${encodeURIComponent(hostId)}/${action}`, body ?? {});
  }

  status = () => this.http.request<SimulatorStatus>('GET', '/sim/status');
  setSpeed = (speed: number) => this.http.request<SimulatorStatus>('PUT', '/sim/clock', { speed });
  /** Jumps the simulated clock forward, running everything due on the way (operations, metrics). */
  advance = (seconds: number) => this.http.request<SimulatorStatus>('POST', '/sim/clock/advance', { seconds });
  /** One page of the fleet's history after `afterSeq` (see ./history.ts). */
  historyPage = (afterSeq = 0) => this.http.request<HistoryPage>('GET', `/sim/history?afterSeq=${afterSeq}`);
  /** Every event after `afterSeq` still held, page by page. */
  history = async (afterSeq = 0): Promise<HistoryEvent[]> => {
    const events: HistoryEvent[] = [];
    for (let seq = afterSeq; ;) {
      const page = await this.historyPage(seq);
      events.push(...page.events);
      if (page.events.length === 0 || page.lastSeq === seq) return events;
      seq = page.lastSeq;
    }
  };
  /** Gaps between the batched health checks of each host since the last reset (./healthCheckLog.ts). */
  healthCheckGaps = () => this.http.request<HealthCheckGaps>('GET', '/sim/health-checks');
  resetHealthCheckGaps = () => this.http.request<HealthCheckGaps>('DELETE', '/sim/health-checks');
  setDelays = (delays: Partial<Delays>) => this.http.request<Delays>('PUT', '/sim/delays', delays);
  setApiFaults = (faults: Partial<FaultSettings>) => this.http.request<FaultSettings>('PUT', '/sim/faults/api', faults);
  setReplication = (settings: Partial<ReplicationSettings>) =>
    this.http.request<ReplicationSettings>('PUT', '/sim/replication', settings);

  failHost = (hostId: string) => this.host(hostId, 'fail');
  recoverHost = (hostId: string) => this.host(hostId, 'recover');
  flapHost = (hostId: string, periodSeconds: number) => this.host(hostId, 'flap', { periodSeconds });
  stopFlapping = (hostId: string) => this.host(hostId, 'stop-flapping');
  degradeHost = (hostId: string, capacity: Partial<Capacity>) => this.host(hostId, 'degrade', { capacity });
  /** The host crashes on applying a configuration holding `values`; undefined clears the fault. */
  setFaultyConfiguration = (hostId: string, values?: Record<string, string | number | boolean>) =>
    this.host(hostId, 'faulty-configuration', { values });
  failZone = (region: string, zone: string) =>
    this.http.request<{ affectedHostIds: string[] }>('POST', '/sim/zones/fail', { region, zone });
  recoverZone = (region: string, zone: string) =>
    this.http.request<{ affectedHostIds: string[] }>('POST', '/sim/zones/recover', { region, zone });
  failRegion = (region: string) =>
    this.http.request<{ affectedHostIds: string[] }>('POST', '/sim/regions/fail', { region });
  recoverRegion = (region: string) =>
    this.http.request<{ affectedHostIds: string[] }>('POST', '/sim/regions/recover', { region });

  createWorkload = (input: { workloadId: string; hostId: string; requirements: Capacity; demand: DemandProfile }) =>
    this.http.request<Workload>('POST', '/sim/workloads', input);
  uploadTrace = (traceId: string, csv: string) =>
    this.http.request<TraceSummary>('PUT', `/sim/traces/${encodeURIComponent(traceId)}`, undefined, csv);
  traceSummary = (traceId: string) =>
    this.http.request<TraceSummary>('GET', `/sim/traces/${encodeURIComponent(traceId)}`);
  utilisation = (hostId: string) =>
    this.http.request<UtilisationSample>('GET', `/sim/hosts/${encodeURIComponent(hostId)}/utilisation`);
  seed = (input: {
    prefix: string;
    count: number;
    regions: string[];
    capacity: Capacity;
    workload?: { requirements: Capacity; demand: DemandProfile };
    role?: 'primary' | 'shadow';
    allocationFraction?: number;
  }) => this.http.request<{ hostIds: string[] }>('POST', '/sim/seed', input);
}
