/**
 * The provider interface: every infrastructure action Understudy takes goes through a `FleetProvider`. The embedded
 * default is the fleet simulator (src/simulator/), reached over HTTP by `HttpFleetProvider` (./client.ts); a real
 * platform ships an adapter implementing the same interface.
 *
 * Types and constants only, no I/O and no Node built-ins: workflow code may import this module.
 *
 * Conventions:
 * - Every state-changing action takes an `idempotencyKey`. Repeating a key with the same arguments returns the
 *   operation the first call started (its current state) and never acts twice; the same key with different
 *   arguments is refused with `idempotency_conflict` (HTTP 409).
 * - An operation that failed part-way undid what it had done, so it does not hold its key: repeating the key starts
 *   a fresh attempt (a Temporal retry of the same activity acts again), still never acting twice.
 * - Actions are asynchronous: they return an `Operation` at once, which runs for the action's (simulated) duration
 *   and ends `succeeded` or `failed`. `waitForOperation` polls it and reports progress, so a long activity
 *   (migration) heartbeats the operation id and, when retried, resumes waiting on the same operation: the same
 *   idempotency key also finds it again.
 * - Timestamps are ISO-8601 strings on the provider's clock (the simulator's simulated clock), never the caller's.
 */

export const RESOURCES = ['cpu', 'memory', 'storage', 'network'] as const;
/** A host resource; utilisation is always expressed in percent of what the host holds of it (capacity × allocation). */
export type Resource = (typeof RESOURCES)[number];

/** A host's size, or a workload's requirement, per resource. */
export interface Capacity {
  cpuCores: number;
  memoryGiB: number;
  storageIops: number;
  networkMbps: number;
}

export const HOST_ROLES = ['primary', 'shadow'] as const;
export type HostRole = (typeof HOST_ROLES)[number];

export const HOST_STATUSES = ['provisioning', 'active', 'inactive', 'failed', 'fenced', 'decommissioned'] as const;
/**
 * - `provisioning`: being built; not usable yet.
 * - `active`: serving; may hold workloads (a primary, or a shadow that was activated).
 * - `inactive`: healthy standby (a shadow at its standby allocation); holds no workloads.
 * - `failed`: unreachable (a fault); keeps whatever it held until it is fenced and its workloads restored elsewhere.
 * - `fenced`: cut off for good (power/network fence), so it can never act as a second primary.
 * - `decommissioned`: gone; kept in the fleet description for the record.
 */
export type HostStatus = (typeof HOST_STATUSES)[number];

/** Statuses in which a host answers health checks. */
export const HEALTHY_STATUSES: readonly HostStatus[] = ['active', 'inactive'];

export interface AppliedConfiguration {
  /** The configuration as applied, key by key. */
  values: Record<string, string | number | boolean>;
  /** sha256 (hex) of the canonical JSON of `values` (keys sorted): equal hashes mean equal configurations. */
  hash: string;
  appliedAt: string;
}

export interface Host {
  id: string;
  region: string;
  zone: string;
  /** The host's full size. */
  capacity: Capacity;
  /**
   * Share of `capacity` currently allocated to the host, 0 < f <= 1: a standby shadow holds 0.1-0.2, an active
   * primary 1. Placement checks workloads' requirements against `capacity × allocationFraction`.
   */
  allocationFraction: number;
  role: HostRole;
  status: HostStatus;
  /** The host pair this host belongs to (a primary and its shadow share it); absent for an unpaired host. */
  pairId?: string;
  /** Ids of the workloads running on the host. */
  workloadIds: string[];
  /** Replicated data: a version counter that grows while the host is an active primary with writes. */
  dataVersion: number;
  /** The host this one replicates from, when replication was started onto it. */
  replicatingFrom?: string;
  appliedConfiguration?: AppliedConfiguration;
  createdAt: string;
  updatedAt: string;
}

/** Demand as a multiple of a workload's requirement (1 = uses exactly what it requested; bursts go above 1). */
export interface SyntheticDemandProfile {
  kind: 'synthetic';
  /** Mean level, e.g. 0.5. */
  base: number;
  /** Seasonal amplitudes (same unit as `base`) and where each peaks. */
  daily?: { amplitude: number; peakHourUtc?: number };
  weekly?: { amplitude: number; peakDay?: number /* 0 = Sunday */ };
  monthly?: { amplitude: number; peakDayOfMonth?: number };
  /** Linear trend: change of the level per simulated day. */
  trendPerDay?: number;
  /** Standard deviation of white noise added to every sample. */
  noise?: number;
  /** Short bursts: expected number per simulated day, their height and length. */
  spikes?: { perDay: number; magnitude: number; durationMinutes: number };
  /** Slow random drift of the level: standard deviation of its change per simulated day. */
  driftPerDay?: number;
  /** Seed of the profile's noise, spikes and drift, so a profile is reproducible. */
  seed?: number;
}

/** Replays an uploaded `timestamp,value` trace, looped, normalised so the trace's maximum maps to `peak`. */
export interface TraceDemandProfile {
  kind: 'trace';
  traceId: string;
  /** Demand at the trace's maximum value (default 1). */
  peak?: number;
  /** Offset into the trace, in minutes, at the workload's creation (default 0). */
  offsetMinutes?: number;
}

export type DemandProfile = SyntheticDemandProfile | TraceDemandProfile;

export interface Workload {
  id: string;
  /** Resources the workload reserves on its host; its use follows `demand` times this. */
  requirements: Capacity;
  demand: DemandProfile;
  hostId: string;
  /** Present while a migration of the workload runs. */
  migratingTo?: string;
  createdAt: string;
}

export const OPERATION_KINDS = [
  'provisionHost',
  'activateShadow',
  'resizeHost',
  'scaleUpShadow',
  'deactivateShadow',
  'setRole',
  'fenceHost',
  'decommissionHost',
  'migrateWorkload',
  'syncConfiguration',
  'startReplication',
] as const;
export type OperationKind = (typeof OPERATION_KINDS)[number];

export type OperationStatus = 'running' | 'succeeded' | 'failed';

export interface MigrationResult {
  workloadId: string;
  sourceHostId: string;
  targetHostId: string;
  /** True when the source was failed or fenced, so the workload was restored from the target's replicated data. */
  restoredFromReplica: boolean;
  /** Data versions the move lost (source version minus target version, for a restore; 0 for a live migration). */
  lostVersions: number;
}

/** What each kind of operation returns when it succeeds. */
export interface OperationResults {
  provisionHost: Host;
  activateShadow: Host;
  resizeHost: Host;
  scaleUpShadow: Host;
  deactivateShadow: Host;
  setRole: Host;
  fenceHost: Host;
  decommissionHost: Host;
  migrateWorkload: MigrationResult;
  syncConfiguration: AppliedConfiguration & { hostId: string };
  startReplication: ReplicationStatus;
}

export interface OperationError {
  code: ProviderErrorCode;
  message: string;
}

export interface Operation<K extends OperationKind = OperationKind> {
  id: string;
  kind: K;
  idempotencyKey: string;
  status: OperationStatus;
  /** 0..1; a migration advances with the memory copied. */
  progress: number;
  /** The host the operation acts on (the workload's target, for a migration). */
  hostId?: string;
  workloadId?: string;
  startedAt: string;
  /** When a running operation is due to finish, on the provider's clock. */
  expectedFinishAt: string;
  finishedAt?: string;
  result?: OperationResults[K];
  error?: OperationError;
}

// ---- requests ---------------------------------------------------------------------------------------------------

interface ActionRequest {
  /** Same key + same arguments → the first call's operation; same key + other arguments → idempotency_conflict. */
  idempotencyKey: string;
}

export interface ProvisionHostRequest extends ActionRequest {
  /** Chosen by the caller, or generated when absent. Letters, digits, `.`, `_`, `-`; at most 100 characters. */
  hostId?: string;
  region: string;
  zone: string;
  capacity: Capacity;
  role: HostRole;
  pairId?: string;
  /** Default 1 for a primary, 0.15 for a shadow (which starts `inactive`). */
  allocationFraction?: number;
}

export interface HostActionRequest extends ActionRequest {
  hostId: string;
}

/** Activates an `inactive` shadow: it becomes `active` at `allocationFraction` (default 1). ~2 s. */
export interface ActivateShadowRequest extends HostActionRequest {
  allocationFraction?: number;
}

/** Changes an active or inactive host's allocation; refused when its workloads would no longer fit. ~2 s. */
export interface ResizeHostRequest extends HostActionRequest {
  allocationFraction: number;
}

/** Grows an already `active` shadow to a larger allocation (must exceed the current one). ~2 s. */
export type ScaleUpShadowRequest = ResizeHostRequest;

/** Returns an `active` shadow that holds no workloads to standby (`inactive`) at `allocationFraction` (default 0.15). */
export interface DeactivateShadowRequest extends HostActionRequest {
  allocationFraction?: number;
}

/**
 * Changes a host's role (promotion of a shadow in a failover or swap, demotion of the old primary). The provider
 * does not stop a promotion while the pair's other primary is still unfenced: the invariants report it. Promoting a
 * shadow whose pair's primary is failed or fenced records that failover's data loss.
 */
export interface SetRoleRequest extends HostActionRequest {
  role: HostRole;
}

export interface MigrateWorkloadRequest extends ActionRequest {
  workloadId: string;
  /** Must be where the workload runs now; guards against acting on a stale view. */
  sourceHostId: string;
  targetHostId: string;
}

export interface SyncConfigurationRequest extends HostActionRequest {
  desired: Record<string, string | number | boolean>;
}

export interface ReplicationRequest {
  sourceHostId: string;
  targetHostId: string;
}

export type StartReplicationRequest = ReplicationRequest & ActionRequest;

// ---- reads ------------------------------------------------------------------------------------------------------

export interface ReplicationStatus {
  sourceHostId: string;
  targetHostId: string;
  /**
   * `streaming`: the target trails the source by the replication lag; `caught-up`: equal versions;
   * `broken`: the source is failed/fenced/decommissioned (the target keeps what it had); `not-replicating`: no link.
   */
  state: 'streaming' | 'caught-up' | 'broken' | 'not-replicating';
  sourceVersion: number;
  targetVersion: number;
  lagVersions: number;
  /** Estimated lag in (simulated) seconds at the source's write rate. */
  lagSeconds: number;
  checkedAt: string;
}

export interface HealthReport {
  hostId: string;
  healthy: boolean;
  status: HostStatus;
  role: HostRole;
  checkedAt: string;
  /** Why an unhealthy host counts as failed, where its status alone does not say (e.g. a silent node lease). */
  detail?: string;
}

/** A report's status as the pair's reasons quote it: with the provider's detail when it gives one. */
export const describeHealth = (report: Pick<HealthReport, 'status' | 'detail'>): string =>
  report.detail === undefined ? report.status : `${report.status} (${report.detail})`;

/** One provider call's answer for many hosts: a watcher checks a whole shard's primaries at once. */
export interface HealthReports {
  /** The provider's clock when it answered. */
  checkedAt: string;
  reports: HealthReport[];
  /** Asked-for ids the provider does not know (left out of `reports`): no answer, not a failed host. */
  unknown: string[];
}

/** Most host ids one `healthCheckMany` call takes. */
export const MAX_HEALTH_CHECK_BATCH = 5_000;

export interface FleetSnapshot {
  /** The provider's clock. */
  now: string;
  hosts: Host[];
  workloads: Workload[];
}

export type InvariantViolation =
  | {
      kind: 'workload-not-on-healthy-active-host';
      workloadId: string;
      hostId: string;
      hostStatus?: HostStatus;
      message: string;
    }
  | { kind: 'two-unfenced-primaries'; pairId: string; hostIds: string[]; message: string }
  | { kind: 'capacity-exceeded'; hostId: string; resource: Resource; requiredPercent: number; message: string };

/** Data a failover lost: what the failed primary had written that its promoted shadow had not received. */
export interface DataLossRecord {
  pairId?: string;
  failedHostId: string;
  promotedHostId: string;
  lostVersions: number;
  at: string;
}

export interface InvariantReport {
  ok: boolean;
  checkedAt: string;
  violations: InvariantViolation[];
  dataLoss: DataLossRecord[];
}

// ---- errors -----------------------------------------------------------------------------------------------------

/**
 * Error codes, with the HTTP status the simulator gives each. 4xx codes are the caller's fault and permanent (the
 * same request fails the same way); 5xx codes and timeouts are the provider's and worth retrying.
 */
export const PROVIDER_ERROR_STATUS = {
  bad_request: 400,
  unauthorized: 401,
  not_found: 404,
  /** The request conflicts with the fleet's state: wrong status, no room, a host still holding workloads. */
  conflict: 409,
  idempotency_conflict: 409,
  insufficient_capacity: 409,
  payload_too_large: 413,
  internal: 500,
  /** Injected API errors, a zone or region that is down, a provider that cannot be reached. */
  unavailable: 503,
  /** The request did not complete within the client's timeout (no HTTP status). */
  timeout: 504,
  /** An operation that ran and failed part-way (e.g. its host failed); the state is as before the operation. */
  operation_failed: 500,
} as const;
export type ProviderErrorCode = keyof typeof PROVIDER_ERROR_STATUS;

/** Whether a code is worth retrying (the provider's fault) or permanent (the caller's). */
export const isRetryableProviderError = (code: ProviderErrorCode): boolean => PROVIDER_ERROR_STATUS[code] >= 500;

// ---- the interface ----------------------------------------------------------------------------------------------

export interface WaitOptions {
  /** Called on every poll with the operation's current state (an activity heartbeats here). */
  onProgress?: (operation: Operation) => void;
  /** Give up (a `timeout` ProviderError) after this long in real time. Default: no limit. */
  timeoutMs?: number;
  /** Real milliseconds between polls, where the provider cannot hold a read until the operation ends. Default 250. */
  pollIntervalMs?: number;
  signal?: AbortSignal;
}

export interface FleetProvider {
  provisionHost(request: ProvisionHostRequest): Promise<Operation<'provisionHost'>>;
  activateShadow(request: ActivateShadowRequest): Promise<Operation<'activateShadow'>>;
  resizeHost(request: ResizeHostRequest): Promise<Operation<'resizeHost'>>;
  scaleUpShadow(request: ScaleUpShadowRequest): Promise<Operation<'scaleUpShadow'>>;
  deactivateShadow(request: DeactivateShadowRequest): Promise<Operation<'deactivateShadow'>>;
  setRole(request: SetRoleRequest): Promise<Operation<'setRole'>>;
  fenceHost(request: HostActionRequest): Promise<Operation<'fenceHost'>>;
  decommissionHost(request: HostActionRequest): Promise<Operation<'decommissionHost'>>;
  migrateWorkload(request: MigrateWorkloadRequest): Promise<Operation<'migrateWorkload'>>;
  syncConfiguration(request: SyncConfigurationRequest): Promise<Operation<'syncConfiguration'>>;
  startReplication(request: StartReplicationRequest): Promise<Operation<'startReplication'>>;

  getOperation<K extends OperationKind>(operationId: string): Promise<Operation<K>>;
  /**
   * Polls until the operation leaves `running`. Resolves with a succeeded operation; rejects with a ProviderError
   * of code `operation_failed` (carrying the operation's own error message) when it failed.
   */
  waitForOperation<K extends OperationKind>(
    operation: Operation<K> | string,
    options?: WaitOptions,
  ): Promise<Operation<K>>;

  verifyReplication(request: ReplicationRequest): Promise<ReplicationStatus>;
  healthCheck(hostId: string): Promise<HealthReport>;
  /** Checks up to MAX_HEALTH_CHECK_BATCH hosts in one call; unknown ids are listed, not failed. */
  healthCheckMany(hostIds: string[]): Promise<HealthReports>;
  getHost(hostId: string): Promise<Host>;
  /**
   * The provider's clock, hosts and workloads; with `hostIds`, only those hosts (unknown ids are left out) and the
   * workloads on them, so a caller that needs two hosts does not pay for the whole fleet.
   */
  describeFleet(filter?: { hostIds?: string[] }): Promise<FleetSnapshot>;
  invariants(): Promise<InvariantReport>;
}
