/**
 * The Kubernetes provider against a real control plane (etcd, kube-apiserver, kube-scheduler,
 * kube-controller-manager) with kwok playing the nodes: a pair's scale-out onto its shadow under a
 * PodDisruptionBudget, a failover fenced with the out-of-service taint, and bad input refused with the API's reason.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bedClient, kwokNodeFactory, statusPatchSizer } from '../src/provider/kubernetes/bed.js';
import { KubernetesFleetProvider } from '../src/provider/kubernetes/provider.js';
import type { Operation, OperationKind } from '../src/provider/types.js';
import { startTestBed, type TestBed } from './helpers/kubernetes.js';
import { pollUntil } from './helpers/poll.js';
import { expectProviderError, uniqueKey } from './helpers/simulator.js';

const SIZE = { cpuCores: 8, memoryGiB: 32, storageIops: 4_000, networkMbps: 1_000 };
const SMALL = { cpuCores: 2, memoryGiB: 4, storageIops: 500, networkMbps: 100 };

describe('Kubernetes provider on the kwok test bed', () => {
  let t: TestBed;
  const pairs: string[] = [];
  beforeAll(async () => {
    t = await startTestBed();
  }, 150_000);
  afterAll(async () => {
    if (t && pairs.length > 0) await t.control.removePairs(pairs);
  }, 60_000);

  const done = <K extends OperationKind>(operation: Promise<Operation<K>>) =>
    operation.then((op) => t.provider.waitForOperation(op, { timeoutMs: 120_000 }));
  const move = (workloadId: string, sourceHostId: string, targetHostId: string, label: string) =>
    done(t.provider.migrateWorkload({ idempotencyKey: uniqueKey(label), workloadId, sourceHostId, targetHostId }));

  /** A primary in eu-west, its inactive shadow in us-east, and two workloads on the primary. */
  async function pair(prefix: string) {
    const pairId = t.name(prefix);
    pairs.push(pairId);
    const primary = `${pairId}-a`;
    const shadow = `${pairId}-b`;
    await Promise.all([
      done(
        t.provider.provisionHost({
          idempotencyKey: uniqueKey('provision'),
          hostId: primary,
          region: 'eu-west',
          zone: 'eu-west-a',
          capacity: SIZE,
          role: 'primary',
          pairId,
        }),
      ),
      done(
        t.provider.provisionHost({
          idempotencyKey: uniqueKey('provision'),
          hostId: shadow,
          region: 'us-east',
          zone: 'us-east-b',
          capacity: SIZE,
          role: 'shadow',
          pairId,
        }),
      ),
    ]);
    const workloads = [`${pairId}-w1`, `${pairId}-w2`];
    for (const id of workloads) await t.control.createWorkload({ id, pairId, requirements: SMALL });
    await pollUntil(
      () => t.provider.describeFleet({ hostIds: [primary] }),
      (fleet) => fleet.hosts[0]?.workloadIds.length === 2,
      `both workloads of ${pairId} running on ${primary}`,
    );
    return { pairId, primary, shadow, workloads };
  }

  it('describes the pair, activates the shadow and moves a workload under a PodDisruptionBudget', async () => {
    const { primary, shadow, workloads } = await pair('scale');
    const fleet = await t.provider.describeFleet({ hostIds: [primary, shadow] });
    const byId = new Map(fleet.hosts.map((h) => [h.id, h]));
    expect(byId.get(primary)).toMatchObject({ role: 'primary', status: 'active', region: 'eu-west', capacity: SIZE });
    expect(byId.get(shadow)).toMatchObject({ role: 'shadow', status: 'inactive', allocationFraction: 0.15 });
    expect(byId.get(shadow)!.workloadIds).toEqual([]);
    const health = await t.provider.healthCheckMany([primary, shadow, 'no-such-node']);
    expect(health.reports.map((r) => [r.hostId, r.healthy])).toEqual([
      [primary, true],
      [shadow, true],
    ]);
    expect(health.unknown).toEqual(['no-such-node']);

    // A workload cannot move onto a shadow still in standby.
    await expectProviderError(move(workloads[0]!, primary, shadow, 'early'), 'operation_failed');

    const activation = await done(t.provider.activateShadow({ idempotencyKey: uniqueKey('activate'), hostId: shadow }));
    expect(activation.result).toMatchObject({ status: 'active', allocationFraction: 1 });

    // A budget that lets one of the two pods go at a time: the move goes through the Eviction API and lands on the shadow.
    await t.control.createDisruptionBudget(`${primary}-budget`, workloads, 1);
    const key = uniqueKey('move');
    const request = { idempotencyKey: key, workloadId: workloads[0]!, sourceHostId: primary, targetHostId: shadow };
    const first = await t.provider.migrateWorkload(request);
    const again = await t.provider.migrateWorkload(request);
    expect(again.id).toBe(first.id);
    const moved = await t.provider.waitForOperation(first, { timeoutMs: 120_000 });
    expect(moved.result).toEqual({
      workloadId: workloads[0],
      sourceHostId: primary,
      targetHostId: shadow,
      restoredFromReplica: false,
      lostVersions: 0,
    });
    const after = await t.provider.describeFleet({ hostIds: [primary, shadow] });
    expect(after.hosts.find((h) => h.id === shadow)!.workloadIds).toEqual([workloads[0]]);
    expect(after.hosts.find((h) => h.id === primary)!.workloadIds).toEqual([workloads[1]]);
    // The key is the move's: the same key for another move is refused.
    await expectProviderError(
      t.provider.migrateWorkload({ ...request, targetHostId: primary }),
      'idempotency_conflict',
    );
    expect((await bedClient(t.bed.kubeconfig).core.readNode({ name: primary })).spec?.unschedulable ?? false).toBe(
      false,
    );
  });

  it('refuses a move a PodDisruptionBudget blocks, naming it, and leaves the workload and the source as they were', async () => {
    const { primary, shadow, workloads } = await pair('pdb');
    await done(t.provider.activateShadow({ idempotencyKey: uniqueKey('activate'), hostId: shadow }));
    await t.control.createDisruptionBudget(`${primary}-strict`, [workloads[0]!], 1);
    const error = await expectProviderError(move(workloads[0]!, primary, shadow, 'blocked'), 'operation_failed');
    expect(error.message).toMatch(/PodDisruptionBudget blocks moving/);
    expect(error.message).toMatch(new RegExp(`${primary}-strict`));
    const fleet = await t.provider.describeFleet({ hostIds: [primary] });
    expect(fleet.hosts[0]!.workloadIds.sort()).toEqual([...workloads].sort());
    expect((await t.provider.getHost(primary)).status).toBe('active');
    // The cordon the move put on the source is lifted again.
    const node = await bedClient(t.bed.kubeconfig).core.readNode({ name: primary });
    expect(node.spec?.unschedulable ?? false).toBe(false);
  });

  it('fails over: a dead node is fenced with the out-of-service taint and its workloads run on the shadow', async () => {
    const { pairId, primary, shadow, workloads } = await pair('failover');
    await t.control.failNode(primary);
    await pollUntil(
      () => t.provider.healthCheck(primary),
      (report) => !report.healthy,
      `${primary} reported unhealthy after its heartbeats stopped`,
    );
    // Moving off a failed, unfenced node is refused: fencing comes first, always.
    const unfenced = await expectProviderError(move(workloads[0]!, primary, shadow, 'unfenced'), 'operation_failed');
    expect(unfenced.message).toMatch(/fence it before/);

    const fenced = await done(t.provider.fenceHost({ idempotencyKey: uniqueKey('fence'), hostId: primary }));
    expect(fenced.result!.status).toBe('fenced');
    await done(t.provider.activateShadow({ idempotencyKey: uniqueKey('activate'), hostId: shadow }));
    await done(t.provider.setRole({ idempotencyKey: uniqueKey('promote'), hostId: shadow, role: 'primary' }));
    await done(t.provider.setRole({ idempotencyKey: uniqueKey('demote'), hostId: primary, role: 'shadow' }));
    for (const workloadId of workloads) {
      const moved = await move(workloadId, primary, shadow, 'restore');
      expect(moved.result).toMatchObject({ restoredFromReplica: true, targetHostId: shadow });
    }
    const fleet = await t.provider.describeFleet({ hostIds: [primary, shadow] });
    expect(fleet.hosts.find((h) => h.id === shadow)!.workloadIds.sort()).toEqual([...workloads].sort());
    const report = await t.provider.invariants();
    expect(report.violations.filter((v) => JSON.stringify(v).includes(pairId))).toEqual([]);
  });

  it('fails a node whose lease goes unrenewed for its duration, timed by its own clock', async () => {
    const { primary } = await pair('lease');
    // The watcher's clock runs ahead 41 s per check: a lease kwok stopped renewing expires on the second check after
    // its last renewal, long before the controller-manager's grace period would have passed on the wall clock.
    let aheadMs = 0;
    const client = bedClient(t.bed.kubeconfig);
    const watcher = new KubernetesFleetProvider({
      kubeconfig: t.bed.kubeconfig,
      namespace: t.control.namespace,
      sizer: statusPatchSizer(client),
      nodeFactory: kwokNodeFactory(client),
      nowMs: () => Date.now() + aheadMs,
    });
    expect(await watcher.healthCheck(primary)).toMatchObject({ healthy: true, status: 'active' });
    await t.control.failNode(primary);
    const report = await pollUntil(
      async () => {
        aheadMs += 41_000;
        return (await watcher.healthCheckMany([primary])).reports[0];
      },
      (r) => r?.detail !== undefined,
      `${primary} failed by its silent lease`,
    );
    expect(report).toMatchObject({ healthy: false, status: 'failed' });
    expect(report!.detail).toMatch(/^node lease not renewed for \d+ s$/);
  });

  it('names what RBAC forbids, and a refused fence leaves the node as it was', async () => {
    const { primary } = await pair('rbac');
    // The operator identity may read nodes and workloads, and nothing else.
    const admin = bedClient(t.bed.kubeconfig);
    const role = t.name('understudy-read-only');
    await admin.rbac.createClusterRole({
      body: {
        metadata: { name: role },
        rules: [
          { apiGroups: [''], resources: ['nodes', 'pods'], verbs: ['get', 'list'] },
          { apiGroups: ['apps'], resources: ['deployments', 'statefulsets'], verbs: ['get', 'list'] },
          { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list'] },
        ],
      },
    });
    await admin.rbac.createClusterRoleBinding({
      body: {
        metadata: { name: role },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'understudy-operator' }],
      },
    });
    try {
      const operator = new KubernetesFleetProvider({
        kubeconfig: t.bed.kubeconfig.replace(/admin\.kubeconfig$/, 'operator.kubeconfig'),
        namespace: t.control.namespace,
        sizer: { resize: () => Promise.resolve() },
        nodeFactory: { create: () => Promise.resolve() },
      });
      // Bindings take effect at once, but give the authorizer's cache its moment.
      await pollUntil(
        () => operator.healthCheckMany([primary]),
        (health) => health.reports[0]?.healthy === true,
        'the operator reading health once its role is bound',
      );
      const refused = await expectProviderError(
        operator
          .fenceHost({ idempotencyKey: uniqueKey('forbidden'), hostId: primary })
          .then((op) => operator.waitForOperation(op, { timeoutMs: 30_000 })),
        'operation_failed',
      );
      expect(refused.message).toMatch(/answered 403/);
      expect(refused.message).toMatch(/understudy-operator.*cannot patch resource "nodes"/);
      const node = await admin.core.readNode({ name: primary });
      expect(node.spec?.taints ?? []).toEqual([]);
      expect(node.spec?.unschedulable ?? false).toBe(false);
    } finally {
      await admin.rbac.deleteClusterRoleBinding({ name: role });
      await admin.rbac.deleteClusterRole({ name: role });
    }
  });

  it('refuses bad input with a clear reason and changes nothing', async () => {
    await expectProviderError(t.provider.getHost('no-such-node'), 'not_found');
    await expectProviderError(
      t.provider.provisionHost({
        idempotencyKey: uniqueKey('bad'),
        hostId: 'Not_A_Node_Name',
        region: 'eu-west',
        zone: 'eu-west-a',
        capacity: SIZE,
        role: 'primary',
      }),
      'bad_request',
    );
    const missing = await expectProviderError(
      done(t.provider.activateShadow({ idempotencyKey: uniqueKey('ghost'), hostId: 'no-such-node' })),
      'operation_failed',
    );
    expect(missing.message).toMatch(/no-such-node does not exist/);

    const garbled = join(tmpdir(), `understudy-garbled-${Date.now()}.kubeconfig`);
    writeFileSync(garbled, 'clusters: [this is not: a kubeconfig');
    expect(
      () =>
        new KubernetesFleetProvider({
          kubeconfig: garbled,
          namespace: 'x',
          sizer: { resize: () => Promise.resolve() },
          nodeFactory: { create: () => Promise.resolve() },
        }),
    ).toThrow(new RegExp(`cannot load the kubeconfig ${garbled.replace(/[.]/g, '\\.')}`));

    // A kubeconfig that parses but reaches nothing: every call names the API it cannot reach.
    const nowhere = join(tmpdir(), `understudy-nowhere-${Date.now()}.kubeconfig`);
    writeFileSync(nowhere, readFileSync(t.bed.kubeconfig, 'utf8').replace(t.bed.server, 'https://127.0.0.1:9'));
    const unreachable = new KubernetesFleetProvider({
      kubeconfig: nowhere,
      namespace: 'x',
      sizer: { resize: () => Promise.resolve() },
      nodeFactory: { create: () => Promise.resolve() },
    });
    const refused = await expectProviderError(unreachable.healthCheckMany(['a']), 'unavailable');
    expect(refused.message).toMatch(/cannot reach the Kubernetes API/);
  });
});
