import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proveRegionalResilience } from '../src/policy/placement.js';
import { FLEET_WORKFLOW_ID, fleetStateQuery, pairWorkflowId, stateQuery, type FleetState } from '../src/shared/pair.js';
import { FailureType } from '../src/shared/failures.js';
import type { fleetWorkflow } from '../workflows/fleet.js';
import { createPrimaries, threeRegionTopology } from './helpers/fleet.js';
import { FAST_POLICY, createOrchestrationHarness, type OrchestrationHarness } from './helpers/pair.js';
import { renderedDom } from './helpers/browser.js';
import { pollUntil } from './helpers/poll.js';
import { expectWorkflowFailure, testConfig } from './helpers/temporal.js';
import { replayAndRecord } from './helpers/histories.js';
import { webUiUrl } from '../src/stack/index.js';

// The fleet on the real dev server and simulator: six primaries in three regions get shadows in other regions,
// resilient to any single-region outage; each gets a pair workflow; a failover's consumed shadow is replaced.
describe('fleetWorkflow', () => {
  let h: OrchestrationHarness;
  const topology = threeRegionTopology(2);
  const fleetId = `${FLEET_WORKFLOW_ID}-${Math.random().toString(36).slice(2, 8)}`;
  const fleetState = () => h.client.workflow.getHandle(fleetId).query(fleetStateQuery);
  const pairIds = topology.primaries.map((p) => p.hostId);

  const waitForFleet = (predicate: (s: FleetState) => boolean, what: string, timeoutMs = 60_000) =>
    pollUntil(fleetState, predicate, `fleet state: ${what}`, timeoutMs);

  /** Retries `read` until it answers (e.g. a workflow that is about to start), for up to 30 s. */
  async function eventually<T>(read: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        return await read();
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 300));
      }
    }
  }

  beforeAll(async () => {
    h = await createOrchestrationHarness('fleet');
    await createPrimaries(h.sim, topology);
    await h.startWorker();
  }, 120_000);
  afterAll(async () => {
    for (const id of [fleetId, ...pairIds.map(pairWorkflowId)]) {
      await h.client.workflow
        .getHandle(id)
        .terminate('test finished')
        .catch(() => undefined);
    }
    await h?.close();
  });

  it('refuses an invalid topology before touching the fleet', async () => {
    const duplicated = { ...topology, primaries: [...topology.primaries, topology.primaries[0]!] };
    const failure = await expectWorkflowFailure(
      h.client.workflow.execute<typeof fleetWorkflow>('fleetWorkflow', {
        taskQueue: h.taskQueue,
        workflowId: `${fleetId}-invalid`,
        args: [{ topology: duplicated, policy: FAST_POLICY }],
      }),
      FailureType.InvalidInput,
    );
    expect(failure.message).toMatch(/invalid topology: .*us-/);
    expect((await h.sim.provider.describeFleet()).hosts).toHaveLength(topology.primaries.length);
  });

  it('places a shadow for every primary in another region, resiliently, and starts one pair each', async () => {
    await h.client.workflow.start<typeof fleetWorkflow>('fleetWorkflow', {
      taskQueue: h.taskQueue,
      workflowId: fleetId,
      args: [{ topology, policy: FAST_POLICY }],
    });
    const state = await waitForFleet((s) => s.pairs.length === topology.primaries.length, 'every pair placed');
    for (const pair of state.pairs) {
      expect(pair.shadow, pair.pairId).toBeDefined();
      expect(pair.shadow!.region).not.toBe(pair.primary.region);
    }
    const assignments = state.pairs.map((p) => ({
      primaryHostId: p.primary.hostId,
      region: p.shadow!.region,
      zone: p.shadow!.zone,
      allocationFraction: FAST_POLICY.shadowFraction,
    }));
    expect(proveRegionalResilience(topology, assignments, FAST_POLICY.shadowFraction).resilient).toBe(true);

    const fleet = await h.sim.provider.describeFleet();
    for (const pair of state.pairs) {
      const shadow = fleet.hosts.find((x) => x.id === pair.shadow!.hostId)!;
      const primary = fleet.hosts.find((x) => x.id === pair.primary.hostId)!;
      expect(shadow).toMatchObject({
        role: 'shadow',
        status: 'inactive',
        allocationFraction: FAST_POLICY.shadowFraction,
        replicatingFrom: primary.id,
      });
      expect(shadow.appliedConfiguration?.hash).toBe(primary.appliedConfiguration?.hash);
      // The fleet records a pair as soon as its shadow is provisioned and starts the pair workflows after that.
      const pairState = await eventually(() =>
        h.client.workflow.getHandle(pairWorkflowId(pair.pairId)).query(stateQuery),
      );
      expect(pairState.shadow?.hostId).toBe(shadow.id);
    }
  });

  it('the Temporal Web UI, in real Chromium, lists the pairs filtered by a search attribute', async () => {
    const { config } = testConfig();
    const ids = pairIds.map((id) => `"${id}"`).join(', ');
    const query = `WorkflowType = "hostPairWorkflow" AND PrimaryRegion = "us-east" AND PairId IN (${ids})`;
    // Visibility is eventually consistent: wait until the server's own list answers, then ask the browser.
    await eventually(async () => {
      let listed = 0;
      for await (const execution of h.client.workflow.list({ query })) if (execution.workflowId) listed++;
      if (listed < 2) throw new Error(`visibility lists ${listed} us-east pairs so far`);
    });
    const url = `${webUiUrl(config)}/namespaces/${config.temporal.namespace}/workflows?query=${encodeURIComponent(query)}`;
    const dom = await renderedDom(url);
    const usEast = topology.primaries.filter((p) => p.region === 'us-east').map((p) => p.hostId);
    const elsewhere = topology.primaries.filter((p) => p.region !== 'us-east').map((p) => p.hostId);
    for (const id of usEast) expect(dom, `pair:${id} listed`).toContain(pairWorkflowId(id));
    for (const id of elsewhere) expect(dom, `pair:${id} filtered out`).not.toContain(pairWorkflowId(id));
  });

  it('replaces the shadow a failover consumed, in a region other than the new primary', async () => {
    const victim = topology.primaries[0]!;
    const before = await fleetState();
    const oldShadow = before.pairs.find((p) => p.pairId === victim.hostId)!.shadow!;
    await h.sim.control.failHost(victim.hostId);
    const after = await waitForFleet(
      (s) => s.replacements === 1 && s.pairs.find((p) => p.pairId === victim.hostId)?.shadow !== undefined,
      'a replacement shadow',
    );
    const pair = after.pairs.find((p) => p.pairId === victim.hostId)!;
    expect(pair.primary.hostId).toBe(oldShadow.hostId);
    expect(pair.shadow!.region).not.toBe(pair.primary.region);

    const handle = h.client.workflow.getHandle(pairWorkflowId(victim.hostId));
    const deadline = Date.now() + 30_000;
    let pairState = await handle.query(stateQuery);
    while (pairState.phase !== 'steady' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 300));
      pairState = await handle.query(stateQuery);
    }
    expect(pairState).toMatchObject({
      phase: 'steady',
      primary: { hostId: oldShadow.hostId },
      shadow: { hostId: pair.shadow!.hostId },
    });
    expect((await h.sim.provider.invariants()).violations).toEqual([]);
    // The fleet as it stands: placed every shadow, started every pair, replaced a consumed shadow.
    await replayAndRecord('fleet', h.client.workflow.getHandle(fleetId));
  });

  it('corrects configuration drift on a shadow', async () => {
    const { pairs } = await fleetState();
    const target = pairs.find((p) => p.pairId === topology.primaries[2]!.hostId)!;
    // Counted before the drift is made: a check that runs while the change is applied must count as the correction.
    const before = (await fleetState()).driftCorrections;
    await h.sim.provider.waitForOperation(
      await h.sim.provider.syncConfiguration({
        hostId: target.shadow!.hostId,
        desired: { image: 'app:0.9-drifted' },
        idempotencyKey: `drift-${fleetId}`,
      }),
    );
    // The fleet checks drift once a minute of workflow time, so this can take a little over a minute.
    await waitForFleet((s) => s.driftCorrections > before, 'a drift correction', 120_000);
    const [shadow, primary] = await Promise.all([
      h.sim.provider.getHost(target.shadow!.hostId),
      h.sim.provider.getHost(target.primary.hostId),
    ]);
    expect(shadow.appliedConfiguration?.hash).toBe(primary.appliedConfiguration?.hash);
  }, 150_000);
});
