/**
 * `KubernetesFleetProvider`: the `FleetProvider` on a Kubernetes cluster. The mapping (docs/kubernetes.md):
 * - a host is a node labelled `understudy.io/role` and `understudy.io/pair`, placed by the topology labels;
 * - a workload is a one-replica Deployment or StatefulSet labelled `understudy.io/workload`, whose pods may run only
 *   on the nodes serving its pair (`understudy.io/serves`); its host is the node of its live pod;
 * - an inactive shadow carries the `understudy.io/standby:NoSchedule` taint at a small allocatable; activation
 *   grows it through the `NodeSizer` seam and removes the taint;
 * - a migration cordons the source, evicts the pod through the Eviction API (so PodDisruptionBudgets hold), waits
 *   until its replacement runs on the target, and uncordons the source;
 * - a fence is Kubernetes' `node.kubernetes.io/out-of-service` taint, which deletes the node's pods at once;
 * - health is the node's Ready condition and its Lease: a lease unrenewed for its duration fails the node even while
 *   Ready still says True (src/provider/kubernetes/lease.ts).
 *
 * Operations run in this process and are remembered by idempotency key, as the interface asks; each action also
 * checks the cluster's state first, so an activity retried on another worker (which does not know the key) finds
 * the work done and does not act twice.
 */
import {
  ApiException,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
  type V1Deployment,
  type V1Lease,
  type V1StatefulSet,
  type V1Node,
  type V1Pod,
  type V1Taint,
} from '@kubernetes/client-node';
import { randomUUID } from 'node:crypto';
import { exceededResources, fitsWithin, scaleCapacity, addCapacity, zeroCapacity } from '../../policy/capacity.js';
import { canonicalJson, configurationHash } from '../canonical.js';
import { ProviderError, pollOperation, sleep } from '../client.js';
import type {
  ActivateShadowRequest,
  AppliedConfiguration,
  Capacity,
  DataLossRecord,
  DeactivateShadowRequest,
  DemandProfile,
  FleetProvider,
  FleetSnapshot,
  HealthReport,
  HealthReports,
  Host,
  HostActionRequest,
  HostStatus,
  InvariantReport,
  InvariantViolation,
  MigrateWorkloadRequest,
  MigrationResult,
  Operation,
  OperationKind,
  OperationResults,
  ProviderErrorCode,
  ProvisionHostRequest,
  ReplicationRequest,
  ReplicationStatus,
  ResizeHostRequest,
  SetRoleRequest,
  StartReplicationRequest,
  SyncConfigurationRequest,
  WaitOptions,
  Workload,
} from '../types.js';
import { HEALTHY_STATUSES, MAX_HEALTH_CHECK_BATCH } from '../types.js';
import { DEFAULT_NODE_LEASE_SECONDS, NODE_LEASE_NAMESPACE, judgeLease, type LeaseObservation } from './lease.js';
import {
  ALLOCATION_ANNOTATION,
  CAPACITY_ANNOTATION,
  CONFIGURATION_ANNOTATION,
  CONFIGURATION_APPLIED_ANNOTATION,
  CONFIGURATION_HASH_ANNOTATION,
  DATA_VERSION_ANNOTATION,
  DEMAND_ANNOTATION,
  OUT_OF_SERVICE_TAINT,
  PAIR_LABEL,
  REGION_LABEL,
  REPLICATING_FROM_ANNOTATION,
  REQUIREMENTS_ANNOTATION,
  ROLE_LABEL,
  SERVES_LABEL,
  STANDBY_TAINT,
  WORKLOAD_LABEL,
  ZONE_LABEL,
} from './names.js';
import { capacityOf } from './quantities.js';

/** Sets a node's allocatable: the seam between Understudy and whatever sizes machines. */
export interface NodeSizer {
  /**
   * Gives the node `allocatable` and resolves once the node reports it. The test bed patches the node's status
   * (kwok keeps it); on a cloud an adapter resizes the VM (or swaps it for one of the size) and waits for the
   * kubelet to report the new allocatable.
   */
  resize(nodeName: string, allocatable: Capacity): Promise<void>;
}

/** Creates the node for a new host; the seam where a cloud adapter would add a machine to a node group. */
export interface NodeFactory {
  create(node: V1Node): Promise<void>;
}

export interface KubernetesFleetProviderOptions {
  /** A kubeconfig file; absent: the in-cluster service account. */
  kubeconfig?: string;
  /** The namespace of the workloads' Deployments. */
  namespace: string;
  sizer: NodeSizer;
  nodeFactory: NodeFactory;
  /** Longest wait for a pod to run on its new node, or a node to become Ready. Default 120 s. */
  settleTimeoutMs?: number;
  /** How long a PodDisruptionBudget may refuse an eviction before the migration gives up. Default 30 s. */
  evictionTimeoutMs?: number;
  /** The clock node leases are timed by (tests move it); default the wall clock. */
  nowMs?: () => number;
}

/** A standby shadow's allocation when the caller names none (as the simulator). */
const DEFAULT_SHADOW_ALLOCATION = 0.15;
const POLL_MS = 250;
/** Finished operations remembered for idempotent replays before the oldest are forgotten. */
const MAX_FINISHED_OPERATIONS = 5_000;
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

const now = (): string => new Date().toISOString();
const hasTaint = (node: V1Node, taint: { key: string; effect: string }): boolean =>
  (node.spec?.taints ?? []).some((t) => t.key === taint.key && t.effect === taint.effect);

/** A MicroTime as text: the client types it a Date but hands the wire's string through. */
const instantText = (value: Date | string): string => (value instanceof Date ? value.toISOString() : value);

/** What the workloads reserve together. */
const reservedBy = (workloads: readonly Workload[]): Capacity =>
  workloads.reduce((sum, w) => addCapacity(sum, w.requirements), zeroCapacity());

/** A Kubernetes API failure as a ProviderError with the API's own reason. */
function providerError(error: unknown, what: string): ProviderError {
  if (error instanceof ProviderError) return error;
  if (error instanceof ApiException) {
    const body: unknown = typeof error.body === 'string' ? safeJson(error.body) : error.body;
    const status = body as { message?: string; details?: { causes?: { message?: string }[] } } | undefined;
    // A refused eviction names its PodDisruptionBudget only in the status's causes.
    const causes = (status?.details?.causes ?? []).map((c) => c.message).filter((m) => m !== undefined);
    const reason = [status?.message ?? String(error.body).slice(0, 300), ...causes].join(' ');
    const code: ProviderErrorCode =
      error.code === 400 || error.code === 422
        ? 'bad_request'
        : error.code === 401 || error.code === 403
          ? 'unauthorized'
          : error.code === 404
            ? 'not_found'
            : error.code === 409 || error.code === 429
              ? 'conflict'
              : 'unavailable';
    return new ProviderError(code, `${what}: the Kubernetes API answered ${error.code}: ${reason}`, error.code);
  }
  const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as { code?: string }).code;
  return new ProviderError(
    'unavailable',
    `${what}: cannot reach the Kubernetes API (${cause ?? (error as Error).message ?? String(error)})`,
  );
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const refuse = (code: ProviderErrorCode, message: string) => new ProviderError(code, message);

/** A kubeconfig file (or, without one, the pod's service account), refused with a message that names it. */
export function loadKubeConfig(kubeconfig: string | undefined): KubeConfig {
  const config = new KubeConfig();
  try {
    if (kubeconfig === undefined) config.loadFromCluster();
    else config.loadFromFile(kubeconfig);
  } catch (error) {
    const source = kubeconfig ?? 'the in-cluster service account';
    throw refuse('bad_request', `cannot load the kubeconfig ${source}: ${(error as Error).message}`);
  }
  if (config.getCurrentCluster() === null) {
    throw refuse('bad_request', `the kubeconfig ${kubeconfig ?? ''} names no current cluster`);
  }
  return config;
}

/** The status Understudy reads off a node: fence, then readiness, then the standby taint. */
export function hostStatusOf(node: V1Node): HostStatus {
  if (hasTaint(node, OUT_OF_SERVICE_TAINT)) return 'fenced';
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready === undefined) return 'provisioning';
  if (ready.status !== 'True') return 'failed';
  return hasTaint(node, STANDBY_TAINT) ? 'inactive' : 'active';
}

interface Fleet {
  nodes: V1Node[];
  /** The workloads' controllers: Deployments and StatefulSets. */
  controllers: (V1Deployment | V1StatefulSet)[];
  pods: V1Pod[];
}

/** The pod that stands for a workload now: a live one (running first), else one still terminating. */
function livePod(pods: readonly V1Pod[]): V1Pod | undefined {
  const placed = pods.filter((p) => p.spec?.nodeName);
  const live = placed.filter((p) => !p.metadata?.deletionTimestamp);
  const running = live.filter((p) => p.status?.phase === 'Running');
  return running[0] ?? live[0] ?? placed[0];
}

const podRunsOn = (pod: V1Pod, nodeName: string): boolean =>
  pod.spec?.nodeName === nodeName &&
  !pod.metadata?.deletionTimestamp &&
  pod.status?.phase === 'Running' &&
  (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

interface Remembered {
  fingerprint: string;
  operationId: string;
}

export class KubernetesFleetProvider implements FleetProvider {
  private readonly core: CoreV1Api;
  private readonly coordination: CoordinationV1Api;
  private readonly apps: AppsV1Api;
  private readonly policy: PolicyV1Api;
  private readonly operations = new Map<string, Operation>();
  private readonly keys = new Map<string, Remembered>();
  private readonly migrating = new Map<string, string>();
  /** Cordons this process holds on a migration's source, counted so that the last one to finish uncordons. */
  private readonly cordons = new Map<string, number>();
  private readonly dataLoss: DataLossRecord[] = [];
  private readonly settleTimeoutMs: number;
  private readonly evictionTimeoutMs: number;
  /** When this process first saw each node's current lease renew time. */
  private readonly leases = new Map<string, LeaseObservation>();

  constructor(private readonly options: KubernetesFleetProviderOptions) {
    const config = loadKubeConfig(options.kubeconfig);
    this.core = config.makeApiClient(CoreV1Api);
    this.coordination = config.makeApiClient(CoordinationV1Api);
    this.apps = config.makeApiClient(AppsV1Api);
    this.policy = config.makeApiClient(PolicyV1Api);
    this.settleTimeoutMs = options.settleTimeoutMs ?? 120_000;
    this.evictionTimeoutMs = options.evictionTimeoutMs ?? 30_000;
  }

  // ---- reads ------------------------------------------------------------------------------------------------------

  private async call<T>(what: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw providerError(error, what);
    }
  }

  private readNode(name: string): Promise<V1Node> {
    return this.call(`reading node ${name}`, () => this.core.readNode({ name })).catch((error: ProviderError) => {
      throw error.code === 'not_found'
        ? refuse('not_found', `host ${name} does not exist (no node of that name)`)
        : error;
    });
  }

  private async readFleet(): Promise<Fleet> {
    const namespace = this.options.namespace;
    const [nodes, deployments, statefulSets, pods] = await Promise.all([
      this.call('listing nodes', () => this.core.listNode({ labelSelector: ROLE_LABEL })),
      this.call('listing workloads', () =>
        this.apps.listNamespacedDeployment({ namespace, labelSelector: WORKLOAD_LABEL }),
      ),
      this.call('listing workloads', () =>
        this.apps.listNamespacedStatefulSet({ namespace, labelSelector: WORKLOAD_LABEL }),
      ),
      this.call('listing pods', () => this.core.listNamespacedPod({ namespace, labelSelector: WORKLOAD_LABEL })),
    ]);
    return { nodes: nodes.items, controllers: [...deployments.items, ...statefulSets.items], pods: pods.items };
  }

  private workloadOf(deployment: V1Deployment | V1StatefulSet, pods: readonly V1Pod[]): Workload {
    const id = deployment.metadata!.name!;
    const pod = livePod(pods.filter((p) => p.metadata?.labels?.[WORKLOAD_LABEL] === id));
    const annotations = deployment.metadata?.annotations ?? {};
    const requests = deployment.spec?.template.spec?.containers[0]?.resources?.requests;
    const migratingTo = this.migrating.get(id);
    return {
      id,
      requirements: annotations[REQUIREMENTS_ANNOTATION]
        ? (JSON.parse(annotations[REQUIREMENTS_ANNOTATION]) as Capacity)
        : capacityOf(requests),
      demand: annotations[DEMAND_ANNOTATION]
        ? (JSON.parse(annotations[DEMAND_ANNOTATION]) as DemandProfile)
        : { kind: 'synthetic', base: 0.5 },
      hostId: pod?.spec?.nodeName ?? '',
      ...(migratingTo ? { migratingTo } : {}),
      createdAt: deployment.metadata?.creationTimestamp?.toISOString() ?? now(),
    };
  }

  private hostOf(node: V1Node, workloads: readonly Workload[]): Host {
    const name = node.metadata!.name!;
    const labels = node.metadata?.labels ?? {};
    const annotations = node.metadata?.annotations ?? {};
    const configuration = annotations[CONFIGURATION_ANNOTATION];
    const appliedConfiguration: AppliedConfiguration | undefined = configuration
      ? {
          values: JSON.parse(configuration) as AppliedConfiguration['values'],
          hash: annotations[CONFIGURATION_HASH_ANNOTATION] ?? '',
          appliedAt: annotations[CONFIGURATION_APPLIED_ANNOTATION] ?? '',
        }
      : undefined;
    const created = node.metadata?.creationTimestamp?.toISOString() ?? now();
    return {
      id: name,
      region: labels[REGION_LABEL] ?? '',
      zone: labels[ZONE_LABEL] ?? '',
      capacity: annotations[CAPACITY_ANNOTATION]
        ? (JSON.parse(annotations[CAPACITY_ANNOTATION]) as Capacity)
        : capacityOf(node.status?.capacity),
      allocationFraction: Number(annotations[ALLOCATION_ANNOTATION] ?? 1),
      role: labels[ROLE_LABEL] === 'shadow' ? 'shadow' : 'primary',
      status: hostStatusOf(node),
      ...(labels[PAIR_LABEL] ? { pairId: labels[PAIR_LABEL] } : {}),
      workloadIds: workloads.filter((w) => w.hostId === name).map((w) => w.id),
      dataVersion: Number(annotations[DATA_VERSION_ANNOTATION] ?? 0),
      ...(annotations[REPLICATING_FROM_ANNOTATION]
        ? { replicatingFrom: annotations[REPLICATING_FROM_ANNOTATION] }
        : {}),
      ...(appliedConfiguration ? { appliedConfiguration } : {}),
      createdAt: created,
      updatedAt: now(),
    };
  }

  private snapshotOf(fleet: Fleet, hostIds?: readonly string[]): FleetSnapshot {
    const all = fleet.controllers.map((d) => this.workloadOf(d, fleet.pods));
    const wanted = hostIds === undefined ? undefined : new Set(hostIds);
    const nodes = fleet.nodes.filter((n) => wanted === undefined || wanted.has(n.metadata!.name!));
    const names = new Set(nodes.map((n) => n.metadata!.name!));
    return {
      now: now(),
      hosts: nodes.map((n) => this.hostOf(n, all)),
      workloads: wanted === undefined ? all : all.filter((w) => names.has(w.hostId)),
    };
  }

  async describeFleet(filter?: { hostIds?: string[] }): Promise<FleetSnapshot> {
    return this.snapshotOf(await this.readFleet(), filter?.hostIds);
  }

  async getHost(hostId: string): Promise<Host> {
    return (await this.hostWithWorkloads(hostId)).host;
  }

  /**
   * The host and the workloads on it, from one read of the fleet; a node the fleet's list leaves out (not
   * Understudy's, or gone) is read on its own, which names it when it does not exist.
   */
  private async hostWithWorkloads(hostId: string): Promise<{ host: Host; workloads: Workload[] }> {
    const fleet = await this.readFleet();
    const node = fleet.nodes.find((n) => n.metadata?.name === hostId) ?? (await this.readNode(hostId));
    const all = this.snapshotOf(fleet).workloads;
    return { host: this.hostOf(node, all), workloads: all.filter((w) => w.hostId === hostId) };
  }

  private healthOf(node: V1Node, lease: V1Lease | undefined): HealthReport {
    const hostId = node.metadata!.name!;
    const renewTime = lease?.spec?.renewTime;
    const verdict = judgeLease(
      this.leases.get(hostId),
      renewTime === undefined
        ? undefined
        : {
            renewTime: instantText(renewTime),
            durationSeconds: lease?.spec?.leaseDurationSeconds ?? DEFAULT_NODE_LEASE_SECONDS,
          },
      this.nowMs(),
    );
    if (verdict.observation === undefined) this.leases.delete(hostId);
    else this.leases.set(hostId, verdict.observation);
    const readyStatus = hostStatusOf(node);
    // A fence outranks the lease: a fenced node stays fenced whatever its kubelet does.
    const leaseFailed =
      verdict.silentForSeconds !== undefined && readyStatus !== 'fenced' && readyStatus !== 'provisioning';
    const status = leaseFailed ? 'failed' : readyStatus;
    return {
      hostId,
      healthy: HEALTHY_STATUSES.includes(status),
      status,
      role: node.metadata?.labels?.[ROLE_LABEL] === 'shadow' ? 'shadow' : 'primary',
      checkedAt: now(),
      ...(leaseFailed ? { detail: `node lease not renewed for ${verdict.silentForSeconds} s` } : {}),
    };
  }

  private nowMs(): number {
    return this.options.nowMs?.() ?? Date.now();
  }

  /** The node's Lease; undefined when it has none. */
  private readLease(name: string): Promise<V1Lease | undefined> {
    return this.call(`reading the lease of node ${name}`, () =>
      this.coordination.readNamespacedLease({ name, namespace: NODE_LEASE_NAMESPACE }),
    ).catch((error: ProviderError) => {
      if (error.code === 'not_found') return undefined;
      throw error;
    });
  }

  async healthCheck(hostId: string): Promise<HealthReport> {
    const [node, lease] = await Promise.all([this.readNode(hostId), this.readLease(hostId)]);
    return this.healthOf(node, lease);
  }

  async healthCheckMany(hostIds: string[]): Promise<HealthReports> {
    if (hostIds.length > MAX_HEALTH_CHECK_BATCH) {
      throw refuse(
        'payload_too_large',
        `at most ${MAX_HEALTH_CHECK_BATCH} hosts per health check, not ${hostIds.length}`,
      );
    }
    // One list of the managed nodes answers the whole batch.
    const [nodes, leases] = await Promise.all([
      this.call('listing nodes', () => this.core.listNode({ labelSelector: ROLE_LABEL })),
      this.call('listing node leases', () =>
        this.coordination.listNamespacedLease({ namespace: NODE_LEASE_NAMESPACE }),
      ),
    ]);
    const byName = new Map(nodes.items.map((n) => [n.metadata!.name!, n]));
    const leaseOf = new Map(leases.items.map((l) => [l.metadata!.name!, l]));
    return {
      checkedAt: now(),
      reports: hostIds.filter((id) => byName.has(id)).map((id) => this.healthOf(byName.get(id)!, leaseOf.get(id))),
      unknown: hostIds.filter((id) => !byName.has(id)),
    };
  }

  async verifyReplication({ sourceHostId, targetHostId }: ReplicationRequest): Promise<ReplicationStatus> {
    const [source, target] = await Promise.all([this.readNode(sourceHostId), this.readNode(targetHostId)]);
    const version = (node: V1Node) => Number(node.metadata?.annotations?.[DATA_VERSION_ANNOTATION] ?? 0);
    const linked = target.metadata?.annotations?.[REPLICATING_FROM_ANNOTATION] === sourceHostId;
    const sourceUp = HEALTHY_STATUSES.includes(hostStatusOf(source));
    const lagVersions = Math.max(0, version(source) - version(target));
    return {
      sourceHostId,
      targetHostId,
      state: !linked ? 'not-replicating' : !sourceUp ? 'broken' : lagVersions === 0 ? 'caught-up' : 'streaming',
      sourceVersion: version(source),
      targetVersion: version(target),
      lagVersions,
      // The annotation carries versions only; a replicator that knows its write rate can publish seconds as well.
      lagSeconds: 0,
      checkedAt: now(),
    };
  }

  async invariants(): Promise<InvariantReport> {
    const snapshot = await this.describeFleet();
    const violations: InvariantViolation[] = [];
    const hosts = new Map(snapshot.hosts.map((h) => [h.id, h]));
    for (const workload of snapshot.workloads) {
      const host = hosts.get(workload.hostId);
      if (host === undefined || host.status !== 'active') {
        violations.push({
          kind: 'workload-not-on-healthy-active-host',
          workloadId: workload.id,
          hostId: workload.hostId,
          ...(host ? { hostStatus: host.status } : {}),
          message: `workload ${workload.id} is on ${workload.hostId || 'no node'}${host ? `, which is ${host.status}` : ''}`,
        });
      }
    }
    const pairs = new Map<string, Host[]>();
    for (const host of snapshot.hosts) {
      if (host.pairId && host.role === 'primary' && host.status !== 'fenced') {
        pairs.set(host.pairId, [...(pairs.get(host.pairId) ?? []), host]);
      }
    }
    for (const [pairId, primaries] of pairs) {
      if (primaries.length > 1) {
        violations.push({
          kind: 'two-unfenced-primaries',
          pairId,
          hostIds: primaries.map((h) => h.id),
          message: `pair ${pairId} has ${primaries.length} unfenced primaries: ${primaries.map((h) => h.id).join(', ')}`,
        });
      }
    }
    for (const host of snapshot.hosts) {
      const used = reservedBy(snapshot.workloads.filter((w) => w.hostId === host.id));
      for (const resource of exceededResources(used, scaleCapacity(host.capacity, host.allocationFraction))) {
        violations.push({
          kind: 'capacity-exceeded',
          hostId: host.id,
          resource,
          requiredPercent: 0,
          message: `${host.id}'s workloads reserve more ${resource} than its allocation`,
        });
      }
    }
    return { ok: violations.length === 0, checkedAt: now(), violations, dataLoss: [...this.dataLoss] };
  }

  // ---- operations ---------------------------------------------------------------------------------------------------

  async getOperation<K extends OperationKind>(operationId: string): Promise<Operation<K>> {
    const operation = this.operations.get(operationId);
    if (operation === undefined) throw refuse('not_found', `operation ${operationId} is not known to this provider`);
    return Promise.resolve({ ...operation } as Operation<K>);
  }

  waitForOperation<K extends OperationKind>(operation: Operation<K> | string, options: WaitOptions = {}) {
    return pollOperation((id) => this.getOperation<K>(id), operation, { pollIntervalMs: POLL_MS, ...options });
  }

  /**
   * Starts `run` as an operation under its idempotency key: the same key and arguments give the first call's
   * operation (unless it failed: then a fresh attempt), other arguments an idempotency_conflict.
   */
  private begin<K extends OperationKind>(
    kind: K,
    request: { idempotencyKey: string } & object,
    target: { hostId?: string; workloadId?: string },
    expectedMs: number,
    run: (operation: Operation<K>) => Promise<OperationResults[K]>,
  ): Promise<Operation<K>> {
    const { idempotencyKey, ...params } = request;
    if (typeof idempotencyKey !== 'string' || idempotencyKey.length === 0) {
      return Promise.reject(refuse('bad_request', `${kind}: idempotencyKey must be a non-empty string`));
    }
    const fingerprint = canonicalJson({ kind, params });
    const known = this.keys.get(idempotencyKey);
    if (known !== undefined) {
      if (known.fingerprint !== fingerprint) {
        return Promise.reject(
          refuse(
            'idempotency_conflict',
            `idempotency key "${idempotencyKey}" was first used for ${known.fingerprint}; it cannot be reused for ${fingerprint}`,
          ),
        );
      }
      const first = this.operations.get(known.operationId);
      if (first !== undefined && first.status !== 'failed') return Promise.resolve({ ...first } as Operation<K>);
    }
    const started = Date.now();
    const operation: Operation<K> = {
      id: `op-${randomUUID()}`,
      kind,
      idempotencyKey,
      status: 'running',
      progress: 0,
      ...target,
      startedAt: new Date(started).toISOString(),
      expectedFinishAt: new Date(started + expectedMs).toISOString(),
    };
    this.operations.set(operation.id, operation);
    this.keys.set(idempotencyKey, { fingerprint, operationId: operation.id });
    this.forgetOldOperations();
    run(operation).then(
      (result) => {
        operation.status = 'succeeded';
        operation.progress = 1;
        operation.result = result;
        operation.finishedAt = now();
      },
      (error: unknown) => {
        const failure = providerError(error, kind);
        operation.status = 'failed';
        operation.error = { code: failure.code, message: failure.message };
        operation.finishedAt = now();
      },
    );
    return Promise.resolve({ ...operation });
  }

  private forgetOldOperations(): void {
    const finished = [...this.operations.values()].filter((o) => o.status !== 'running');
    for (const old of finished.slice(0, Math.max(0, finished.length - MAX_FINISHED_OPERATIONS))) {
      this.operations.delete(old.id);
      if (this.keys.get(old.idempotencyKey)?.operationId === old.id) this.keys.delete(old.idempotencyKey);
    }
  }

  /**
   * Read, change and write a node's metadata and taints with optimistic concurrency: the patch carries the
   * resourceVersion it was computed from, and a conflict (someone else wrote the node) reads it again.
   */
  private async updateNode(
    name: string,
    change: (node: V1Node) => {
      labels?: Record<string, string | null>;
      annotations?: Record<string, string | null>;
      taints?: V1Taint[];
      unschedulable?: boolean;
    },
  ): Promise<V1Node> {
    for (let attempt = 1; ; attempt++) {
      const node = await this.readNode(name);
      const { labels, annotations, taints, unschedulable } = change(node);
      const body = {
        metadata: {
          resourceVersion: node.metadata!.resourceVersion,
          ...(labels ? { labels } : {}),
          ...(annotations ? { annotations } : {}),
        },
        spec: { ...(taints ? { taints } : {}), ...(unschedulable === undefined ? {} : { unschedulable }) },
      };
      try {
        return await this.core.patchNode({ name, body }, MERGE_PATCH);
      } catch (error) {
        if (error instanceof ApiException && error.code === 409 && attempt < 10) continue;
        throw providerError(error, `updating node ${name}`);
      }
    }
  }

  private withTaint = (node: V1Node, taint: V1Taint): V1Taint[] => [
    ...(node.spec?.taints ?? []).filter((t) => !(t.key === taint.key && t.effect === taint.effect)),
    { key: taint.key, value: taint.value, effect: taint.effect },
  ];

  private withoutTaint = (node: V1Node, taint: { key: string; effect: string }): V1Taint[] =>
    (node.spec?.taints ?? []).filter((t) => !(t.key === taint.key && t.effect === taint.effect));

  /** Polls until `done` holds for the node, or fails naming what it waited for. */
  private async waitForNode(name: string, what: string, done: (node: V1Node) => boolean): Promise<V1Node> {
    const deadline = Date.now() + this.settleTimeoutMs;
    for (;;) {
      const node = await this.readNode(name);
      if (done(node)) return node;
      if (Date.now() > deadline) throw refuse('timeout', `node ${name} ${what} within ${this.settleTimeoutMs} ms`);
      await sleep(POLL_MS);
    }
  }

  private async workloadsOn(hostId: string): Promise<Workload[]> {
    const fleet = await this.readFleet();
    return this.snapshotOf(fleet).workloads.filter((w) => w.hostId === hostId);
  }

  private async resize(host: Host, fraction: number): Promise<Host> {
    const allocatable = scaleCapacity(host.capacity, fraction);
    await this.options.sizer.resize(host.id, allocatable);
    const node = await this.updateNode(host.id, () => ({ annotations: { [ALLOCATION_ANNOTATION]: String(fraction) } }));
    return this.hostOf(node, []);
  }

  provisionHost(request: ProvisionHostRequest): Promise<Operation<'provisionHost'>> {
    const name = request.hostId ?? `host-${randomUUID().slice(0, 8)}`;
    if (!/^[a-z0-9]([-a-z0-9.]{0,98}[a-z0-9])?$/.test(name)) {
      return Promise.reject(
        refuse('bad_request', `hostId "${name}" is not a node name (lower-case letters, digits, "-" and ".")`),
      );
    }
    const badSize = Object.entries(request.capacity ?? {}).find(([, v]) => !(typeof v === 'number' && v > 0));
    if (badSize !== undefined) {
      return Promise.reject(refuse('bad_request', `capacity.${badSize[0]} must be a positive number`));
    }
    const fraction = request.allocationFraction ?? (request.role === 'shadow' ? DEFAULT_SHADOW_ALLOCATION : 1);
    const named: ProvisionHostRequest = { ...request, hostId: name };
    return this.begin('provisionHost', named, { hostId: name }, 5_000, async () => {
      const existing = await this.core.readNode({ name }).catch(() => undefined);
      if (existing === undefined) {
        const serves =
          request.role === 'shadow' && request.pairId !== undefined
            ? await this.servedBy(request.pairId)
            : (request.pairId ?? name);
        await this.call(`creating node ${name}`, () =>
          this.options.nodeFactory.create({
            metadata: {
              name,
              labels: {
                [ROLE_LABEL]: request.role,
                [REGION_LABEL]: request.region,
                [ZONE_LABEL]: request.zone,
                ...(request.pairId ? { [PAIR_LABEL]: request.pairId } : {}),
                [SERVES_LABEL]: serves,
              },
              annotations: {
                [CAPACITY_ANNOTATION]: JSON.stringify(request.capacity),
                [ALLOCATION_ANNOTATION]: String(fraction),
              },
            },
            spec: { taints: request.role === 'shadow' ? [{ ...STANDBY_TAINT }] : [] },
          }),
        );
      } else if (existing.metadata?.labels?.[PAIR_LABEL] !== request.pairId && request.pairId !== undefined) {
        throw refuse(
          'conflict',
          `node ${name} already exists and belongs to pair ${existing.metadata?.labels?.[PAIR_LABEL]}`,
        );
      }
      await this.options.sizer.resize(name, scaleCapacity(request.capacity, fraction));
      const ready = await this.waitForNode(name, 'did not become Ready', (n) => hostStatusOf(n) !== 'provisioning');
      return this.hostOf(ready, []);
    });
  }

  /**
   * What a new shadow of the pair serves: its primary's workloads. The primary is the pair's unfenced primary node,
   * or the node the pair is named after (a fleet names each pair after its primary).
   */
  private async servedBy(pairId: string): Promise<string> {
    const primaries = await this.call('listing nodes', () =>
      this.core.listNode({ labelSelector: `${PAIR_LABEL}=${pairId},${ROLE_LABEL}=primary` }),
    );
    const primary =
      primaries.items.find((n) => hostStatusOf(n) !== 'fenced') ??
      (await this.core.readNode({ name: pairId }).catch(() => undefined));
    return primary?.metadata?.labels?.[SERVES_LABEL] ?? pairId;
  }

  activateShadow(request: ActivateShadowRequest): Promise<Operation<'activateShadow'>> {
    const fraction = request.allocationFraction ?? 1;
    return this.begin('activateShadow', request, { hostId: request.hostId }, 2_000, async () => {
      const host = await this.getHost(request.hostId);
      if (host.role !== 'shadow') throw refuse('conflict', `${host.id} is a primary, not a shadow`);
      if (host.status === 'active' && host.allocationFraction >= fraction) return host; // done before
      if (host.status !== 'inactive' && host.status !== 'active') {
        throw refuse('conflict', `shadow ${host.id} is ${host.status}; only a healthy shadow can be activated`);
      }
      await this.resize(host, fraction);
      const node = await this.updateNode(host.id, (n) => ({ taints: this.withoutTaint(n, STANDBY_TAINT) }));
      return this.hostOf(node, []);
    });
  }

  resizeHost(request: ResizeHostRequest): Promise<Operation<'resizeHost'>> {
    return this.begin('resizeHost', request, { hostId: request.hostId }, 2_000, () => this.resizeChecked(request));
  }

  private async resizeChecked(request: ResizeHostRequest, mustGrowActiveShadow = false): Promise<Host> {
    const { hostId, allocationFraction } = request;
    if (!(allocationFraction > 0 && allocationFraction <= 1)) {
      throw refuse('bad_request', `allocationFraction must be above 0 and at most 1, not ${allocationFraction}`);
    }
    const { host, workloads } = await this.hostWithWorkloads(hostId);
    if (host.status !== 'active' && host.status !== 'inactive') {
      throw refuse('conflict', `${hostId} is ${host.status}; only a healthy host can be resized`);
    }
    if (mustGrowActiveShadow) {
      if (host.role !== 'shadow' || host.status !== 'active')
        throw refuse('conflict', `${hostId} is not an active shadow`);
      if (host.allocationFraction >= allocationFraction) {
        if (host.allocationFraction === allocationFraction) return host; // done before
        throw refuse('conflict', `${hostId} already holds ${host.allocationFraction} of its capacity`);
      }
    }
    if (!fitsWithin(reservedBy(workloads), scaleCapacity(host.capacity, allocationFraction))) {
      throw refuse('insufficient_capacity', `${hostId}'s workloads would no longer fit in ${allocationFraction} of it`);
    }
    return this.resize(host, allocationFraction);
  }

  scaleUpShadow(request: ResizeHostRequest): Promise<Operation<'scaleUpShadow'>> {
    return this.begin('scaleUpShadow', request, { hostId: request.hostId }, 2_000, () =>
      this.resizeChecked(request, true),
    );
  }

  deactivateShadow(request: DeactivateShadowRequest): Promise<Operation<'deactivateShadow'>> {
    const fraction = request.allocationFraction ?? DEFAULT_SHADOW_ALLOCATION;
    return this.begin('deactivateShadow', request, { hostId: request.hostId }, 2_000, async () => {
      const host = await this.getHost(request.hostId);
      if (host.role !== 'shadow') throw refuse('conflict', `${host.id} is a primary, not a shadow`);
      if (host.status === 'inactive') return host; // done before
      if (host.status !== 'active') throw refuse('conflict', `shadow ${host.id} is ${host.status}`);
      if (host.workloadIds.length > 0) {
        throw refuse('conflict', `shadow ${host.id} still holds workloads: ${host.workloadIds.join(', ')}`);
      }
      // Tainted first, so nothing lands on it while it shrinks.
      await this.updateNode(host.id, (n) => ({ taints: this.withTaint(n, STANDBY_TAINT) }));
      return this.resize(host, fraction).then((h) => ({ ...h, status: 'inactive' as const }));
    });
  }

  setRole(request: SetRoleRequest): Promise<Operation<'setRole'>> {
    return this.begin('setRole', request, { hostId: request.hostId }, 500, async () => {
      const host = await this.getHost(request.hostId);
      if (host.role === request.role) return host;
      if (request.role === 'primary' && host.pairId) {
        const fleet = await this.describeFleet();
        const old = fleet.hosts.find((h) => h.pairId === host.pairId && h.id !== host.id && h.role === 'primary');
        if (old && (old.status === 'failed' || old.status === 'fenced')) this.recordDataLoss(old, host);
      }
      const node = await this.updateNode(host.id, () => ({ labels: { [ROLE_LABEL]: request.role } }));
      return this.hostOf(node, []);
    });
  }

  private recordDataLoss(failed: Host, promoted: Host): number {
    const lostVersions = Math.max(0, Math.floor(failed.dataVersion) - Math.floor(promoted.dataVersion));
    if (!this.dataLoss.some((d) => d.failedHostId === failed.id && d.promotedHostId === promoted.id)) {
      this.dataLoss.push({
        ...(failed.pairId ? { pairId: failed.pairId } : {}),
        failedHostId: failed.id,
        promotedHostId: promoted.id,
        lostVersions,
        at: now(),
      });
    }
    return lostVersions;
  }

  fenceHost(request: HostActionRequest): Promise<Operation<'fenceHost'>> {
    return this.begin('fenceHost', request, { hostId: request.hostId }, 500, async () => {
      const node = await this.updateNode(request.hostId, (n) => ({
        taints: hasTaint(n, OUT_OF_SERVICE_TAINT) ? (n.spec?.taints ?? []) : this.withTaint(n, OUT_OF_SERVICE_TAINT),
        unschedulable: true,
      }));
      return this.hostOf(node, []);
    });
  }

  decommissionHost(request: HostActionRequest): Promise<Operation<'decommissionHost'>> {
    return this.begin('decommissionHost', request, { hostId: request.hostId }, 1_000, async () => {
      const node = await this.core.readNode({ name: request.hostId }).catch(() => undefined);
      if (node === undefined) {
        // Deleted before (a retry): report it as gone.
        return {
          ...this.hostOf({ metadata: { name: request.hostId } }, []),
          status: 'decommissioned' as const,
        };
      }
      const workloads = await this.workloadsOn(request.hostId);
      if (workloads.length > 0 && hostStatusOf(node) !== 'fenced') {
        throw refuse('conflict', `${request.hostId} still holds workloads: ${workloads.map((w) => w.id).join(', ')}`);
      }
      const host = this.hostOf(node, []);
      await this.call(`deleting node ${request.hostId}`, () => this.core.deleteNode({ name: request.hostId }));
      return { ...host, status: 'decommissioned' as const };
    });
  }

  syncConfiguration(request: SyncConfigurationRequest): Promise<Operation<'syncConfiguration'>> {
    return this.begin('syncConfiguration', request, { hostId: request.hostId }, 500, async () => {
      const hash = configurationHash(request.desired);
      const appliedAt = now();
      const node = await this.updateNode(request.hostId, (n) => {
        const annotations = n.metadata?.annotations ?? {};
        if (annotations[CONFIGURATION_HASH_ANNOTATION] === hash) return {};
        return {
          annotations: {
            [CONFIGURATION_ANNOTATION]: canonicalJson(request.desired),
            [CONFIGURATION_HASH_ANNOTATION]: hash,
            [CONFIGURATION_APPLIED_ANNOTATION]: appliedAt,
          },
        };
      });
      const annotations = node.metadata?.annotations ?? {};
      return {
        hostId: request.hostId,
        values: request.desired,
        hash,
        appliedAt: annotations[CONFIGURATION_APPLIED_ANNOTATION] ?? appliedAt,
      };
    });
  }

  startReplication(request: StartReplicationRequest): Promise<Operation<'startReplication'>> {
    return this.begin('startReplication', request, { hostId: request.targetHostId }, 500, async () => {
      await this.readNode(request.sourceHostId);
      await this.updateNode(request.targetHostId, () => ({
        annotations: { [REPLICATING_FROM_ANNOTATION]: request.sourceHostId },
      }));
      return this.verifyReplication(request);
    });
  }

  migrateWorkload(request: MigrateWorkloadRequest): Promise<Operation<'migrateWorkload'>> {
    return this.begin(
      'migrateWorkload',
      request,
      { hostId: request.targetHostId, workloadId: request.workloadId },
      10_000,
      (operation) => this.migrate(request, operation),
    );
  }

  private async migrate(request: MigrateWorkloadRequest, operation: Operation): Promise<MigrationResult> {
    const { workloadId, sourceHostId, targetHostId } = request;
    const fleet = await this.describeFleet();
    const workload = fleet.workloads.find((w) => w.id === workloadId);
    if (workload === undefined) throw refuse('not_found', `workload ${workloadId} does not exist`);
    const source = fleet.hosts.find((h) => h.id === sourceHostId);
    const target = fleet.hosts.find((h) => h.id === targetHostId);
    if (source === undefined) throw refuse('not_found', `host ${sourceHostId} does not exist`);
    if (target === undefined) throw refuse('not_found', `host ${targetHostId} does not exist`);
    const restoredFromReplica = source.status === 'failed' || source.status === 'fenced';
    const result = (): MigrationResult => ({
      workloadId,
      sourceHostId,
      targetHostId,
      restoredFromReplica,
      lostVersions: restoredFromReplica ? this.recordDataLoss(source, target) : 0,
    });
    if (workload.hostId === targetHostId) return result(); // moved before (a retry)
    if (source.status === 'failed') {
      // Its pods would wait for the failed kubelet for minutes: only a fence frees them.
      throw refuse(
        'conflict',
        `source ${sourceHostId} has failed and is not fenced; fence it before moving its workloads`,
      );
    }
    // No placed pod: its controller is replacing it (the fence deleted it, or an earlier attempt evicted it). It moves
    // on as if it were still on the source: its replacement can land only on the target.
    if (workload.hostId !== sourceHostId && workload.hostId !== '') {
      throw refuse(
        'conflict',
        `workload ${workloadId} runs on ${workload.hostId || 'no node'}, not on ${sourceHostId}`,
      );
    }
    if (target.status !== 'active') {
      throw refuse('conflict', `target ${targetHostId} is ${target.status}; a workload moves only to an active host`);
    }
    const reserved = reservedBy([...fleet.workloads.filter((w) => w.hostId === targetHostId), workload]);
    if (!fitsWithin(reserved, scaleCapacity(target.capacity, target.allocationFraction))) {
      throw refuse('insufficient_capacity', `${workloadId} does not fit on ${targetHostId} at its allocation`);
    }
    this.migrating.set(workloadId, targetHostId);
    try {
      if (restoredFromReplica) {
        // The out-of-service taint deleted the pod; its controller starts the replacement wherever it can run.
        await this.waitForPodOn(workloadId, targetHostId, operation);
        return result();
      }
      await this.cordon(sourceHostId);
      try {
        await this.evict(workloadId, sourceHostId);
        await this.waitForPodOn(workloadId, targetHostId, operation);
      } finally {
        await this.uncordon(sourceHostId);
      }
      return result();
    } finally {
      this.migrating.delete(workloadId);
    }
  }

  private async cordon(hostId: string): Promise<void> {
    const held = this.cordons.get(hostId) ?? 0;
    this.cordons.set(hostId, held + 1);
    if (held === 0) await this.updateNode(hostId, () => ({ unschedulable: true }));
  }

  /** Lifts the migration's cordon once no other migration from the host runs, unless the host was fenced since. */
  private async uncordon(hostId: string): Promise<void> {
    const held = (this.cordons.get(hostId) ?? 1) - 1;
    if (held > 0) {
      this.cordons.set(hostId, held);
      return;
    }
    this.cordons.delete(hostId);
    await this.updateNode(hostId, (n) => (hasTaint(n, OUT_OF_SERVICE_TAINT) ? {} : { unschedulable: false })).catch(
      () => undefined,
    );
  }

  /** Evicts the workload's pod on the source through the Eviction API, waiting while a PodDisruptionBudget refuses. */
  private async evict(workloadId: string, sourceHostId: string): Promise<void> {
    const deadline = Date.now() + this.evictionTimeoutMs;
    for (;;) {
      const pods = await this.call('listing pods', () =>
        this.core.listNamespacedPod({
          namespace: this.options.namespace,
          labelSelector: `${WORKLOAD_LABEL}=${workloadId}`,
          fieldSelector: `spec.nodeName=${sourceHostId}`,
        }),
      );
      const pod = pods.items.find((p) => !p.metadata?.deletionTimestamp);
      if (pod === undefined) return; // evicted before (a retry)
      const name = pod.metadata!.name!;
      try {
        await this.core.createNamespacedPodEviction({
          name,
          namespace: this.options.namespace,
          body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: this.options.namespace } },
        });
        return;
      } catch (error) {
        if (error instanceof ApiException && error.code === 429) {
          if (Date.now() > deadline) {
            const reason = providerError(error, `evicting pod ${name}`).message;
            throw refuse('conflict', `a PodDisruptionBudget blocks moving ${workloadId}: ${reason}`);
          }
          await sleep(1_000);
          continue;
        }
        if (error instanceof ApiException && error.code === 404) return;
        throw providerError(error, `evicting pod ${name}`);
      }
    }
  }

  private async waitForPodOn(workloadId: string, hostId: string, operation: Operation): Promise<void> {
    const started = Date.now();
    const deadline = started + this.settleTimeoutMs;
    for (;;) {
      const pods = await this.call('listing pods', () =>
        this.core.listNamespacedPod({
          namespace: this.options.namespace,
          labelSelector: `${WORKLOAD_LABEL}=${workloadId}`,
        }),
      );
      if (pods.items.some((p) => podRunsOn(p, hostId))) return;
      if (Date.now() > deadline) {
        const where = pods.items.map(
          (p) => `${p.metadata?.name} on ${p.spec?.nodeName ?? 'no node'} (${p.status?.phase})`,
        );
        throw refuse(
          'timeout',
          `workload ${workloadId} did not run on ${hostId} within ${this.settleTimeoutMs} ms; its pods: ${where.join(', ') || 'none'}`,
        );
      }
      operation.progress = Math.min(0.95, (Date.now() - started) / 10_000);
      await sleep(POLL_MS);
    }
  }
}
