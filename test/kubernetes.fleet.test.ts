/**
 * The fleet, a rolling upgrade and a maintenance on Kubernetes: three primary nodes in three regions, each with a
 * Deployment; the fleet workflow places a shadow node for each in another region, a rollout upgrades every pair's
 * configuration through swaps one pair at a time, and a maintenance drains a primary node through a swap and
 * returns it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configurationHash } from '../src/provider/canonical.js';
import { FLEET_WORKFLOW_ID, fleetStateQuery, pairWorkflowId, stateQuery, type FleetState } from '../src/shared/pair.js';
import { endMaintenanceSignal, maintenanceStateQuery, maintenanceWorkflowId } from '../src/shared/rollout.js';
import type { PairPolicy } from '../src/shared/pair.js';
import type { fleetWorkflow } from '../workflows/fleet.js';
import type { maintenanceWorkflow } from '../workflows/maintenance.js';
import type { rolloutWorkflow } from '../workflows/rollout.js';
import { threeRegionTopology } from './helpers/fleet.js';
import { startTestBed, type TestBed } from './helpers/kubernetes.js';
import { FAST_POLICY, createOrchestrationHarness, type OrchestrationHarness } from './helpers/pair.js';
import { pollUntil } from './helpers/poll.js';

/** Health every 2 s and no forecasts: the rollout, not scaling, is under test. */
const QUIET_POLICY: PairPolicy = { ...FAST_POLICY, tickSeconds: 24 * 3600, healthCheckIntervalSeconds: 2 };
const WORKLOAD = { cpuCores: 4, memoryGiB: 8, storageIops: 1_000, networkMbps: 500 };

describe('fleet, rollout and maintenance on the Kubernetes bed', () => {
  let t: TestBed;
  let h: OrchestrationHarness;
  const suffix = Math.random().toString(36).slice(2, 8);
  const topology = threeRegionTopology(1, suffix.slice(0, 4), 2);
  const pairIds = topology.primaries.map((p) => p.hostId);
  const fleetId = `${FLEET_WORKFLOW_ID}-k8s-${suffix}`;
  const started: string[] = [fleetId];
  const workloadOf = (hostId: string) => `w-${hostId}`;

  beforeAll(async () => {
    t = await startTestBed();
    h = await createOrchestrationHarness('k8s-fleet', {}, t.provider);
    for (const p of topology.primaries) {
      await t.provider.waitForOperation(
        await t.provider.provisionHost({
          hostId: p.hostId,
          region: p.region,
          zone: p.zone,
          capacity: p.capacity,
          role: 'primary',
          idempotencyKey: `create:${p.hostId}`,
        }),
        { timeoutMs: 120_000 },
      );
      await t.provider.waitForOperation(
        await t.provider.syncConfiguration({
          hostId: p.hostId,
          desired: { image: 'app:1.0' },
          idempotencyKey: `cfg:${p.hostId}`,
        }),
      );
      await t.control.createWorkload({ id: workloadOf(p.hostId), pairId: p.hostId, requirements: WORKLOAD });
    }
    await h.startWorker();
    await h.client.workflow.start<typeof fleetWorkflow>('fleetWorkflow', {
      taskQueue: h.taskQueue,
      workflowId: fleetId,
      args: [{ topology, policy: QUIET_POLICY, checkIntervalSeconds: 24 * 3600 }],
    });
    await pollUntil(
      () => h.client.workflow.getHandle(fleetId).query(fleetStateQuery),
      (s: FleetState) => s.pairs.length === pairIds.length && s.pairs.every((p) => p.shadow !== undefined),
      'a shadow node placed for every primary',
      150_000,
    );
    for (const id of pairIds) {
      await pollUntil(
        () => h.client.workflow.getHandle(pairWorkflowId(id)).query(stateQuery),
        (s) => s.phase === 'steady',
        `pair ${id} steady`,
      );
    }
  }, 240_000);
  afterAll(async () => {
    for (const id of [...started, ...pairIds.map(pairWorkflowId)]) {
      await h?.client.workflow
        .getHandle(id)
        .terminate('test finished')
        .catch(() => undefined);
    }
    await h?.close();
    if (t) await t.control.removePairs(pairIds);
  }, 90_000);

  const pairState = (id: string) => h.client.workflow.getHandle(pairWorkflowId(id)).query(stateQuery);

  it('places each shadow node in another region, in standby, serving its primary', async () => {
    const fleet = await t.provider.describeFleet();
    for (const id of pairIds) {
      const { primary, shadow } = await pairState(id);
      const shadowHost = fleet.hosts.find((host) => host.id === shadow!.hostId)!;
      expect(shadowHost).toMatchObject({ role: 'shadow', status: 'inactive', pairId: id });
      expect(shadowHost.region).not.toBe(primary.region);
      expect(fleet.workloads.find((w) => w.id === workloadOf(id))?.hostId).toBe(primary.hostId);
    }
  });

  it('rolls every pair to the new configuration through swaps, one pair at a time', async () => {
    const rolloutId = `rollout-k8s-${suffix}`;
    started.push(rolloutId);
    const handle = await h.client.workflow.start<typeof rolloutWorkflow>('rolloutWorkflow', {
      taskQueue: h.taskQueue,
      workflowId: rolloutId,
      args: [
        {
          rolloutId,
          desired: { image: 'app:2.0' },
          fleetWorkflowId: fleetId,
          budget: { maxPairs: 1 },
          windows: [{ cron: '* * * * *', durationMinutes: 1 }],
        },
      ],
    });
    const state = await handle.result();
    expect(state.phase).toBe('completed');
    expect(state.pairs.map((p) => p.step)).toEqual(pairIds.map(() => 'done'));
    expect(state.waves.every((wave) => wave.length === 1)).toBe(true);
    const fleet = await t.provider.describeFleet();
    const upgraded = configurationHash({ image: 'app:2.0' });
    for (const id of pairIds) {
      const { primary, shadow } = await pairState(id);
      for (const hostId of [primary.hostId, shadow!.hostId]) {
        expect(fleet.hosts.find((host) => host.id === hostId)?.appliedConfiguration?.hash, hostId).toBe(upgraded);
      }
      expect(fleet.workloads.find((w) => w.id === workloadOf(id))?.hostId).toBe(primary.hostId);
    }
    const violations = (await t.provider.invariants()).violations.filter((v) =>
      pairIds.some((id) => JSON.stringify(v).includes(id)),
    );
    expect(violations).toEqual([]);
  });

  it('drains a primary node for maintenance through a swap and gives it back', async () => {
    const pairId = pairIds[1]!;
    const before = await pairState(pairId);
    const hostId = before.primary.hostId;
    const workflowId = `${maintenanceWorkflowId(hostId)}-${suffix}`;
    started.push(workflowId);
    const handle = await h.client.workflow.start<typeof maintenanceWorkflow>('maintenanceWorkflow', {
      taskQueue: h.taskQueue,
      workflowId,
      args: [{ hostId, fleetWorkflowId: fleetId }],
    });
    await pollUntil(
      () => handle.query(maintenanceStateQuery),
      (s) => s.phase === 'in-maintenance',
      'in maintenance',
      150_000,
    );
    // Drained: the workload runs on the other node, and the drained node holds nothing.
    const during = await t.provider.describeFleet();
    expect(during.workloads.find((w) => w.id === workloadOf(pairId))?.hostId).toBe(before.shadow!.hostId);
    expect(during.hosts.find((host) => host.id === hostId)?.workloadIds).toEqual([]);
    await handle.signal(endMaintenanceSignal);
    const ended = await handle.result();
    expect(ended.phase).toBe('returned');
    await pollUntil(
      () => pairState(pairId),
      (s) => s.phase === 'steady' && !s.paused,
      'the pair steady again after maintenance',
    );
  });
});
