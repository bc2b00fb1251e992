import type { ChildProcess } from 'node:child_process';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PairPolicy } from '../src/shared/pair.js';
import { FLEET_WORKFLOW_ID, fleetStateQuery, pairWorkflowId, stateQuery, type FleetState } from '../src/shared/pair.js';
import { FailureType } from '../src/shared/failures.js';
import {
  abortRolloutSignal,
  endMaintenanceSignal,
  maintenanceStateQuery,
  maintenanceWorkflowId,
  pauseRolloutSignal,
  resumeRolloutSignal,
  rolloutStateQuery,
  type RolloutInput,
  type RolloutState,
} from '../src/shared/rollout.js';
import type { fleetWorkflow } from '../workflows/fleet.js';
import type { maintenanceWorkflow } from '../workflows/maintenance.js';
import type { rolloutWorkflow } from '../workflows/rollout.js';
import { createPrimaries, threeRegionTopology } from './helpers/fleet.js';
import { FAST_POLICY, createOrchestrationHarness, type OrchestrationHarness } from './helpers/pair.js';
import { expectWorkflowFailure } from './helpers/temporal.js';

/** Always open: a window opening every minute for a minute. */
const ALWAYS = [{ cron: '* * * * *', durationMinutes: 1 }];
/** Pairs check health every 2 s and never tick (no forecasts): the rollout, not scaling, is under test here. */
const QUIET_POLICY: PairPolicy = { ...FAST_POLICY, tickSeconds: 24 * 3600, healthCheckIntervalSeconds: 2 };

// Rolling upgrades on the real dev server and simulator: twelve pairs in three regions, each upgraded through a
// swap under a disruption budget; a pair failing verification is rolled back alone; pause, resume and abort.
describe('rolloutWorkflow', () => {
  let h: OrchestrationHarness;
  const topology = threeRegionTopology(4);
  const suffix = Math.random().toString(36).slice(2, 8);
  const fleetId = `${FLEET_WORKFLOW_ID}-${suffix}`;
  const pairIds = topology.primaries.map((p) => p.hostId);
  const rolloutIds: string[] = [];
  let worker: ChildProcess;

  const rolloutInput = (rolloutId: string, overrides: Partial<RolloutInput> = {}): RolloutInput => ({
    rolloutId,
    desired: { image: 'app:2.0' },
    fleetWorkflowId: fleetId,
    budget: { maxPairs: 3 },
    windows: ALWAYS,
    ...overrides,
  });
  const startRollout = (rolloutId: string, input: RolloutInput) => {
    rolloutIds.push(rolloutId);
    return h.client.workflow.start<typeof rolloutWorkflow>('rolloutWorkflow', {
      taskQueue: h.taskQueue,
      workflowId: rolloutId,
      args: [input],
    });
  };
  const configHashes = async (): Promise<Record<string, string | undefined>> =>
    Object.fromEntries(
      (await h.sim.provider.describeFleet()).hosts.map((host) => [host.id, host.appliedConfiguration?.hash]),
    );
  async function waitFor<T>(read: () => Promise<T>, predicate: (v: T) => boolean, what: string, ms = 90_000) {
    const deadline = Date.now() + ms;
    let last: T | undefined;
    while (Date.now() < deadline) {
      last = await read().catch(() => last);
      if (last !== undefined && predicate(last)) return last;
      await new Promise((r) => setTimeout(r, 300));
    }
    return expect.fail(`never reached: ${what}; last: ${JSON.stringify(last)}`);
  }

  beforeAll(async () => {
    h = await createOrchestrationHarness('rollout');
    await createPrimaries(h.sim, topology);
    // A worker in a child process, so the last test can kill it mid-rollout.
    worker = await h.startWorkerProcess();
    await h.client.workflow.start<typeof fleetWorkflow>('fleetWorkflow', {
      taskQueue: h.taskQueue,
      workflowId: fleetId,
      args: [{ topology, policy: QUIET_POLICY }],
    });
    await waitFor(
      () => h.client.workflow.getHandle(fleetId).query(fleetStateQuery),
      (s: FleetState) => s.pairs.length === pairIds.length,
      'every pair placed',
    );
    for (const id of pairIds) {
      await waitFor(
        () => h.client.workflow.getHandle(pairWorkflowId(id)).query(stateQuery),
        (s) => s.phase === 'steady',
        `pair ${id} steady`,
      );
    }
  }, 180_000);
  afterAll(async () => {
    for (const id of [...rolloutIds, fleetId, ...pairIds.map(pairWorkflowId)]) {
      await h.client.workflow
        .getHandle(id)
        .terminate('test finished')
        .catch(() => undefined);
    }
    await h?.close();
  });

  it('refuses bad input with its reasons and changes nothing', async () => {
    const before = await configHashes();
    const cases: [Partial<RolloutInput>, RegExp][] = [
      [{ desired: { image: '' } }, /value of 'image' is an empty string/],
      [{ desired: {} }, /desired configuration is empty/],
      [{ budget: { maxPairs: 0 } }, /maxPairs must be a whole number >= 1/],
      [{ budget: { maxPairs: 13 } }, /maxPairs 13 is above the 12 pairs/],
      [{ windows: [{ cron: '0 0 30 2 *', durationMinutes: 60 }] }, /never fire/],
      [{ windows: [{ cron: '0 1 * * *', durationMinutes: 0 }] }, /durationMinutes must be > 0/],
    ];
    for (const [i, [overrides, message]] of cases.entries()) {
      const handle = await startRollout(`rollout-bad-${i}-${suffix}`, rolloutInput(`bad-${i}`, overrides));
      const failure = await expectWorkflowFailure(handle.result(), FailureType.InvalidInput);
      expect(failure.message).toMatch(message);
    }
    expect(await configHashes()).toEqual(before);
  });

  it('rolls all twelve pairs through swaps within the budget, region-safe, and refuses a second rollout', async () => {
    const rolloutId = `rollout-main-${suffix}`;
    const handle = await startRollout(rolloutId, rolloutInput('v2'));
    await expect(
      h.client.workflow.start<typeof rolloutWorkflow>('rolloutWorkflow', {
        taskQueue: h.taskQueue,
        workflowId: rolloutId,
        args: [rolloutInput('v2-again')],
      }),
    ).rejects.toBeInstanceOf(WorkflowExecutionAlreadyStartedError);
    // Under another workflow id too: the fleet names the rollout holding its pairs.
    await waitFor(
      () => handle.query(rolloutStateQuery),
      (s) => s.phase === 'rolling',
      'rolling',
    );
    const second = await startRollout(`rollout-second-${suffix}`, rolloutInput('v2-other'));
    const refused = await expectWorkflowFailure(second.result(), FailureType.InvalidInput);
    expect(refused.message).toMatch(/rollout v2 is running on fleet/);

    const state: RolloutState = await handle.result();
    expect(state.phase).toBe('completed');
    expect(state.pairs.map((p) => p.step)).toEqual(pairIds.map(() => 'done'));
    expect(state.maxConcurrent).toBeLessThanOrEqual(3);
    for (const wave of state.waves) {
      expect(wave.length).toBeLessThanOrEqual(3);
      const regions = wave.map((id) => topology.primaries.find((p) => p.hostId === id)!.region);
      expect(new Set(regions).size).toBe(regions.length);
    }
    const fleet = await h.sim.provider.describeFleet();
    const hashes = new Set(state.pairs.flatMap((p) => Object.values(p.verifiedHashes)));
    expect(hashes.size).toBe(1);
    for (const p of state.pairs) {
      expect(p.primaryAfter, p.pairId).toBe(p.shadowBefore);
      for (const hostId of [p.primaryBefore, p.shadowBefore!]) {
        expect(fleet.hosts.find((x) => x.id === hostId)?.appliedConfiguration?.values).toEqual({ image: 'app:2.0' });
      }
      const pairState = await h.client.workflow.getHandle(pairWorkflowId(p.pairId)).query(stateQuery);
      expect(pairState).toMatchObject({ phase: 'steady', primary: { hostId: p.shadowBefore } });
    }
    // No workload was ever left off a healthy active host: each moved once, live, inside its pair's swap.
    expect((await h.sim.provider.invariants()).violations).toEqual([]);
    const fleetState = await h.client.workflow.getHandle(fleetId).query(fleetStateQuery);
    expect(fleetState.underRollout).toBeUndefined();
  }, 150_000);

  it('halts and rolls back only the pair whose shadow fails verification', async () => {
    const victim = pairIds[4]!;
    const victimState = await h.client.workflow.getHandle(pairWorkflowId(victim)).query(stateQuery);
    await h.sim.control.failHost(victimState.shadow!.hostId);
    const before = await configHashes();
    try {
      const state = await (
        await startRollout(
          `rollout-fail-${suffix}`,
          rolloutInput('v3', {
            desired: { image: 'app:3.0' },
            budget: { maxPairs: 3 },
          }),
        )
      ).result();
      const failed = state.pairs.find((p) => p.pairId === victim)!;
      expect(failed.step).toBe('rolled-back');
      expect(failed.detail).toMatch(/is failed/);
      const others = state.pairs.filter((p) => p.pairId !== victim);
      expect(others.map((p) => p.step)).toEqual(others.map(() => 'done'));
      const after = await configHashes();
      expect(after[victimState.primary.hostId]).toBe(before[victimState.primary.hostId]);
      expect(after[victimState.shadow!.hostId]).toBe(before[victimState.shadow!.hostId]);
    } finally {
      await h.sim.control.recoverHost(victimState.shadow!.hostId);
    }
  }, 150_000);

  it('pauses between waves, resumes, and aborts leaving the rest untouched', async () => {
    const before = await configHashes();
    const handle = await startRollout(
      `rollout-pause-${suffix}`,
      rolloutInput('v4', {
        desired: { image: 'app:4.0' },
        budget: { maxPairs: 1 },
      }),
    );
    await waitFor(
      () => handle.query(rolloutStateQuery),
      (s) => s.pairs.some((p) => p.step === 'done'),
      'a pair done',
    );
    await handle.signal(pauseRolloutSignal);
    const paused = await waitFor(
      () => handle.query(rolloutStateQuery),
      (s) => s.phase === 'paused',
      'paused',
    );
    const doneAtPause = paused.pairs.filter((p) => p.step !== 'pending').length;
    await new Promise((r) => setTimeout(r, 4_000));
    const stillPaused = await handle.query(rolloutStateQuery);
    expect(stillPaused.phase).toBe('paused');
    expect(stillPaused.pairs.filter((p) => p.step !== 'pending').length).toBe(doneAtPause);

    await handle.signal(resumeRolloutSignal);
    await waitFor(
      () => handle.query(rolloutStateQuery),
      (s) => s.pairs.filter((p) => p.step === 'done').length > doneAtPause,
      'progress after resume',
    );
    await handle.signal(abortRolloutSignal, { reason: 'test abort' });
    const state = await handle.result();
    expect(state.phase).toBe('aborted');
    const skipped = state.pairs.filter((p) => p.step === 'skipped');
    expect(skipped.length).toBeGreaterThan(0);
    expect(state.pairs.every((p) => p.step === 'done' || p.step === 'skipped')).toBe(true);
    const after = await configHashes();
    for (const p of skipped) {
      for (const hostId of [p.primaryBefore, p.shadowBefore!]) expect(after[hostId], hostId).toBe(before[hostId]);
    }
  }, 150_000);

  it('resumes exactly where it stopped after its worker is killed mid-rollout', async () => {
    const swapsBefore = await swapCounts();
    const handle = await startRollout(
      `rollout-crash-${suffix}`,
      rolloutInput('v5', { desired: { image: 'app:5.0' }, budget: { maxPairs: 3 } }),
    );
    const atKill = await waitFor(
      () => handle.query(rolloutStateQuery),
      (s) => s.pairs.some((p) => p.step === 'done') && s.pairs.some((p) => p.step === 'swapping'),
      'a wave done and the next one swapping',
    );
    worker.kill('SIGKILL');
    await new Promise((resolve) => worker.once('exit', resolve));
    worker = await h.startWorkerProcess();

    const state = await handle.result();
    expect(state.phase).toBe('completed');
    expect(state.pairs.map((p) => p.step)).toEqual(state.pairs.map(() => 'done'));
    // Pairs finished before the crash were not touched again; every pair swapped exactly once.
    for (const p of atKill.pairs.filter((x) => x.step === 'done')) {
      expect(state.pairs.find((x) => x.pairId === p.pairId)).toMatchObject({
        startedAt: p.startedAt,
        finishedAt: p.finishedAt,
      });
    }
    const swapsAfter = await swapCounts();
    for (const id of pairIds) expect(swapsAfter[id]! - swapsBefore[id]!, id).toBe(1);
    const fleet = await h.sim.provider.describeFleet();
    for (const p of state.pairs) {
      for (const hostId of [p.primaryBefore, p.shadowBefore!])
        expect(fleet.hosts.find((x) => x.id === hostId)?.appliedConfiguration?.values).toEqual({ image: 'app:5.0' });
    }
    expect((await h.sim.provider.invariants()).violations).toEqual([]);
  }, 150_000);

  it('maintenance drains a primary through a swap, holds it with failover held, returns it; refuses bad hosts', async () => {
    const startMaintenance = (hostId: string) => {
      const workflowId = `${maintenanceWorkflowId(hostId)}-${suffix}`;
      rolloutIds.push(workflowId);
      return h.client.workflow.start<typeof maintenanceWorkflow>('maintenanceWorkflow', {
        taskQueue: h.taskQueue,
        workflowId,
        args: [{ hostId, fleetWorkflowId: fleetId }],
      });
    };
    const pairHandle = h.client.workflow.getHandle(pairWorkflowId(pairIds[1]!));
    const before = await pairHandle.query(stateQuery);
    const hostId = before.primary.hostId;

    await expectWorkflowFailure((await startMaintenance('no-such-host')).result(), FailureType.InvalidInput);
    const failedHost = (await h.client.workflow.getHandle(pairWorkflowId(pairIds[7]!)).query(stateQuery)).shadow!;
    await h.sim.control.failHost(failedHost.hostId);
    try {
      const refused = await expectWorkflowFailure(
        (await startMaintenance(failedHost.hostId)).result(),
        FailureType.InvalidInput,
      );
      expect(refused.message).toMatch(/is failed/);
    } finally {
      await h.sim.control.recoverHost(failedHost.hostId);
    }

    const handle = await startMaintenance(hostId);
    await waitFor(
      () => handle.query(maintenanceStateQuery),
      (s) => s.phase === 'in-maintenance',
      'in maintenance',
    );
    const held = await pairHandle.query(stateQuery);
    expect(held).toMatchObject({
      primary: { hostId: before.shadow!.hostId },
      shadow: { hostId },
      paused: true,
      failoverEnabled: false,
    });
    const fleet = await h.sim.provider.describeFleet();
    expect(fleet.workloads.filter((w) => w.hostId === hostId)).toEqual([]);

    await handle.signal(endMaintenanceSignal);
    expect(await handle.result()).toMatchObject({ phase: 'returned', wasPrimary: true, pairId: pairIds[1] });
    expect(await pairHandle.query(stateQuery)).toMatchObject({ paused: false, failoverEnabled: true });
  }, 90_000);

  async function swapCounts(): Promise<Record<string, number>> {
    const entries = await Promise.all(
      pairIds.map(async (id) => {
        const s = await h.client.workflow.getHandle(pairWorkflowId(id)).query(stateQuery);
        return [id, s.counters.swaps] as const;
      }),
    );
    return Object.fromEntries(entries);
  }
});
