import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FLEET_WORKFLOW_ID,
  fleetStateQuery,
  pairWorkflowId,
  stateQuery,
  type FleetPair,
  type FleetState,
  type PairState,
} from '../src/shared/pair.js';
import type { Host } from '../src/provider/types.js';
import type { fleetWorkflow } from '../workflows/fleet.js';
import { createPrimaries, threeRegionTopology } from './helpers/fleet.js';
import { pairsUnderRolloutSignal } from '../src/shared/rollout.js';
import { FAST_POLICY, createOrchestrationHarness, type OrchestrationHarness } from './helpers/pair.js';
import { pollUntil } from './helpers/poll.js';

// A shadow that fails while its primary serves is replaced by the fleet (found by its periodic check, here every
// 2 s instead of 60 s), never in a region that is failed now; the pair workflow takes the new shadow. Real dev
// server, worker and simulator; six primaries in three regions.
describe('fleetWorkflow replaces failed shadows', () => {
  let h: OrchestrationHarness;
  const topology = threeRegionTopology(2);
  const fleetId = `${FLEET_WORKFLOW_ID}-shadowfail-${Math.random().toString(36).slice(2, 8)}`;
  const pairIds = topology.primaries.map((p) => p.hostId);
  const fleetState = () => h.client.workflow.getHandle(fleetId).query(fleetStateQuery);
  const pairState = (pairId: string) => h.client.workflow.getHandle(pairWorkflowId(pairId)).query(stateQuery);

  /** The fleet's record, each pair's own state and the provider's hosts, read together. */
  async function readAll(): Promise<{ fleet: FleetState; pairs: Map<string, PairState>; hosts: Map<string, Host> }> {
    const [fleet, states, snapshot] = await Promise.all([
      fleetState(),
      Promise.all(pairIds.map(pairState)),
      h.sim.provider.describeFleet(),
    ]);
    return {
      fleet,
      pairs: new Map(states.map((s) => [s.pairId, s])),
      hosts: new Map(snapshot.hosts.map((x) => [x.id, x])),
    };
  }

  /**
   * Why `pair` is not yet protected by a healthy shadow outside `avoid` that its pair workflow knows, or undefined
   * when it is.
   */
  function unprotected(
    view: Awaited<ReturnType<typeof readAll>>,
    pair: FleetPair,
    avoid: string[],
  ): string | undefined {
    const shadow = pair.shadow;
    if (!shadow) return `${pair.pairId}: no shadow`;
    const host = view.hosts.get(shadow.hostId);
    const primary = view.hosts.get(pair.primary.hostId);
    if (host?.status !== 'inactive' || host.role !== 'shadow') return `${shadow.hostId} is ${host?.status}`;
    if (host.replicatingFrom !== pair.primary.hostId) return `${shadow.hostId} does not replicate the primary`;
    if (primary?.status !== 'active' || primary.role !== 'primary') return `${pair.primary.hostId} is not serving`;
    if ([pair.primary.region, ...avoid].includes(shadow.region)) return `${shadow.hostId} is in ${shadow.region}`;
    const own = view.pairs.get(pair.pairId);
    if (own?.shadow?.hostId !== shadow.hostId || own.primary.hostId !== pair.primary.hostId)
      return `pair ${pair.pairId} reports ${own?.primary.hostId} ⇄ ${own?.shadow?.hostId}`;
    if (own.phase !== 'steady') return `pair ${pair.pairId} is ${own.phase}`;
    return undefined;
  }

  /** What still keeps the fleet's pairs from being protected outside `avoid` (empty when none), read afresh. */
  async function gaps(avoid: string[], pairFilter: (p: FleetPair) => boolean = () => true): Promise<string[]> {
    const view = await readAll();
    return view.fleet.pairs
      .filter(pairFilter)
      .flatMap((p) => [
        p.primary.region === avoid[0] ? `${p.pairId}: primary in ${avoid[0]}` : undefined,
        unprotected(view, p, avoid),
      ])
      .filter((gap): gap is string => gap !== undefined);
  }

  /** Waits until the failed shadow is decommissioned and the fleet retires nothing more. */
  async function waitForRetirement(hostId: string): Promise<void> {
    await pollUntil(
      async () => ({ host: (await h.sim.provider.getHost(hostId)).status, retiring: (await fleetState()).retiring }),
      (r) => r.host === 'decommissioned' && (r.retiring ?? []).length === 0,
      `${hostId} decommissioned`,
      20_000,
    );
  }

  beforeAll(async () => {
    h = await createOrchestrationHarness('shadowfail');
    await createPrimaries(h.sim, topology);
    await h.startWorker();
    await h.client.workflow.start<typeof fleetWorkflow>('fleetWorkflow', {
      taskQueue: h.taskQueue,
      workflowId: fleetId,
      args: [{ topology, policy: FAST_POLICY, checkIntervalSeconds: 2 }],
    });
    await pollUntil(
      async () => ((await fleetState()).pairs.length === pairIds.length ? gaps([]) : ['not every pair placed']),
      (g) => g.length === 0,
      'every pair placed, provisioned and known to its pair workflow',
    );
  }, 120_000);
  afterAll(async () => {
    for (const id of [fleetId, ...pairIds.map(pairWorkflowId)]) {
      await h?.client.workflow
        .getHandle(id)
        .terminate('test finished')
        .catch(() => undefined);
    }
    await h?.close();
  });

  it('replaces a shadow that failed while its primary serves, and decommissions the failed one', async () => {
    const before = await fleetState();
    const victim = before.pairs[0]!;
    const dead = victim.shadow!;
    const startedAt = Date.now();
    await h.sim.control.failHost(dead.hostId);

    await pollUntil(
      () => gaps([], (p) => p.pairId === victim.pairId),
      (g) => g.length === 0,
      `pair ${victim.pairId} protected by a healthy shadow`,
      45_000,
    );
    const replacedAfterMs = Date.now() - startedAt;
    console.log(`failed shadow ${dead.hostId} → healthy replacement known to its pair in ${replacedAfterMs} ms`);
    const view = await readAll();
    const pair = view.fleet.pairs.find((p) => p.pairId === victim.pairId)!;
    expect(pair.shadow!.hostId).not.toBe(dead.hostId);
    expect(pair.primary.hostId).toBe(victim.primary.hostId);
    expect(view.fleet.failedShadowsReplaced).toBe(1);
    expect(view.fleet.failedRegions).toEqual([]);
    // No other pair was touched.
    for (const other of before.pairs.filter((p) => p.pairId !== victim.pairId)) {
      expect(view.fleet.pairs.find((p) => p.pairId === other.pairId)?.shadow?.hostId).toBe(other.shadow?.hostId);
    }
    // The Web UI filters on the pair's search attributes: they name the new shadow.
    await pollUntil(
      async () => {
        const ids: string[] = [];
        const query = `WorkflowType = "hostPairWorkflow" AND ShadowHost = "${pair.shadow!.hostId}"`;
        for await (const execution of h.client.workflow.list({ query })) ids.push(execution.workflowId);
        return ids;
      },
      (ids) => ids.includes(pairWorkflowId(victim.pairId)),
      `visibility lists pair ${victim.pairId} with ShadowHost ${pair.shadow!.hostId}`,
      30_000,
    );
    // Its region is not failed (its other hosts answer), so the failed shadow is decommissioned at the next check.
    await waitForRetirement(dead.hostId);
    expect((await h.sim.provider.invariants()).violations).toEqual([]);
  }, 120_000);

  it('reports a failed shadow a rollout holds instead of replacing it, and replaces it once the hold ends', async () => {
    const before = await fleetState();
    const held = before.pairs[1]!;
    const dead = held.shadow!;
    const fleet = h.client.workflow.getHandle(fleetId);
    await fleet.signal(pairsUnderRolloutSignal, { rolloutId: 'test-hold', pairIds: [held.pairId] });
    await pollUntil(fleetState, (s) => s.underRollout?.rolloutId === 'test-hold', 'the hold recorded', 10_000);
    await h.sim.control.failHost(dead.hostId);
    const reported = await pollUntil(
      fleetState,
      (s) => (s.failedShadowsLeft ?? []).some((why) => why.includes(dead.hostId) && why.includes('test-hold')),
      `the fleet reports ${dead.hostId} left to the rollout`,
      20_000,
    );
    // Two more checks after the report: the shadow is still the failed one.
    const reportedAt = reported.lastDriftCheckAt ?? 0;
    await pollUntil(fleetState, (s) => (s.lastDriftCheckAt ?? 0) > reportedAt + 2_000, 'two more checks', 20_000);
    const still = await fleetState();
    expect(still.pairs.find((p) => p.pairId === held.pairId)?.shadow?.hostId).toBe(dead.hostId);
    expect(still.failedShadowsReplaced).toBe(before.failedShadowsReplaced);
    expect((await pairState(held.pairId)).shadow?.hostId).toBe(dead.hostId);

    await fleet.signal(pairsUnderRolloutSignal, { rolloutId: 'test-hold', pairIds: [] });
    await pollUntil(
      () => gaps([], (p) => p.pairId === held.pairId),
      (g) => g.length === 0,
      `pair ${held.pairId} protected once the hold ended`,
      30_000,
    );
    const after = await fleetState();
    expect(after.failedShadowsReplaced).toBe((before.failedShadowsReplaced ?? 0) + 1);
    expect(after.failedShadowsLeft).toEqual([]);
    await waitForRetirement(dead.hostId);
  }, 90_000);

  it('keeps running when a replacement shadow cannot be provisioned, lists why, and tries again at the next check', async () => {
    const before = await fleetState();
    const victim = before.pairs[2]!;
    const oldShadow = victim.shadow!;
    // The id the fleet will give the next replacement is taken already: the provider refuses to build it, for good.
    const blockedId = `${victim.pairId}-s${before.replacements + 2}`;
    await h.sim.provider.waitForOperation(
      await h.sim.provider.provisionHost({
        hostId: blockedId,
        region: oldShadow.region,
        zone: oldShadow.zone,
        capacity: oldShadow.capacity,
        role: 'primary',
        idempotencyKey: `block-${blockedId}`,
      }),
    );
    try {
      // The primary fails: the pair fails over onto its shadow, and the fleet must give it a new one.
      await h.sim.control.failHost(victim.primary.hostId);
      const refused = await pollUntil(
        fleetState,
        (s) => s.problems.some((p) => p.startsWith(`pair ${victim.pairId}: provisioning shadow ${blockedId}`)),
        `the fleet lists the refused provisioning of ${blockedId}`,
        45_000,
      );
      expect(refused.problems.join('\n')).toMatch(/already taken; tried again at the next check/);
      // The next check gives the pair a shadow under a new id; the problem is gone and the fleet still runs.
      await pollUntil(
        () => gaps([], (p) => p.pairId === victim.pairId),
        (g) => g.length === 0,
        `pair ${victim.pairId} protected again`,
        30_000,
      );
      const after = await fleetState();
      const pair = after.pairs.find((p) => p.pairId === victim.pairId)!;
      expect(pair.primary.hostId).toBe(oldShadow.hostId);
      expect(pair.shadow!.hostId).not.toBe(blockedId);
      expect(after.problems.filter((p) => p.startsWith(`pair ${victim.pairId}: `))).toEqual([]);
      expect((await h.client.workflow.getHandle(fleetId).describe()).status.name).toBe('RUNNING');
      // The host that was in the way is not the fleet's: it was left alone.
      expect((await h.sim.provider.getHost(blockedId)).status).toBe('active');
    } finally {
      await h.sim.provider
        .decommissionHost({ hostId: blockedId, idempotencyKey: `unblock-${blockedId}` })
        .then((op) => h.sim.provider.waitForOperation(op))
        .catch(() => undefined);
    }
  }, 120_000);

  it('replaces every shadow a failed region held outside that region, also after the failovers it caused', async () => {
    const before = await fleetState();
    const region = 'eu-west';
    const shadowsThere = before.pairs.filter((p) => p.shadow?.region === region);
    const primariesThere = before.pairs.filter((p) => p.primary.region === region);
    expect(shadowsThere.length, 'the region holds shadows').toBeGreaterThan(0);
    const startedAt = Date.now();
    await h.sim.control.failRegion(region);

    await pollUntil(
      () => gaps([region]),
      (g) => g.length === 0,
      `every pair protected outside ${region}`,
      60_000,
    );
    const view = await readAll();
    console.log(
      `region ${region} failed (${shadowsThere.length} shadows, ${primariesThere.length} primaries) → every pair ` +
        `protected outside it in ${Date.now() - startedAt} ms`,
    );
    expect(view.fleet.failedRegions).toEqual([region]);
    for (const pair of shadowsThere) {
      const now = view.fleet.pairs.find((p) => p.pairId === pair.pairId)!;
      expect(now.primary.hostId, `${pair.pairId} kept its primary`).toBe(pair.primary.hostId);
      expect(now.shadow!.hostId).not.toBe(pair.shadow!.hostId);
    }
    for (const pair of primariesThere) {
      const now = view.fleet.pairs.find((p) => p.pairId === pair.pairId)!;
      expect(now.primary.hostId, `${pair.pairId} failed over`).toBe(pair.shadow!.hostId);
    }
    expect(view.fleet.failedShadowsReplaced).toBe((before.failedShadowsReplaced ?? 0) + shadowsThere.length);
    // The failed shadows wait, failed, while their region is: they are what shows the region failed.
    const dead = shadowsThere.map((p) => p.shadow!.hostId).sort();
    await pollUntil(
      fleetState,
      (s) => JSON.stringify([...(s.retiring ?? [])].sort()) === JSON.stringify(dead),
      `the failed shadows retiring, not decommissioned: ${dead.join(', ')}`,
      10_000,
    );
    for (const id of dead) expect((await h.sim.provider.getHost(id)).status, id).toBe('failed');
    await pollUntil(
      () => h.sim.provider.invariants(),
      (r) => r.ok,
      'the simulator invariants hold after the failovers',
      20_000,
    );

    // The region recovers: the former shadows answer again and are decommissioned; new shadows may go there again.
    await h.sim.control.recoverRegion(region);
    await pollUntil(
      async () => {
        const { hosts, fleet } = await readAll();
        return {
          statuses: dead.map((id) => hosts.get(id)?.status),
          retiring: fleet.retiring,
          failedRegions: fleet.failedRegions,
        };
      },
      (r) =>
        r.statuses.every((status) => status === 'decommissioned') &&
        (r.retiring ?? []).length === 0 &&
        (r.failedRegions ?? []).length === 0,
      `the former shadows in ${region} decommissioned after its recovery`,
      20_000,
    );
    expect((await h.sim.provider.invariants()).violations).toEqual([]);
  }, 150_000);
});
