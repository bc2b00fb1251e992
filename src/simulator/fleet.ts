/**
 * The simulated fleet: hosts, workloads, replicated data, operations and faults, advanced along a simulated clock.
 * It owns the rules (what each action needs, how long it takes, what it changes) and the invariant checker; the HTTP
 * server (./server.ts) validates request shapes, persistence (./persistence.ts) stores `FleetState` as is.
 *
 * Every action checks the fleet's state before it changes anything, so a refused request leaves the fleet as it was.
 * Operations take effect when they finish; one that fails part-way (its host failed, an injected failure) undoes
 * what it had reserved and releases its idempotency key.
 */
import { canonicalJson, configurationHash } from '../provider/canonical.js';
import type {
  ActivateShadowRequest,
  AppliedConfiguration,
  Capacity,
  DataLossRecord,
  DeactivateShadowRequest,
  FleetSnapshot,
  HealthReport,
  HealthReports,
  Host,
  HostActionRequest,
  HostRole,
  HostStatus,
  InvariantReport,
  InvariantViolation,
  MigrateWorkloadRequest,
  MigrationResult,
  Operation,
  OperationKind,
  OperationResults,
  ProvisionHostRequest,
  ReplicationRequest,
  ReplicationStatus,
  Resource,
  ResizeHostRequest,
  SetRoleRequest,
  StartReplicationRequest,
  SyncConfigurationRequest,
  Workload,
} from '../provider/types.js';
import { HEALTHY_STATUSES } from '../provider/types.js';
import { syntheticDemand, traceDemand, type Trace } from './demand.js';
import { SimulatorError, conflict, notFound } from './errors.js';
import {
  advanceCounters,
  hostUtilisation,
  zeroCounters,
  type HostCounters,
  type UtilisationSample,
} from './utilisation.js';
import { History, emptyHistory, type HistoryState } from './history.js';

export { zeroCounters, type HostCounters, type UtilisationSample } from './utilisation.js';

export interface Delays {
  provisionSeconds: number;
  activateSeconds: number;
  resizeSeconds: number;
  roleChangeSeconds: number;
  fenceSeconds: number;
  decommissionSeconds: number;
  migrateBaseSeconds: number;
  migrateSecondsPerGiB: number;
  configSyncSeconds: number;
  replicationStartSeconds: number;
}

export const DEFAULT_DELAYS: Delays = {
  provisionSeconds: 90,
  activateSeconds: 2,
  resizeSeconds: 2,
  roleChangeSeconds: 1,
  fenceSeconds: 1,
  decommissionSeconds: 5,
  migrateBaseSeconds: 1,
  migrateSecondsPerGiB: 2,
  configSyncSeconds: 1,
  replicationStartSeconds: 3,
};

export interface FaultSettings {
  /** Real milliseconds added to every provider API call. */
  apiLatencyMs: number;
  /** Share of provider API calls refused with 503 before they act. */
  apiErrorRate: number;
  /** Share of operations that fail part-way (and undo themselves). */
  actionFailureRate: number;
}

export interface ReplicationSettings {
  /** Data versions an active primary writes per simulated second. */
  writesPerSecond: number;
  /** How far (simulated seconds) a replica trails its source. */
  lagSeconds: number;
}

type FailureCause = 'host' | 'zone' | 'region' | 'flap' | 'configuration';

export interface HostRecord extends Host {
  /** Fractional internally; reported floored. */
  dataVersion: number;
  statusBeforeFailure?: HostStatus;
  failureCause?: FailureCause;
  /** Simulated ms of the last write, for replicas catching up after writes stop. */
  lastWriteMs?: number;
  /** Simulated ms `dataVersion` was last brought up to (absent in state files written before: the file's clock). */
  dataAtMs?: number;
  counters: HostCounters;
  /** A fault: the host crashes on applying a configuration holding these values (until another one is applied). */
  crashesOnConfiguration?: Record<string, string | number | boolean>;
}

export interface WorkloadRecord extends Workload {
  createdAtMs: number;
}

export interface OperationRecord extends Operation {
  fingerprint: string;
  params: Record<string, unknown>;
  startedAtMs: number;
  finishesAtMs: number;
  /** A migration whose source was already failed or fenced: a restore from the replica, not a live move. */
  sourceDownAtStart?: boolean;
}

export interface FleetState {
  formatVersion: 1;
  simulatedMs: number;
  seq: number;
  hosts: Record<string, HostRecord>;
  workloads: Record<string, WorkloadRecord>;
  operations: Record<string, OperationRecord>;
  /** Idempotency key → operation id, for operations that are running or succeeded. */
  idempotency: Record<string, string>;
  /** Replica host id → its source host id. */
  replication: Record<string, string>;
  dataLoss: DataLossRecord[];
  delays: Delays;
  faults: FaultSettings;
  replicationSettings: ReplicationSettings;
  downZones: string[];
  downRegions: string[];
  flapping: Record<string, { periodSeconds: number; nextToggleMs: number }>;
  /** What happened, for `GET /sim/history` (absent in state files written before it existed). */
  history?: HistoryState;
}

export function initialFleetState(simulatedMs: number): FleetState {
  return {
    formatVersion: 1,
    simulatedMs,
    seq: 0,
    hosts: {},
    workloads: {},
    operations: {},
    idempotency: {},
    replication: {},
    dataLoss: [],
    delays: { ...DEFAULT_DELAYS },
    faults: { apiLatencyMs: 0, apiErrorRate: 0, actionFailureRate: 0 },
    replicationSettings: { writesPerSecond: 10, lagSeconds: 2 },
    downZones: [],
    downRegions: [],
    flapping: {},
  };
}

const CAPACITY_KEYS: Record<Resource, keyof Capacity> = {
  cpu: 'cpuCores',
  memory: 'memoryGiB',
  storage: 'storageIops',
  network: 'networkMbps',
};
const emptyCapacity = (): Capacity => ({ cpuCores: 0, memoryGiB: 0, storageIops: 0, networkMbps: 0 });
const addRequirements = (total: Capacity, workload: WorkloadRecord): void => {
  for (const key of Object.values(CAPACITY_KEYS)) total[key] += workload.requirements[key];
};
const CAPACITY_UNITS: Record<keyof Capacity, string> = {
  cpuCores: 'cores',
  memoryGiB: 'GiB',
  storageIops: 'IOPS',
  networkMbps: 'Mbps',
};

/** Kinds that change a host's size, role or existence: one at a time per host. */
const EXCLUSIVE_KINDS: readonly OperationKind[] = [
  'provisionHost',
  'activateShadow',
  'resizeHost',
  'scaleUpShadow',
  'deactivateShadow',
  'setRole',
  'decommissionHost',
];

export const DEFAULT_SHADOW_FRACTION = 0.15;
const CAPACITY_EPSILON = 1e-9;
/**
 * Operations remembered (for idempotent replays) before the oldest finished ones are forgotten. The whole state is
 * rewritten on every change, so this bounds the file as much as memory: 20,000 operations are a few MB.
 */
const MAX_FINISHED_OPERATIONS = 20_000;

const iso = (ms: number): string => new Date(ms).toISOString();

export interface MetricsSink {
  /** Called at every metrics boundary with the hosts that report (active or inactive). */
  emit(timeMs: number, intervalMs: number, hosts: { host: HostRecord; utilisation: UtilisationSample }[]): void;
}

export class Fleet {
  /** Ids of running operations: the clock checks these on every tick, not the whole (long) operation history. */
  private readonly running = new Set<string>();
  /** Source host id → the ids of its replicas: `state.replication` the other way round, kept beside it. */
  private readonly replicasOf = new Map<string, Set<string>>();
  private operationCount: number;
  readonly history: History;

  constructor(
    readonly state: FleetState,
    private readonly traces: Map<string, Trace>,
    private readonly metricsIntervalMs: number,
    private readonly sink?: MetricsSink,
    private readonly random: () => number = Math.random,
  ) {
    for (const op of Object.values(state.operations)) if (op.status === 'running') this.running.add(op.id);
    this.operationCount = Object.keys(state.operations).length;
    this.history = new History((state.history ??= emptyHistory()));
    for (const [replicaId, sourceId] of Object.entries(state.replication)) this.linkReplica(replicaId, sourceId);
    for (const host of Object.values(state.hosts)) host.dataAtMs ??= state.simulatedMs;
  }

  private linkReplica(replicaId: string, sourceId: string): void {
    this.unlinkReplica(replicaId);
    this.state.replication[replicaId] = sourceId;
    let replicas = this.replicasOf.get(sourceId);
    if (!replicas) this.replicasOf.set(sourceId, (replicas = new Set()));
    replicas.add(replicaId);
  }

  private unlinkReplica(replicaId: string): void {
    const sourceId = this.state.replication[replicaId];
    if (sourceId === undefined) return;
    delete this.state.replication[replicaId];
    const replicas = this.replicasOf.get(sourceId);
    replicas?.delete(replicaId);
    if (replicas?.size === 0) this.replicasOf.delete(sourceId);
  }

  private nextMetricsMs(): number {
    return (Math.floor(this.state.simulatedMs / this.metricsIntervalMs) + 1) * this.metricsIntervalMs;
  }

  // ---- the clock ------------------------------------------------------------------------------------------------

  /**
   * Moves simulated time to `toMs`, in order: flapping hosts toggle, operations finish, and at every metrics boundary
   * each reporting host's utilisation goes to the sink. Data versions follow the clock lazily (`settleData`).
   */
  advance(toMs: number): void {
    if (toMs <= this.state.simulatedMs) return;
    for (;;) {
      const nextMetrics = this.sink ? this.nextMetricsMs() : Number.POSITIVE_INFINITY;
      const nextFlap = Math.min(...Object.values(this.state.flapping).map((f) => f.nextToggleMs), Infinity);
      const dueOperations = this.dueOperations(toMs);
      const nextOperation = dueOperations[0]?.finishesAtMs ?? Number.POSITIVE_INFINITY;
      const next = Math.min(nextMetrics, nextFlap, nextOperation);
      if (next > toMs) break;
      this.advanceContinuous(next);
      if (nextFlap === next) this.toggleFlapping(next);
      for (const op of dueOperations) if (op.finishesAtMs <= next) this.finish(op);
      if (nextMetrics === next && this.sink) this.emitMetrics(next);
    }
    this.advanceContinuous(toMs);
  }

  private dueOperations(toMs: number): OperationRecord[] {
    const due: OperationRecord[] = [];
    for (const id of this.running) {
      const op = this.state.operations[id];
      if (op && op.status === 'running' && op.finishesAtMs <= toMs) due.push(op);
    }
    return due.sort((a, b) => a.finishesAtMs - b.finishesAtMs || (a.id < b.id ? -1 : 1));
  }

  /**
   * The clock between events. Data versions are not touched here: the simulator ticks ten times a second and answers
   * every request at the newest time, and moving 20,000 hosts' versions on each took 30–60 ms of its one thread.
   */
  private advanceContinuous(toMs: number): void {
    if (toMs > this.state.simulatedMs) this.state.simulatedMs = toMs;
  }

  /**
   * Brings a host's data version up to the clock: an active primary writes continuously, a replica receives what its
   * source wrote `lag` seconds ago while both are up. Over an interval in which neither the host nor its source
   * changed, one step comes to what many small ones would, so versions are worked out only where read, and before a
   * host or its source changes (`settleAround`).
   */
  private settleData(host: HostRecord): void {
    const toMs = this.state.simulatedMs;
    const fromMs = host.dataAtMs ?? toMs;
    host.dataAtMs = toMs;
    if (fromMs >= toMs) return;
    const { writesPerSecond, lagSeconds } = this.state.replicationSettings;
    if (host.role === 'primary' && host.status === 'active') {
      host.dataVersion += (writesPerSecond * (toMs - fromMs)) / 1000;
      host.lastWriteMs = toMs;
    }
    const sourceId = this.state.replication[host.id];
    const source = sourceId === undefined ? undefined : this.state.hosts[sourceId];
    if (!source || !isHealthy(host.status) || !isHealthy(source.status)) return;
    this.settleData(source);
    const sinceLastWrite = (toMs - (source.lastWriteMs ?? 0)) / 1000;
    const inFlight = writesPerSecond * Math.max(0, lagSeconds - sinceLastWrite);
    host.dataVersion = Math.max(host.dataVersion, source.dataVersion - inFlight);
  }

  /** Before a host changes: it, its source and its replicas (whose catching up depends on it) are brought up to now. */
  private settleAround(host: HostRecord): void {
    this.settleData(host);
    for (const replicaId of this.replicasOf.get(host.id) ?? []) {
      const replica = this.state.hosts[replicaId];
      if (replica) this.settleData(replica);
    }
  }

  /** Every host up to now: before the replication settings change, which every version follows. */
  private settleAll(): void {
    for (const host of Object.values(this.state.hosts)) this.settleData(host);
  }

  setReplicationSettings(settings: Partial<ReplicationSettings>): ReplicationSettings {
    this.settleAll();
    return Object.assign(this.state.replicationSettings, settings);
  }

  private toggleFlapping(atMs: number): void {
    for (const [hostId, flap] of Object.entries(this.state.flapping)) {
      if (flap.nextToggleMs > atMs) continue;
      const host = this.state.hosts[hostId];
      flap.nextToggleMs = atMs + flap.periodSeconds * 1000;
      if (!host || !['active', 'inactive', 'failed'].includes(host.status)) {
        delete this.state.flapping[hostId];
        continue;
      }
      if (host.status === 'failed') this.recoverHostRecord(host);
      else this.failHostRecord(host, 'flap');
    }
  }

  // ---- metrics --------------------------------------------------------------------------------------------------

  demandOf(workload: WorkloadRecord, timeMs: number): number {
    const profile = workload.demand;
    if (profile.kind === 'synthetic') return syntheticDemand(profile, timeMs, workload.createdAtMs);
    const trace = this.traces.get(profile.traceId);
    return trace ? traceDemand(profile, trace, timeMs, workload.createdAtMs) : 0;
  }

  utilisationOf(host: HostRecord, timeMs: number): UtilisationSample {
    const load = host.workloadIds.flatMap((workloadId) => {
      const workload = this.state.workloads[workloadId];
      return workload ? [{ requirements: workload.requirements, demand: this.demandOf(workload, timeMs) }] : [];
    });
    return hostUtilisation(host, load, this.state.replication[host.id] !== undefined);
  }

  private emitMetrics(timeMs: number): void {
    const reporting: { host: HostRecord; utilisation: UtilisationSample }[] = [];
    for (const host of Object.values(this.state.hosts)) {
      if (host.status !== 'active' && host.status !== 'inactive') continue; // a dead host's agent reports nothing
      const utilisation = this.utilisationOf(host, timeMs);
      advanceCounters(host, utilisation, this.metricsIntervalMs);
      reporting.push({ host, utilisation });
    }
    this.sink?.emit(timeMs, this.metricsIntervalMs, reporting);
  }

  // ---- reads ----------------------------------------------------------------------------------------------------

  host(hostId: string): HostRecord {
    const host = this.state.hosts[hostId];
    if (!host) throw notFound('host', hostId);
    return host;
  }

  workload(workloadId: string): WorkloadRecord {
    const workload = this.state.workloads[workloadId];
    if (!workload) throw notFound('workload', workloadId);
    return workload;
  }

  operation(operationId: string): Operation {
    const op = this.state.operations[operationId];
    if (!op) throw notFound('operation', operationId);
    return this.publicOperation(op);
  }

  publicHost(host: HostRecord): Host {
    this.settleData(host);
    const rest: Partial<HostRecord> = { ...host };
    for (const internal of [
      'statusBeforeFailure',
      'failureCause',
      'lastWriteMs',
      'dataAtMs',
      'counters',
      'crashesOnConfiguration',
    ] as const) {
      delete rest[internal];
    }
    return { ...(rest as Host), workloadIds: [...host.workloadIds], dataVersion: Math.floor(host.dataVersion) };
  }

  publicWorkload(workload: WorkloadRecord): Workload {
    const rest: Partial<WorkloadRecord> = { ...workload };
    delete rest.createdAtMs;
    return rest as Workload;
  }

  publicOperation(op: OperationRecord): Operation {
    const { startedAtMs, finishesAtMs } = op;
    const rest: Partial<OperationRecord> = { ...op };
    for (const internal of ['fingerprint', 'params', 'startedAtMs', 'finishesAtMs', 'sourceDownAtStart'] as const) {
      delete rest[internal];
    }
    const span = finishesAtMs - startedAtMs;
    const progress =
      op.status === 'running'
        ? Math.min(0.99, span <= 0 ? 0 : (this.state.simulatedMs - startedAtMs) / span)
        : op.status === 'succeeded'
          ? 1
          : op.progress;
    return { ...(rest as Operation), progress: Math.round(progress * 1000) / 1000 };
  }

  /** The whole fleet, or only the hosts named (unknown ids left out) and the workloads on them. */
  snapshot(hostIds?: string[]): FleetSnapshot {
    const hosts = hostIds
      ? hostIds.flatMap((id) => (this.state.hosts[id] ? [this.state.hosts[id]] : []))
      : Object.values(this.state.hosts);
    const workloads = hostIds
      ? hosts.flatMap((h) =>
          h.workloadIds.flatMap((id) => (this.state.workloads[id] ? [this.state.workloads[id]] : [])),
        )
      : Object.values(this.state.workloads);
    return {
      now: iso(this.state.simulatedMs),
      hosts: hosts.map((h) => this.publicHost(h)),
      workloads: workloads.map((w) => this.publicWorkload(w)),
    };
  }

  /** Unknown ids are listed apart: a watcher must not count a host it asked about wrongly as a failed one. */
  healthCheckMany(hostIds: string[]): HealthReports {
    const reports: HealthReport[] = [];
    const unknown: string[] = [];
    for (const hostId of hostIds) {
      if (this.state.hosts[hostId]) reports.push(this.healthCheck(hostId));
      else unknown.push(hostId);
    }
    return { checkedAt: iso(this.state.simulatedMs), reports, unknown };
  }

  healthCheck(hostId: string): HealthReport {
    const host = this.host(hostId);
    return {
      hostId,
      healthy: isHealthy(host.status),
      status: host.status,
      role: host.role,
      checkedAt: iso(this.state.simulatedMs),
    };
  }

  verifyReplication({ sourceHostId, targetHostId }: ReplicationRequest): ReplicationStatus {
    const source = this.host(sourceHostId);
    const target = this.host(targetHostId);
    const linked = this.state.replication[targetHostId] === sourceHostId;
    this.settleData(source);
    this.settleData(target);
    const sourceVersion = Math.floor(source.dataVersion);
    const targetVersion = Math.floor(target.dataVersion);
    const lagVersions = Math.max(0, sourceVersion - targetVersion);
    const state: ReplicationStatus['state'] = !linked
      ? 'not-replicating'
      : !isHealthy(source.status) || !isHealthy(target.status)
        ? 'broken'
        : lagVersions === 0
          ? 'caught-up'
          : 'streaming';
    return {
      sourceHostId,
      targetHostId,
      state,
      sourceVersion,
      targetVersion,
      lagVersions,
      lagSeconds: lagVersions / this.state.replicationSettings.writesPerSecond,
      checkedAt: iso(this.state.simulatedMs),
    };
  }

  invariants(): InvariantReport {
    const violations: InvariantViolation[] = [];
    // Linear in the fleet: the benchmarks check a fleet of 20,000 hosts every 250 ms.
    const listings = new Map<string, number>();
    for (const host of Object.values(this.state.hosts)) {
      for (const id of host.workloadIds) listings.set(id, (listings.get(id) ?? 0) + 1);
    }
    const listedOn = (workloadId: string): string[] =>
      Object.values(this.state.hosts)
        .filter((h) => h.workloadIds.includes(workloadId))
        .map((h) => h.id);
    for (const workload of Object.values(this.state.workloads)) {
      const host = this.state.hosts[workload.hostId];
      if (!host || host.status !== 'active') {
        violations.push({
          kind: 'workload-not-on-healthy-active-host',
          workloadId: workload.id,
          hostId: workload.hostId,
          ...(host ? { hostStatus: host.status } : {}),
          message: `workload ${workload.id} runs on host ${workload.hostId}, which is ${host ? host.status : 'missing'}`,
        });
      } else if (listings.get(workload.id) !== 1) {
        const hosts = listedOn(workload.id);
        violations.push({
          kind: 'workload-not-on-healthy-active-host',
          workloadId: workload.id,
          hostId: workload.hostId,
          hostStatus: host.status,
          message: `workload ${workload.id} is listed on ${hosts.length} hosts (${hosts.join(', ')}), not exactly one`,
        });
      }
    }
    const primariesByPair = new Map<string, string[]>();
    for (const host of Object.values(this.state.hosts)) {
      if (host.pairId === undefined || host.role !== 'primary') continue;
      if (host.status === 'fenced' || host.status === 'decommissioned') continue;
      const primaries = primariesByPair.get(host.pairId);
      if (primaries) primaries.push(host.id);
      else primariesByPair.set(host.pairId, [host.id]);
    }
    for (const [pairId, hostIds] of primariesByPair) {
      if (hostIds.length > 1) {
        violations.push({
          kind: 'two-unfenced-primaries',
          pairId,
          hostIds,
          message: `pair ${pairId} has ${hostIds.length} unfenced primaries: ${hostIds.join(', ')}`,
        });
      }
    }
    const reserved = this.reservationsByHost();
    for (const host of Object.values(this.state.hosts)) {
      if (host.status !== 'active' && host.status !== 'inactive') continue;
      const used = reserved.get(host.id) ?? emptyCapacity();
      for (const [resource, key] of Object.entries(CAPACITY_KEYS) as [Resource, keyof Capacity][]) {
        const allocated = host.capacity[key] * host.allocationFraction;
        if (used[key] > allocated * (1 + CAPACITY_EPSILON) + CAPACITY_EPSILON) {
          const requiredPercent = Math.round((1000 * used[key]) / allocated) / 10;
          violations.push({
            kind: 'capacity-exceeded',
            hostId: host.id,
            resource,
            requiredPercent,
            message:
              `host ${host.id}: workloads reserve ${round(used[key])} ${CAPACITY_UNITS[key]} of ${resource}, ` +
              `${requiredPercent}% of its allocated ${round(allocated)}`,
          });
        }
      }
    }
    return {
      ok: violations.length === 0,
      checkedAt: iso(this.state.simulatedMs),
      violations,
      dataLoss: [...this.state.dataLoss],
    };
  }

  /** Requirements of the workloads on a host plus those migrating onto it. */
  private reservedOn(hostId: string, excludeWorkloadId?: string): Capacity {
    const total = emptyCapacity();
    for (const workload of Object.values(this.state.workloads)) {
      if (workload.id === excludeWorkloadId) continue;
      if (workload.hostId === hostId || workload.migratingTo === hostId) addRequirements(total, workload);
    }
    return total;
  }

  /** reservedOn for every host at once, in one pass over the workloads (the invariant check at fleet scale). */
  private reservationsByHost(): Map<string, Capacity> {
    const reserved = new Map<string, Capacity>();
    const on = (hostId: string): Capacity => {
      let total = reserved.get(hostId);
      if (!total) reserved.set(hostId, (total = emptyCapacity()));
      return total;
    };
    for (const workload of Object.values(this.state.workloads)) {
      addRequirements(on(workload.hostId), workload);
      if (workload.migratingTo !== undefined && workload.migratingTo !== workload.hostId)
        addRequirements(on(workload.migratingTo), workload);
    }
    return reserved;
  }

  /** The first resource on which `extra` does not fit into `host` at `fraction`, as a message; undefined if it fits. */
  private roomProblem(host: HostRecord, fraction: number, extra?: WorkloadRecord): string | undefined {
    const used = this.reservedOn(host.id, extra?.id);
    for (const key of Object.values(CAPACITY_KEYS)) {
      const need = used[key] + (extra ? extra.requirements[key] : 0);
      const allocated = host.capacity[key] * fraction;
      if (need > allocated * (1 + CAPACITY_EPSILON) + CAPACITY_EPSILON) {
        const free = Math.max(0, allocated - used[key]);
        return extra
          ? `workload ${extra.id} needs ${round(extra.requirements[key])} ${CAPACITY_UNITS[key]} (${key}), ` +
              `host ${host.id} has ${round(free)} of ${round(allocated)} free`
          : `its workloads reserve ${round(used[key])} ${CAPACITY_UNITS[key]} (${key}) but allocation ` +
              `${fraction} leaves only ${round(allocated)}`;
      }
    }
    return undefined;
  }

  // ---- actions --------------------------------------------------------------------------------------------------

  /**
   * The idempotency gate every action passes first: a known key with the same arguments returns its operation
   * (`replayed`), with other arguments it is refused; an unknown key runs `start`.
   */
  private act<K extends OperationKind>(
    kind: K,
    request: { idempotencyKey: string },
    start: () => { hostId?: string; workloadId?: string; durationSeconds: number; sourceDownAtStart?: boolean },
  ): { operation: Operation<K>; replayed: boolean } {
    const { idempotencyKey, ...params } = request;
    const fingerprint = canonicalJson({ kind, params });
    const existingId = this.state.idempotency[idempotencyKey];
    const existing = existingId === undefined ? undefined : this.state.operations[existingId];
    if (existing) {
      if (existing.fingerprint !== fingerprint) {
        throw new SimulatorError(
          'idempotency_conflict',
          `idempotency key "${idempotencyKey}" was first used for ${existing.kind} with ${canonicalJson(existing.params)}; ` +
            `it cannot be reused for ${kind} with ${canonicalJson(params)}`,
        );
      }
      return { operation: this.publicOperation(existing) as Operation<K>, replayed: true };
    }
    const target = start();
    const now = this.state.simulatedMs;
    const id = `op-${++this.state.seq}`;
    const op: OperationRecord = {
      id,
      kind,
      idempotencyKey,
      status: 'running',
      progress: 0,
      ...(target.hostId !== undefined ? { hostId: target.hostId } : {}),
      ...(target.workloadId !== undefined ? { workloadId: target.workloadId } : {}),
      startedAt: iso(now),
      expectedFinishAt: iso(now + target.durationSeconds * 1000),
      fingerprint,
      params,
      startedAtMs: now,
      finishesAtMs: now + target.durationSeconds * 1000,
      ...(target.sourceDownAtStart ? { sourceDownAtStart: true } : {}),
    };
    this.state.operations[id] = op;
    this.state.idempotency[idempotencyKey] = id;
    this.running.add(id);
    if (++this.operationCount > MAX_FINISHED_OPERATIONS * 1.1) this.pruneOperations();
    return { operation: this.publicOperation(op) as Operation<K>, replayed: false };
  }

  private pruneOperations(): void {
    const ids = Object.keys(this.state.operations);
    if (ids.length <= MAX_FINISHED_OPERATIONS) return;
    for (const id of ids.slice(0, ids.length - MAX_FINISHED_OPERATIONS)) {
      const op = this.state.operations[id];
      if (!op || op.status === 'running') continue;
      if (this.state.idempotency[op.idempotencyKey] === id) delete this.state.idempotency[op.idempotencyKey];
      delete this.state.operations[id];
    }
    this.operationCount = Object.keys(this.state.operations).length;
  }

  private assertNotBusy(hostId: string): void {
    for (const id of this.running) {
      const op = this.state.operations[id];
      if (op && op.hostId === hostId && EXCLUSIVE_KINDS.includes(op.kind)) {
        throw conflict(`host ${hostId} is busy with operation ${op.id} (${op.kind}) until ${op.expectedFinishAt}`);
      }
    }
  }

  private assertStatus(host: HostRecord, allowed: readonly HostStatus[], action: string): void {
    if (!allowed.includes(host.status)) {
      throw conflict(`cannot ${action} host ${host.id}: it is ${host.status}, and this needs ${allowed.join(' or ')}`);
    }
  }

  private zoneDown(region: string, zone: string): boolean {
    return this.state.downRegions.includes(region) || this.state.downZones.includes(`${region}/${zone}`);
  }

  provisionHost(request: ProvisionHostRequest) {
    return this.act('provisionHost', request, () => {
      const hostId = request.hostId ?? `host-${request.region}-${this.state.seq + 1}`;
      if (this.state.hosts[hostId]) throw conflict(`host id "${hostId}" is already taken`);
      if (this.zoneDown(request.region, request.zone)) {
        throw new SimulatorError(
          'unavailable',
          `zone ${request.region}/${request.zone} is down; cannot provision there`,
        );
      }
      const now = iso(this.state.simulatedMs);
      this.state.hosts[hostId] = {
        id: hostId,
        region: request.region,
        zone: request.zone,
        capacity: { ...request.capacity },
        allocationFraction: request.allocationFraction ?? (request.role === 'shadow' ? DEFAULT_SHADOW_FRACTION : 1),
        role: request.role,
        status: 'provisioning',
        ...(request.pairId !== undefined ? { pairId: request.pairId } : {}),
        workloadIds: [],
        dataVersion: 0,
        dataAtMs: this.state.simulatedMs,
        createdAt: now,
        updatedAt: now,
        counters: zeroCounters(),
      };
      return { hostId, durationSeconds: this.state.delays.provisionSeconds };
    });
  }

  activateShadow(request: ActivateShadowRequest) {
    return this.act('activateShadow', request, () => {
      const host = this.host(request.hostId);
      if (host.role !== 'shadow') throw conflict(`host ${host.id} is a ${host.role}, not a shadow`);
      this.assertStatus(host, ['inactive'], 'activate');
      this.assertNotBusy(host.id);
      const fraction = request.allocationFraction ?? 1;
      if (fraction < host.allocationFraction) {
        throw new SimulatorError(
          'bad_request',
          `allocationFraction ${fraction} is below host ${host.id}'s current ${host.allocationFraction}; activation only grows a shadow`,
        );
      }
      return { hostId: host.id, durationSeconds: this.state.delays.activateSeconds };
    });
  }

  resizeHost(request: ResizeHostRequest) {
    return this.act('resizeHost', request, () => {
      const host = this.host(request.hostId);
      this.assertStatus(host, ['active', 'inactive'], 'resize');
      this.assertNotBusy(host.id);
      const problem = this.roomProblem(host, request.allocationFraction);
      if (problem) {
        throw new SimulatorError('insufficient_capacity', `cannot resize host ${host.id}: ${problem}`);
      }
      return { hostId: host.id, durationSeconds: this.state.delays.resizeSeconds };
    });
  }

  scaleUpShadow(request: ResizeHostRequest) {
    return this.act('scaleUpShadow', request, () => {
      const host = this.host(request.hostId);
      if (host.role !== 'shadow') throw conflict(`host ${host.id} is a ${host.role}, not a shadow`);
      this.assertStatus(host, ['active'], 'scale up');
      this.assertNotBusy(host.id);
      if (request.allocationFraction <= host.allocationFraction) {
        throw new SimulatorError(
          'bad_request',
          `allocationFraction ${request.allocationFraction} must exceed host ${host.id}'s current ${host.allocationFraction} to scale up`,
        );
      }
      return { hostId: host.id, durationSeconds: this.state.delays.resizeSeconds };
    });
  }

  deactivateShadow(request: DeactivateShadowRequest) {
    return this.act('deactivateShadow', request, () => {
      const host = this.host(request.hostId);
      if (host.role !== 'shadow') throw conflict(`host ${host.id} is a ${host.role}, not a shadow`);
      this.assertStatus(host, ['active'], 'return to standby');
      this.assertNotBusy(host.id);
      const incoming = Object.values(this.state.workloads).filter((w) => w.migratingTo === host.id).length;
      if (host.workloadIds.length > 0 || incoming > 0) {
        throw conflict(
          `host ${host.id} still holds ${host.workloadIds.length} workload(s) (${incoming} arriving); move them before standby`,
        );
      }
      return { hostId: host.id, durationSeconds: this.state.delays.resizeSeconds };
    });
  }

  setRole(request: SetRoleRequest) {
    return this.act('setRole', request, () => {
      const host = this.host(request.hostId);
      this.assertStatus(host, ['active', 'inactive', 'failed'], `change the role of`);
      this.assertNotBusy(host.id);
      return { hostId: host.id, durationSeconds: this.state.delays.roleChangeSeconds };
    });
  }

  fenceHost(request: HostActionRequest) {
    return this.act('fenceHost', request, () => {
      const host = this.host(request.hostId);
      this.assertStatus(host, ['provisioning', 'active', 'inactive', 'failed', 'fenced'], 'fence');
      return { hostId: host.id, durationSeconds: this.state.delays.fenceSeconds };
    });
  }

  decommissionHost(request: HostActionRequest) {
    return this.act('decommissionHost', request, () => {
      const host = this.host(request.hostId);
      this.assertStatus(host, ['active', 'inactive', 'failed', 'fenced'], 'decommission');
      this.assertNotBusy(host.id);
      const incoming = Object.values(this.state.workloads).filter((w) => w.migratingTo === host.id).length;
      if (host.workloadIds.length > 0 || incoming > 0) {
        throw conflict(
          `host ${host.id} still holds workloads (${host.workloadIds.join(', ') || `${incoming} arriving`}); move them first`,
        );
      }
      return { hostId: host.id, durationSeconds: this.state.delays.decommissionSeconds };
    });
  }

  migrateWorkload(request: MigrateWorkloadRequest) {
    return this.act('migrateWorkload', request, () => {
      const workload = this.workload(request.workloadId);
      const source = this.host(request.sourceHostId);
      const target = this.host(request.targetHostId);
      if (source.id === target.id) {
        throw new SimulatorError('bad_request', `sourceHostId and targetHostId are both ${source.id}`);
      }
      if (workload.hostId !== source.id) {
        throw conflict(`workload ${workload.id} runs on host ${workload.hostId}, not on ${source.id}`);
      }
      if (workload.migratingTo !== undefined) {
        throw conflict(`workload ${workload.id} is already migrating to host ${workload.migratingTo}`);
      }
      this.assertStatus(target, ['active'], 'migrate onto');
      const problem = this.roomProblem(target, target.allocationFraction, workload);
      if (problem) throw new SimulatorError('insufficient_capacity', `no room on host ${target.id}: ${problem}`);
      workload.migratingTo = target.id;
      const { migrateBaseSeconds, migrateSecondsPerGiB } = this.state.delays;
      return {
        hostId: target.id,
        workloadId: workload.id,
        durationSeconds: migrateBaseSeconds + migrateSecondsPerGiB * workload.requirements.memoryGiB,
        sourceDownAtStart: source.status === 'failed' || source.status === 'fenced',
      };
    });
  }

  syncConfiguration(request: SyncConfigurationRequest) {
    return this.act('syncConfiguration', request, () => {
      const host = this.host(request.hostId);
      this.assertStatus(host, configurableStatuses(host), 'configure');
      return { hostId: host.id, durationSeconds: this.state.delays.configSyncSeconds };
    });
  }

  startReplication(request: StartReplicationRequest) {
    return this.act('startReplication', request, () => {
      const source = this.host(request.sourceHostId);
      const target = this.host(request.targetHostId);
      if (source.id === target.id) {
        throw new SimulatorError('bad_request', `a host cannot replicate from itself (${source.id})`);
      }
      this.assertStatus(source, ['active', 'inactive'], 'replicate from');
      this.assertStatus(target, ['active', 'inactive'], 'replicate onto');
      return { hostId: target.id, durationSeconds: this.state.delays.replicationStartSeconds };
    });
  }

  // ---- finishing operations -------------------------------------------------------------------------------------

  private finish(op: OperationRecord): void {
    this.running.delete(op.id);
    try {
      if (this.random() < this.state.faults.actionFailureRate) {
        throw new SimulatorError('operation_failed', `${op.kind} failed part-way (injected fault); nothing changed`);
      }
      const result = this.apply(op);
      op.status = 'succeeded';
      op.progress = 1;
      op.result = result;
    } catch (error) {
      this.undo(op);
      op.status = 'failed';
      op.progress = Math.min(
        0.99,
        Math.max(0, (this.state.simulatedMs - op.startedAtMs) / (op.finishesAtMs - op.startedAtMs || 1)),
      );
      op.error = {
        code: error instanceof SimulatorError ? error.code : 'internal',
        message: error instanceof Error ? error.message : String(error),
      };
      // Nothing happened, so a retry with the same key must be able to act.
      if (this.state.idempotency[op.idempotencyKey] === op.id) delete this.state.idempotency[op.idempotencyKey];
    }
    op.finishedAt = iso(this.state.simulatedMs);
    this.recordFinished(op);
  }

  private recordFinished(op: OperationRecord): void {
    const now = this.state.simulatedMs;
    const host = op.hostId === undefined ? undefined : this.state.hosts[op.hostId];
    const sourceHostId = op.params.sourceHostId;
    this.history.record({
      kind: 'operation',
      atMs: now,
      startedAtMs: op.startedAtMs,
      operationId: op.id,
      operation: op.kind,
      status: op.status,
      ...(op.hostId !== undefined ? { hostId: op.hostId } : {}),
      ...(host?.pairId !== undefined ? { pairId: host.pairId } : {}),
      ...(op.workloadId !== undefined ? { workloadId: op.workloadId } : {}),
      ...(typeof sourceHostId === 'string' ? { sourceHostId } : {}),
    });
    // Reconfiguring a serving host restarts its services: what ran there was down while the sync ran.
    if (op.kind === 'syncConfiguration' && op.status === 'succeeded' && host?.status === 'active') {
      for (const workloadId of host.workloadIds) {
        this.history.record({
          kind: 'workload-interrupted',
          atMs: now,
          startedAtMs: op.startedAtMs,
          workloadId,
          hostId: host.id,
          cause: 'configuration',
        });
      }
    }
  }

  private undo(op: OperationRecord): void {
    if (op.kind === 'provisionHost' && op.hostId !== undefined) {
      const host = this.state.hosts[op.hostId];
      if (host && (host.status === 'provisioning' || host.status === 'failed')) delete this.state.hosts[op.hostId];
      delete this.state.flapping[op.hostId];
    }
    if (op.kind === 'migrateWorkload' && op.workloadId !== undefined) {
      const workload = this.state.workloads[op.workloadId];
      if (workload) delete workload.migratingTo;
    }
  }

  private failed(op: OperationRecord, why: string): SimulatorError {
    return new SimulatorError(
      'operation_failed',
      `${op.kind} of ${op.hostId ?? op.workloadId} failed part-way: ${why}`,
    );
  }

  /** Re-checks what the operation needs (the world moved on while it ran) and makes its change. */
  private apply(op: OperationRecord): OperationResults[OperationKind] {
    const host = op.hostId === undefined ? undefined : this.state.hosts[op.hostId];
    if (!host) throw this.failed(op, 'its host no longer exists');
    this.settleAround(host);
    const p = op.params;
    const touch = () => {
      host.updatedAt = iso(this.state.simulatedMs);
      return this.publicHost(host);
    };
    const needStatus = (allowed: HostStatus[]) => {
      if (!allowed.includes(host.status)) throw this.failed(op, `host ${host.id} became ${host.status}`);
    };
    switch (op.kind) {
      case 'provisionHost': {
        needStatus(['provisioning']);
        if (this.zoneDown(host.region, host.zone)) throw this.failed(op, `zone ${host.region}/${host.zone} went down`);
        host.status = host.role === 'shadow' ? 'inactive' : 'active';
        return touch();
      }
      case 'activateShadow':
        needStatus(['inactive']);
        host.status = 'active';
        host.allocationFraction = (p.allocationFraction as number | undefined) ?? 1;
        return touch();
      case 'resizeHost':
      case 'scaleUpShadow': {
        needStatus(op.kind === 'resizeHost' ? ['active', 'inactive'] : ['active']);
        const fraction = p.allocationFraction as number;
        const problem = this.roomProblem(host, fraction);
        if (problem) throw this.failed(op, problem);
        host.allocationFraction = fraction;
        return touch();
      }
      case 'deactivateShadow':
        needStatus(['active']);
        if (host.workloadIds.length > 0) throw this.failed(op, `workloads arrived on host ${host.id}`);
        host.status = 'inactive';
        host.allocationFraction = (p.allocationFraction as number | undefined) ?? DEFAULT_SHADOW_FRACTION;
        return touch();
      case 'setRole': {
        needStatus(['active', 'inactive', 'failed']);
        const role = p.role as HostRole;
        if (role === 'primary' && host.role !== 'primary') this.promote(host);
        host.role = role;
        return touch();
      }
      case 'fenceHost':
        needStatus(['provisioning', 'active', 'inactive', 'failed', 'fenced']);
        this.history.hostDown(host.id, host.workloadIds, this.state.simulatedMs);
        host.status = 'fenced';
        delete host.statusBeforeFailure;
        delete host.failureCause;
        delete this.state.flapping[host.id];
        return touch();
      case 'decommissionHost':
        if (host.workloadIds.length > 0) throw this.failed(op, `workloads arrived on host ${host.id}`);
        host.status = 'decommissioned';
        this.unlinkReplica(host.id);
        delete this.state.flapping[host.id];
        return touch();
      case 'migrateWorkload':
        return this.completeMigration(op, host);
      case 'syncConfiguration': {
        needStatus(configurableStatuses(host));
        const values = Object.fromEntries(
          Object.entries(p.desired as Record<string, string | number | boolean>).sort(([a], [b]) => (a < b ? -1 : 1)),
        );
        const applied: AppliedConfiguration = {
          values,
          hash: configurationHash(values),
          appliedAt: iso(this.state.simulatedMs),
        };
        host.appliedConfiguration = applied;
        // A configuration the host cannot run brings it down; applying another one (a rollback) brings it back.
        const crash = host.crashesOnConfiguration;
        if (crash !== undefined && Object.entries(crash).every(([k, v]) => values[k] === v))
          this.failHostRecord(host, 'configuration');
        else if (host.status === 'failed' && host.failureCause === 'configuration') this.recoverHostRecord(host);
        touch();
        return { hostId: host.id, ...applied };
      }
      case 'startReplication': {
        const source = this.state.hosts[p.sourceHostId as string];
        if (!source || !isHealthy(source.status))
          throw this.failed(op, `source host ${String(p.sourceHostId)} is not healthy`);
        needStatus(['active', 'inactive']);
        this.settleData(source);
        this.linkReplica(host.id, source.id);
        host.replicatingFrom = source.id;
        // The initial copy brings the replica to what the source had `lag` seconds ago.
        const inFlight = this.state.replicationSettings.writesPerSecond * this.state.replicationSettings.lagSeconds;
        host.dataVersion = Math.max(
          0,
          source.dataVersion - (source.role === 'primary' && source.status === 'active' ? inFlight : 0),
        );
        touch();
        return this.verifyReplication({ sourceHostId: source.id, targetHostId: host.id });
      }
    }
  }

  /** A shadow becomes primary: if its pair's primary is dead, that is a failover, and what it lost is recorded. */
  private promote(host: HostRecord): void {
    if (host.pairId !== undefined) {
      for (const other of Object.values(this.state.hosts)) {
        if (other.id === host.id || other.pairId !== host.pairId || other.role !== 'primary') continue;
        if (other.status === 'failed' || other.status === 'fenced') this.recordDataLoss(other, host);
      }
    }
    this.unlinkReplica(host.id);
    delete host.replicatingFrom;
  }

  private recordDataLoss(failed: HostRecord, promoted: HostRecord): number {
    this.settleData(failed);
    this.settleData(promoted);
    const lostVersions = Math.max(0, Math.floor(failed.dataVersion) - Math.floor(promoted.dataVersion));
    const known = this.state.dataLoss.some((d) => d.failedHostId === failed.id && d.promotedHostId === promoted.id);
    if (!known) {
      this.state.dataLoss.push({
        ...(promoted.pairId !== undefined ? { pairId: promoted.pairId } : {}),
        failedHostId: failed.id,
        promotedHostId: promoted.id,
        lostVersions,
        at: iso(this.state.simulatedMs),
      });
    }
    return lostVersions;
  }

  private completeMigration(op: OperationRecord, target: HostRecord): MigrationResult {
    const workload = op.workloadId === undefined ? undefined : this.state.workloads[op.workloadId];
    const source = this.state.hosts[op.params.sourceHostId as string];
    if (!workload || !source) throw this.failed(op, 'its workload or source host no longer exists');
    if (target.status !== 'active') throw this.failed(op, `target host ${target.id} became ${target.status}`);
    const restoredFromReplica = op.sourceDownAtStart === true;
    if (!restoredFromReplica && source.status !== 'active') {
      throw this.failed(op, `source host ${source.id} became ${source.status} mid-migration; the workload stays there`);
    }
    source.workloadIds = source.workloadIds.filter((id) => id !== workload.id);
    target.workloadIds.push(workload.id);
    workload.hostId = target.id;
    delete workload.migratingTo;
    this.history.serving([workload.id], this.state.simulatedMs);
    target.updatedAt = iso(this.state.simulatedMs);
    source.updatedAt = target.updatedAt;
    const lostVersions = restoredFromReplica ? this.recordDataLoss(source, target) : 0;
    return {
      workloadId: workload.id,
      sourceHostId: source.id,
      targetHostId: target.id,
      restoredFromReplica,
      lostVersions,
    };
  }

  // ---- faults and simulator control ----------------------------------------------------------------------------

  private failHostRecord(host: HostRecord, cause: FailureCause): void {
    if (!['provisioning', 'active', 'inactive'].includes(host.status)) return;
    this.settleAround(host);
    host.statusBeforeFailure = host.status;
    host.failureCause = cause;
    host.status = 'failed';
    host.updatedAt = iso(this.state.simulatedMs);
    this.history.hostDown(host.id, host.workloadIds, this.state.simulatedMs);
  }

  private recoverHostRecord(host: HostRecord): void {
    if (host.status !== 'failed') return;
    this.settleAround(host);
    host.status = host.statusBeforeFailure ?? 'active';
    if (host.status === 'active') this.history.serving(host.workloadIds, this.state.simulatedMs);
    delete host.statusBeforeFailure;
    delete host.failureCause;
    // A host that comes back has rebooted: its cumulative counters start again from zero.
    host.counters = zeroCounters();
    host.updatedAt = iso(this.state.simulatedMs);
  }

  failHost(hostId: string): Host {
    const host = this.host(hostId);
    if (!['provisioning', 'active', 'inactive', 'failed'].includes(host.status)) {
      throw conflict(`host ${hostId} is ${host.status}; only a running host can fail`);
    }
    this.failHostRecord(host, 'host');
    return this.publicHost(host);
  }

  recoverHost(hostId: string): Host {
    const host = this.host(hostId);
    if (host.status !== 'failed') throw conflict(`host ${hostId} is ${host.status}, not failed; nothing to recover`);
    if (this.zoneDown(host.region, host.zone)) {
      throw conflict(`host ${hostId} is in ${host.region}/${host.zone}, which is down; recover the zone or region`);
    }
    delete this.state.flapping[hostId];
    this.recoverHostRecord(host);
    return this.publicHost(host);
  }

  setZone(region: string, zone: string | undefined, down: boolean): { affectedHostIds: string[] } {
    const known = Object.values(this.state.hosts).some(
      (h) => h.region === region && (zone === undefined || h.zone === zone),
    );
    if (!known)
      throw notFound(zone === undefined ? 'region' : 'zone', zone === undefined ? region : `${region}/${zone}`);
    const key = zone === undefined ? region : `${region}/${zone}`;
    const list = zone === undefined ? this.state.downRegions : this.state.downZones;
    if (down && !list.includes(key)) list.push(key);
    if (!down) list.splice(list.indexOf(key) >>> 0, list.includes(key) ? 1 : 0);
    const affected: string[] = [];
    for (const host of Object.values(this.state.hosts)) {
      if (host.region !== region || (zone !== undefined && host.zone !== zone)) continue;
      if (down && ['provisioning', 'active', 'inactive'].includes(host.status)) {
        this.failHostRecord(host, zone === undefined ? 'region' : 'zone');
        affected.push(host.id);
      } else if (!down && host.status === 'failed' && !this.zoneDown(host.region, host.zone)) {
        this.recoverHostRecord(host);
        affected.push(host.id);
      }
    }
    return { affectedHostIds: affected };
  }

  startFlapping(hostId: string, periodSeconds: number): Host {
    const host = this.host(hostId);
    if (!['active', 'inactive', 'failed'].includes(host.status)) {
      throw conflict(`host ${hostId} is ${host.status}; only a running host can flap`);
    }
    this.state.flapping[hostId] = { periodSeconds, nextToggleMs: this.state.simulatedMs + periodSeconds * 1000 };
    this.failHostRecord(host, 'flap');
    return this.publicHost(host);
  }

  stopFlapping(hostId: string): Host {
    const host = this.host(hostId);
    if (!this.state.flapping[hostId]) throw conflict(`host ${hostId} is not flapping`);
    delete this.state.flapping[hostId];
    if (host.status === 'failed' && host.failureCause === 'flap') this.recoverHostRecord(host);
    return this.publicHost(host);
  }

  /** Makes the host crash whenever it applies a configuration holding `values` (undefined: clears the fault). */
  setFaultyConfiguration(hostId: string, values: Record<string, string | number | boolean> | undefined): Host {
    const host = this.host(hostId);
    if (values === undefined) delete host.crashesOnConfiguration;
    else host.crashesOnConfiguration = { ...values };
    return this.publicHost(host);
  }

  /** Hardware degradation (a DIMM or a disk lost): the host's capacity shrinks under its workloads. */
  degradeHost(hostId: string, capacity: Partial<Capacity>): Host {
    const host = this.host(hostId);
    for (const [key, value] of Object.entries(capacity) as [keyof Capacity, number][]) {
      if (value > host.capacity[key]) {
        throw new SimulatorError(
          'bad_request',
          `degrade can only shrink ${key}: ${value} exceeds ${host.capacity[key]}`,
        );
      }
    }
    host.capacity = { ...host.capacity, ...capacity };
    host.updatedAt = iso(this.state.simulatedMs);
    return this.publicHost(host);
  }

  createWorkload(input: {
    workloadId: string;
    hostId: string;
    requirements: Capacity;
    demand: Workload['demand'];
  }): Workload {
    if (this.state.workloads[input.workloadId]) throw conflict(`workload id "${input.workloadId}" is already taken`);
    const host = this.host(input.hostId);
    if (input.demand.kind === 'trace' && !this.traces.has(input.demand.traceId)) {
      throw notFound('trace', input.demand.traceId);
    }
    this.assertStatus(host, ['active'], 'place a workload on');
    const workload: WorkloadRecord = {
      id: input.workloadId,
      requirements: { ...input.requirements },
      demand: input.demand,
      hostId: host.id,
      createdAt: iso(this.state.simulatedMs),
      createdAtMs: this.state.simulatedMs,
    };
    const problem = this.roomProblem(host, host.allocationFraction, workload);
    if (problem) throw new SimulatorError('insufficient_capacity', `no room on host ${host.id}: ${problem}`);
    this.state.workloads[workload.id] = workload;
    host.workloadIds.push(workload.id);
    return this.publicWorkload(workload);
  }

  /**
   * Adds ready hosts (and one workload each) at once, without operations: the benchmark's and the demo's way to a
   * big fleet without waiting out ten thousand provisionings.
   */
  seed(input: {
    prefix: string;
    count: number;
    regions: string[];
    capacity: Capacity;
    workload?: { requirements: Capacity; demand: Workload['demand'] };
    /** Shadows are seeded inactive at `allocationFraction` of their capacity, ready to be activated. */
    role?: 'primary' | 'shadow';
    allocationFraction?: number;
  }): { hostIds: string[] } {
    const ids = Array.from({ length: input.count }, (_, i) => `${input.prefix}-${i}`);
    const taken = ids.find((id) => this.state.hosts[id] || this.state.workloads[`${id}-w`]);
    if (taken) throw conflict(`id "${taken}" is already taken; choose another prefix`);
    if (input.workload?.demand.kind === 'trace' && !this.traces.has(input.workload.demand.traceId)) {
      throw notFound('trace', input.workload.demand.traceId);
    }
    const now = iso(this.state.simulatedMs);
    ids.forEach((id, i) => {
      const region = input.regions[i % input.regions.length]!;
      const workloadIds: string[] = [];
      if (input.workload) {
        const workloadId = `${id}-w`;
        const demand =
          input.workload.demand.kind === 'synthetic'
            ? { ...input.workload.demand, seed: (input.workload.demand.seed ?? 1) + i }
            : { ...input.workload.demand, offsetMinutes: (input.workload.demand.offsetMinutes ?? 0) + i * 37 };
        this.state.workloads[workloadId] = {
          id: workloadId,
          requirements: { ...input.workload.requirements },
          demand,
          hostId: id,
          createdAt: now,
          createdAtMs: this.state.simulatedMs,
        };
        workloadIds.push(workloadId);
      }
      this.state.hosts[id] = {
        id,
        region,
        zone: `${region}-${'abc'[i % 3]}`,
        capacity: { ...input.capacity },
        allocationFraction: input.role === 'shadow' ? (input.allocationFraction ?? 1) : 1,
        role: input.role ?? 'primary',
        status: input.role === 'shadow' ? 'inactive' : 'active',
        workloadIds,
        dataVersion: 0,
        dataAtMs: this.state.simulatedMs,
        createdAt: now,
        updatedAt: now,
        counters: zeroCounters(),
      };
    });
    return { hostIds: ids };
  }
}

/** A host takes configuration while running, or while down from a configuration it could not run (to roll it back). */
const configurableStatuses = (host: HostRecord): HostStatus[] =>
  host.status === 'failed' && host.failureCause === 'configuration' ? ['failed'] : ['active', 'inactive'];

export function isHealthy(status: HostStatus): boolean {
  return HEALTHY_STATUSES.includes(status);
}

const round = (n: number): number => Math.round(n * 100) / 100;
