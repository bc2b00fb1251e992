/**
 * The pair workflow, unchanged, on Kubernetes: the worker acts through the Kubernetes provider on the kwok bed
 * (real apiserver, scheduler and controller-manager), with a Deployment and a StatefulSet. An off-peak swap moves
 * their pods to the shadow node and back under the Eviction API; a node that stops heartbeating is fenced with the
 * out-of-service taint before its shadow takes the pods.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bedClient } from '../src/provider/kubernetes/bed.js';
import { OUT_OF_SERVICE_TAINT } from '../src/provider/kubernetes/names.js';
import { forceSwapSignal, pairWorkflowId, type HostRef } from '../src/shared/pair.js';
import { startTestBed, type TestBed } from './helpers/kubernetes.js';
import { HOST_SIZE, createOrchestrationHarness, isObserved, pairFixtureOn, type PairFixture } from './helpers/pair.js';
import { pollUntil } from './helpers/poll.js';

const WORKLOAD = { cpuCores: 4, memoryGiB: 8, storageIops: 2_000, networkMbps: 1_000 };

describe('hostPairWorkflow on the Kubernetes bed', () => {
  let t: TestBed;
  let f: PairFixture;
  beforeAll(async () => {
    t = await startTestBed();
    const harness = await createOrchestrationHarness('k8s-pair', {}, t.provider);
    const pairId = t.name('k8s-pair');
    const primary: HostRef = { hostId: `${pairId}-a`, region: 'us-east', zone: 'us-east-a', capacity: HOST_SIZE };
    const shadow: HostRef = { hostId: `${pairId}-b`, region: 'eu-west', zone: 'eu-west-b', capacity: HOST_SIZE };
    const act = async <R>(start: Promise<{ id: string } & R>) =>
      t.provider.waitForOperation((await start) as never, { timeoutMs: 120_000 });
    await act(t.provider.provisionHost({ ...primary, role: 'primary', pairId, idempotencyKey: `${pairId}:p` }));
    await act(t.provider.provisionHost({ ...shadow, role: 'shadow', pairId, idempotencyKey: `${pairId}:s` }));
    for (const host of [primary, shadow]) {
      await act(
        t.provider.syncConfiguration({
          hostId: host.hostId,
          desired: { image: 'app:1.0', maxConnections: 500 },
          idempotencyKey: `${pairId}:cfg:${host.hostId}`,
        }),
      );
    }
    await act(
      t.provider.startReplication({
        sourceHostId: primary.hostId,
        targetHostId: shadow.hostId,
        idempotencyKey: `${pairId}:repl`,
      }),
    );
    const workloadIds = [`${pairId}-w1`, `${pairId}-w2`];
    // One Deployment and one StatefulSet: Kubernetes never moves a StatefulSet's pod off a dead node by itself.
    await t.control.createWorkload({ id: workloadIds[0]!, pairId, requirements: WORKLOAD });
    await t.control.createWorkload({ id: workloadIds[1]!, pairId, requirements: WORKLOAD, kind: 'StatefulSet' });
    await pollUntil(
      () => t.provider.getHost(primary.hostId),
      (host) => host.workloadIds.length === 2,
      'both workloads running on the primary node',
    );
    f = pairFixtureOn(harness, { pairId, primary, shadow, workloadIds });
    await f.startWorker();
    await f.startPair();
  }, 180_000);
  afterAll(async () => {
    await f?.close();
    if (t && f) await t.control.removePairs([f.pairId]);
  }, 90_000);

  const hostsOfWorkloads = async () => {
    const fleet = await t.provider.describeFleet({ hostIds: [f.primary.hostId, f.shadow.hostId] });
    return f.workloadIds.map((id) => fleet.workloads.find((w) => w.id === id)?.hostId);
  };

  it('starts steady and watched, with the shadow node on standby', async () => {
    const state = await f.waitForState((s) => isObserved(s) && s.health.watch !== undefined, 'observed and watched');
    expect(state.phase).toBe('steady');
    expect(state.health.watch).toMatchObject({ primaryHostId: f.primary.hostId });
    expect(await t.provider.getHost(f.shadow.hostId)).toMatchObject({ role: 'shadow', status: 'inactive' });
  });

  it('swaps roles: the pods move to the shadow node through evictions, and the old primary goes to standby', async () => {
    await f.client.workflow
      .getHandle(pairWorkflowId(f.pairId))
      .signal(forceSwapSignal, { reason: 'drill on kubernetes' });
    const state = await f.waitForState(
      (s) => s.counters.swaps === 1 && s.phase === 'steady',
      'a completed swap',
      150_000,
    );
    expect(state.primary.hostId).toBe(f.shadow.hostId);
    expect(state.shadow?.hostId).toBe(f.primary.hostId);
    expect(await hostsOfWorkloads()).toEqual([f.shadow.hostId, f.shadow.hostId]);
    expect(await t.provider.getHost(f.shadow.hostId)).toMatchObject({ role: 'primary', status: 'active' });
    expect(await t.provider.getHost(f.primary.hostId)).toMatchObject({ role: 'shadow', status: 'inactive' });
    expect((await t.provider.invariants()).violations.filter((v) => JSON.stringify(v).includes(f.pairId))).toEqual([]);
  });

  it('fails over when the serving node stops heartbeating: out-of-service taint first, then the shadow takes the pods', async () => {
    // After the swap the serving node is the pair's original shadow.
    const serving = f.shadow.hostId;
    const standby = f.primary.hostId;
    await f.waitForState((s) => s.health.watch?.primaryHostId === serving, 'watching the new primary');
    await t.control.failNode(serving);
    const state = await f.waitForState(
      (s) => s.counters.failovers === 1 && s.phase === 'unprotected',
      'a completed failover',
      150_000,
    );
    expect(state.primary.hostId).toBe(standby);
    expect(state.lastAction).toMatchObject({ kind: 'failover', outcome: 'succeeded' });
    const node = await bedClient(t.bed.kubeconfig).core.readNode({ name: serving });
    expect(node.spec?.taints ?? []).toContainEqual(expect.objectContaining({ ...OUT_OF_SERVICE_TAINT }));
    expect(await hostsOfWorkloads()).toEqual([standby, standby]);
    expect(await t.provider.getHost(standby)).toMatchObject({ role: 'primary', status: 'active' });
    expect((await t.provider.invariants()).violations.filter((v) => JSON.stringify(v).includes(f.pairId))).toEqual([]);
  });
});
