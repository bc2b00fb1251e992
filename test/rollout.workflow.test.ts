import type { ChildProcess } from 'node:child_process';
import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
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
  type RolloutTarget,
} from '../src/shared/rollout.js';
import type { fleetWorkflow } from '../workflows/fleet.js';
import type { maintenanceWorkflow } from '../workflows/maintenance.js';
import type { rolloutWorkflow } from '../workflows/rollout.js';
import { createPrimaries, threeRegionTopology } from './helpers/fleet.js';
import { FAST_POLICY, createOrchestrationHarness, type OrchestrationHarness } from './helpers/pair.js';
import { pollUntil } from './helpers/poll.js';
import { interruptions, maxOverlapping, pairActivity } from './helpers/rolloutHistory.js';
import { expectWorkflowFailure } from './helpers/temporal.js';
import { replayAndRecord } from './helpers/histories.js';

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
  /** Rollouts this test started: one a failed test left running is aborted, so it cannot hold the next test's fleet. */
  let startedThisTest: string[] = [];
  const startRollout = (rolloutId: string, input: RolloutInput) => {
    rolloutIds.push(rolloutId);
    startedThisTest.push(rolloutId);
    return h.client.workflow.start<typeof rolloutWorkflow>('rolloutWorkflow', {
      taskQueue: h.taskQueue,
      workflowId: rolloutId,
      args: [input],
    });
  };
  /**
   * The rollout's state and, once its workflow has ended in failure, why: a poll that waits for a phase then fails at
   * once naming the refusal, instead of waiting out its time on a state that can no longer change.
   */
  const readRollout = async (handle: WorkflowHandle): Promise<RolloutState & { endedWith?: string }> => {
    const state = await handle.query(rolloutStateQuery);
    const { status } = await handle.describe();
    if (status.name !== 'FAILED' && status.name !== 'TERMINATED' && status.name !== 'TIMED_OUT') return state;
    const error = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    const cause = error instanceof WorkflowFailedError ? error.cause : error;
    return { ...state, endedWith: `${status.name}: ${cause instanceof Error ? cause.message : String(cause)}` };
  };
  const configHashes = async (): Promise<Record<string, string | undefined>> =>
    Object.fromEntries(
      (await h.sim.provider.describeFleet()).hosts.map((host) => [host.id, host.appliedConfiguration?.hash]),
    );
  beforeAll(async () => {
    h = await createOrchestrationHarness('rollout');
    await createPrimaries(h.sim, topology);
    // A worker in a child process, so the last test can kill it mid-rollout.
    worker = await h.startWorkerProcess();
    await h.client.workflow.start<typeof fleetWorkflow>('fleetWorkflow', {
      taskQueue: h.taskQueue,
      workflowId: fleetId,
      // No periodic fleet check during these tests: it would replace the shadows they fail on purpose (and change
      // the regions' spare capacity under the next rollout). Its replacements have tests of their own.
      args: [{ topology, policy: QUIET_POLICY, checkIntervalSeconds: 24 * 3600 }],
    });
    await pollUntil(
      () => h.client.workflow.getHandle(fleetId).query(fleetStateQuery),
      (s: FleetState) => s.pairs.length === pairIds.length,
      'every pair placed',
    );
    for (const id of pairIds) {
      await pollUntil(
        () => h.client.workflow.getHandle(pairWorkflowId(id)).query(stateQuery),
        (s) => s.phase === 'steady',
        `pair ${id} steady`,
      );
    }
  }, 180_000);
  afterEach(async () => {
    for (const id of startedThisTest) {
      const handle = h.client.workflow.getHandle(id);
      const running = await handle.describe().then(
        (d) => d.status.name === 'RUNNING',
        () => false,
      );
      if (!running) continue;
      // Abort finishes the wave in flight and hands the pairs back to the fleet; terminate if even that hangs.
      await handle.signal(abortRolloutSignal, { reason: 'test cleanup' });
      const ended = await Promise.race([
        handle.result().then(
          () => true,
          () => true,
        ),
        new Promise<false>((r) => setTimeout(() => r(false), 120_000)),
      ]);
      if (!ended) await handle.terminate('test cleanup: abort did not finish').catch(() => undefined);
    }
    startedThisTest = [];
  }, 150_000);
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

  it("rolls all twelve pairs through swaps within the budget and without interrupting a workload longer than a swap, by the simulator's history; refuses a second rollout", async () => {
    const rolloutId = `rollout-main-${suffix}`;
    const { lastSeq: historyStart } = await h.sim.control.historyPage();
    const pairOfHost = await hostsOfPairs();
    const handle = await startRollout(rolloutId, rolloutInput('v2'));
    await expect(
      h.client.workflow.start<typeof rolloutWorkflow>('rolloutWorkflow', {
        taskQueue: h.taskQueue,
        workflowId: rolloutId,
        args: [rolloutInput('v2-again')],
      }),
    ).rejects.toBeInstanceOf(WorkflowExecutionAlreadyStartedError);
    // Under another workflow id too: the fleet names the rollout holding its pairs.
    await pollUntil(
      () => readRollout(handle),
      (s) => s.phase === 'rolling',
      'rolling',
    );
    const second = await startRollout(`rollout-second-${suffix}`, rolloutInput('v2-other'));
    const refused = await expectWorkflowFailure(second.result(), FailureType.InvalidInput);
    expect(refused.message).toMatch(/rollout v2 is running on fleet/);

    const state: RolloutState = await handle.result();
    expect(state.phase).toBe('completed');
    expect(state.pairs.map((p) => p.step)).toEqual(pairIds.map(() => 'done'));

    // What the simulator saw: each pair changed (two configuration syncs and a swap's role changes), at most three
    // pairs changing at any instant, and no workload down longer than the shortest swap (a live swap: not at all).
    const events = await h.sim.control.history(historyStart);
    const activity = pairActivity(events, pairOfHost);
    expect([...activity.keys()].sort()).toEqual([...pairIds].sort());
    for (const a of activity.values()) {
      expect(a.configurationSyncs.length, a.pairId).toBe(2);
      expect(a.roleChanges, a.pairId).toBeGreaterThanOrEqual(2);
    }
    expect(maxOverlapping([...activity.values()])).toBeLessThanOrEqual(3);
    expect(maxOverlapping([...activity.values()])).toBeGreaterThan(1); // the budget was used, not one at a time
    const shortestSwap = Math.min(...[...activity.values()].map((a) => a.swapEnd! - a.swapStart!));
    for (const i of interruptions(events))
      expect(i.atMs - i.startedAtMs, JSON.stringify(i)).toBeLessThanOrEqual(shortestSwap);
    expect(interruptions(events)).toEqual([]);
    for (const wave of state.waves) expect(wave.length).toBeLessThanOrEqual(3);
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
    await replayAndRecord('rollout-completed', handle);
  }, 300_000);

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
  }, 300_000);

  it('pauses between waves, resumes, and aborts leaving the rest untouched', async () => {
    const before = await configHashes();
    const handle = await startRollout(
      `rollout-pause-${suffix}`,
      rolloutInput('v4', {
        desired: { image: 'app:4.0' },
        budget: { maxPairs: 1 },
      }),
    );
    await pollUntil(
      () => readRollout(handle),
      (s) => s.pairs.some((p) => p.step === 'done'),
      'a pair done',
    );
    await handle.signal(pauseRolloutSignal);
    const paused = await pollUntil(
      () => readRollout(handle),
      (s) => s.phase === 'paused',
      'paused',
    );
    const doneAtPause = paused.pairs.filter((p) => p.step !== 'pending').length;
    await new Promise((r) => setTimeout(r, 4_000));
    const stillPaused = await handle.query(rolloutStateQuery);
    expect(stillPaused.phase).toBe('paused');
    expect(stillPaused.pairs.filter((p) => p.step !== 'pending').length).toBe(doneAtPause);

    await handle.signal(resumeRolloutSignal);
    await pollUntil(
      () => readRollout(handle),
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
  }, 300_000);

  it('a rollout terminated from outside does not hold the fleet: the next rollout releases its hold', async () => {
    const pairId = pairIds[2]!;
    const never = await h.sim.control.status();
    // A window a day away on the provider's clock: the rollout holds the fleet while it waits, and changes nothing.
    const closed = new Date(Date.parse(never.now) + 12 * 3600_000);
    const stranded = await startRollout(
      `rollout-terminated-${suffix}`,
      rolloutInput('v8', {
        desired: { image: 'app:8.0' },
        pairs: [{ pairId } as RolloutTarget],
        budget: { maxPairs: 1 },
        windows: [{ cron: `${closed.getUTCMinutes()} ${closed.getUTCHours()} * * *`, durationMinutes: 1 }],
      }),
    );
    await pollUntil(
      () => readRollout(stranded),
      (s) => s.phase === 'waiting-for-window',
      'waiting for the window',
    );
    const held = await pollUntil(
      () => h.client.workflow.getHandle(fleetId).query(fleetStateQuery),
      (s) => s.underRollout !== undefined,
      'the fleet held by v8',
    );
    expect(held.underRollout).toEqual({ rolloutId: 'v8', pairIds: [pairId], workflowId: stranded.workflowId });
    await stranded.terminate('operator terminated it from the Web UI');

    // The next rollout is accepted and takes the hold over. It waits for the same closed window and is aborted
    // there: a swap would move the pair's primary to another region and change the spare capacity later tests plan
    // their waves around.
    const next = await startRollout(
      `rollout-after-terminate-${suffix}`,
      rolloutInput('v9', {
        desired: { image: 'app:9.0' },
        pairs: [{ pairId } as RolloutTarget],
        budget: { maxPairs: 1 },
        windows: [{ cron: `${closed.getUTCMinutes()} ${closed.getUTCHours()} * * *`, durationMinutes: 1 }],
      }),
    );
    await pollUntil(
      () => readRollout(next),
      (s) => s.phase === 'waiting-for-window',
      'v9 accepted and waiting for the window',
    );
    await pollUntil(
      () => h.client.workflow.getHandle(fleetId).query(fleetStateQuery),
      (s) => s.underRollout?.rolloutId === 'v9',
      'the fleet held by v9',
    );
    await next.signal(abortRolloutSignal, { reason: 'test: the hold changed hands, nothing to roll' });
    const state = await next.result();
    expect(state.phase).toBe('aborted');
    expect(state.pairs.map((p) => p.step)).toEqual(['skipped']);
    const fleetAfter = await h.client.workflow.getHandle(fleetId).query(fleetStateQuery);
    expect(fleetAfter.underRollout).toBeUndefined();
  }, 300_000);

  it('waits for a window by the provider clock, keeps maxPercentOfRegion, crosses continue-as-new, and reports drift made meanwhile', async () => {
    // Six pairs, two per region; 25% of a region's two pairs is one at a time per region.
    const chosen = ['us', 'eu', 'ap'].flatMap((r) => pairIds.filter((id) => id.startsWith(`${r}-`)).slice(0, 2));
    const regionOfPair = new Map<string, string>();
    for (const id of chosen)
      regionOfPair.set(id, (await h.client.workflow.getHandle(pairWorkflowId(id)).query(stateQuery)).primary.region);
    // A window that opens ten minutes from now on the simulator's clock (ten real seconds at its 60x).
    const simNow = Date.parse((await h.sim.control.status()).now);
    const opensAt = Math.ceil(simNow / 60_000) * 60_000 + 10 * 60_000;
    const opening = new Date(opensAt);
    const window = { cron: `${opening.getUTCMinutes()} ${opening.getUTCHours()} * * *`, durationMinutes: 600 };
    const { lastSeq: historyStart } = await h.sim.control.historyPage();
    const pairOfHost = await hostsOfPairs();
    const handle = await startRollout(
      `rollout-window-${suffix}`,
      rolloutInput('v7', {
        desired: { image: 'app:7.0' },
        pairs: chosen.map((pairId) => ({ pairId }) as RolloutTarget),
        budget: { maxPercentOfRegion: 25 },
        windows: [window],
        windowPollSeconds: 1,
        continueAsNewAfterWaves: 1,
      }),
    );
    const waiting = await pollUntil(
      () => readRollout(handle),
      (s) => s.phase === 'waiting-for-window',
      'waiting for the window',
    );
    expect(waiting.nextWindowAt).toBe(opensAt);
    // While it waits, someone changes a shadow of a pair under rollout by hand: drift the rollout must report.
    const drifted = chosen.at(-1)!;
    const driftedShadow = (await h.client.workflow.getHandle(pairWorkflowId(drifted)).query(stateQuery)).shadow!;
    const edit = await h.sim.provider.waitForOperation(
      await h.sim.provider.syncConfiguration({
        hostId: driftedShadow.hostId,
        desired: { image: 'app:hand-edited' },
        idempotencyKey: `hand-edit-${suffix}`,
      }),
    );

    const state = await handle.result();
    expect(state.phase).toBe('completed');
    expect(state.pairs.map((p) => p.step)).toEqual(chosen.map(() => 'done'));
    expect(state.runs, 'continued as new between waves').toBeGreaterThanOrEqual(2);
    expect(state.drift?.join('\n')).toMatch(new RegExp(`${drifted}: ${driftedShadow.hostId} ran configuration`));
    expect(state.pairs.find((p) => p.pairId === drifted)?.drift).toMatch(/when the pair's turn began/);

    const events = await h.sim.control.history(historyStart);
    // The rollout's own operations: the hand edit is not one of them.
    const rolloutOps = events.filter((e) => !(e.kind === 'operation' && e.operationId === edit.id));
    const activity = [...pairActivity(rolloutOps, pairOfHost).values()];
    expect(activity.map((a) => a.pairId).sort()).toEqual([...chosen].sort());
    // Nothing changed before the window opened; at most one pair per region changing at any instant.
    for (const a of activity) expect(a.start, a.pairId).toBeGreaterThanOrEqual(opensAt);
    for (const region of new Set(regionOfPair.values()))
      expect(maxOverlapping(activity.filter((a) => regionOfPair.get(a.pairId) === region)), region).toBe(1);
    expect(maxOverlapping(activity)).toBeGreaterThan(1);
    // The hand edit was left for the rollout to report, not corrected behind its back: one sync after it, the rollout's.
    const syncsAfterEdit = events.filter(
      (e) =>
        e.kind === 'operation' &&
        e.operation === 'syncConfiguration' &&
        e.hostId === driftedShadow.hostId &&
        e.operationId !== edit.id &&
        e.startedAtMs >= Date.parse(edit.finishedAt!),
    );
    expect(syncsAfterEdit).toHaveLength(1);
    expect(interruptions(events)).toEqual([]);
  }, 300_000);

  it('rolls back a pair whose former primary fails verification after its swap: swaps it back, then halts', async () => {
    const victim = [...pairIds].sort()[0]!;
    const victimHandle = h.client.workflow.getHandle(pairWorkflowId(victim));
    const before = await victimHandle.query(stateQuery);
    // The victim's primary cannot run app:6.0: it crashes once the rollout upgrades it, after the swap.
    await h.sim.control.setFaultyConfiguration(before.primary.hostId, { image: 'app:6.0' });
    const hashesBefore = await configHashes();
    const { lastSeq: historyStart } = await h.sim.control.historyPage();
    const pairOfHost = await hostsOfPairs();
    try {
      const handle = await startRollout(
        `rollout-rollback-${suffix}`,
        rolloutInput('v6', { desired: { image: 'app:6.0' }, budget: { maxPairs: 3 }, onPairFailure: 'halt' }),
      );
      const halted = await pollUntil(
        () => readRollout(handle),
        (s) => s.phase === 'halted',
        'halted',
        240_000,
      );
      const failed = halted.pairs.find((p) => p.pairId === victim)!;
      expect(failed).toMatchObject({ step: 'rolled-back', wave: 1, primaryAfter: before.primary.hostId });
      expect(failed.detail).toMatch(new RegExp(`verification: ${before.primary.hostId} is failed`));
      expect(halted.haltReason).toMatch(new RegExp(`${victim} rolled-back`));
      const wave1 = halted.pairs.filter((p) => p.wave === 1 && p.pairId !== victim);
      expect(wave1.map((p) => p.step)).toEqual(wave1.map(() => 'done'));
      const later = halted.pairs.filter((p) => p.wave > 1);
      expect(later.length).toBeGreaterThan(0);
      expect(later.map((p) => p.step)).toEqual(later.map(() => 'pending'));
      // Roles and configuration as before, and the workloads never down: they moved live, there and back.
      expect(await victimHandle.query(stateQuery)).toMatchObject({
        phase: 'steady',
        primary: { hostId: before.primary.hostId },
        shadow: { hostId: before.shadow!.hostId },
      });
      const hashesAfter = await configHashes();
      for (const hostId of [before.primary.hostId, before.shadow!.hostId])
        expect(hashesAfter[hostId], hostId).toBe(hashesBefore[hostId]);
      const events = await h.sim.control.history(historyStart);
      expect(pairActivity(events, pairOfHost).get(victim)?.roleChanges).toBeGreaterThanOrEqual(4);
      expect(interruptions(events)).toEqual([]);

      await handle.signal(abortRolloutSignal, { reason: 'halted by a failed pair' });
      const final = await handle.result();
      expect(final.phase).toBe('aborted');
      expect(final.pairs.filter((p) => p.wave > 1).map((p) => p.step)).toEqual(later.map(() => 'skipped'));
    } finally {
      await h.sim.control.setFaultyConfiguration(before.primary.hostId);
    }
  }, 300_000);

  it('resumes exactly where it stopped after its worker is killed mid-rollout', async () => {
    // Six pairs, three at a time: at least two waves, so the worker can die between one done and the next.
    const chosen = [...pairIds].sort().slice(0, 6);
    const swapsBefore = await swapCounts();
    const handle = await startRollout(
      `rollout-crash-${suffix}`,
      rolloutInput('v5', {
        desired: { image: 'app:5.0' },
        budget: { maxPairs: 3 },
        pairs: chosen.map((pairId) => ({ pairId }) as RolloutTarget),
      }),
    );
    const atKill = await pollUntil(
      () => readRollout(handle),
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
    for (const id of pairIds) expect(swapsAfter[id]! - swapsBefore[id]!, id).toBe(chosen.includes(id) ? 1 : 0);
    const fleet = await h.sim.provider.describeFleet();
    for (const p of state.pairs) {
      for (const hostId of [p.primaryBefore, p.shadowBefore!])
        expect(fleet.hosts.find((x) => x.id === hostId)?.appliedConfiguration?.values).toEqual({ image: 'app:5.0' });
    }
    expect((await h.sim.provider.invariants()).violations).toEqual([]);
  }, 300_000);

  it("maintenance drains a primary through a swap and holds it with failover held, moves a shadow's standby role to a new host, returns both; refuses bad hosts", async () => {
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

    const { lastSeq: beforeRefusals } = await h.sim.control.historyPage();
    const pairsBefore = await Promise.all(
      pairIds.map((id) => h.client.workflow.getHandle(pairWorkflowId(id)).query(stateQuery)),
    );
    const unknown = await expectWorkflowFailure(
      (await startMaintenance('no-such-host')).result(),
      FailureType.InvalidInput,
    );
    expect(unknown.message).toMatch(/unknown host no-such-host/);
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
    // Refused means nothing changed: no provider operation, every pair as it was (none paused, roles unchanged).
    expect((await h.sim.control.history(beforeRefusals)).filter((e) => e.kind === 'operation')).toEqual([]);
    const pairsAfter = await Promise.all(
      pairIds.map((id) => h.client.workflow.getHandle(pairWorkflowId(id)).query(stateQuery)),
    );
    expect(pairsAfter.map((p) => [p.primary.hostId, p.shadow?.hostId, p.paused])).toEqual(
      pairsBefore.map((p) => [p.primary.hostId, p.shadow?.hostId, p.paused]),
    );

    const handle = await startMaintenance(hostId);
    await pollUntil(
      () => handle.query(maintenanceStateQuery),
      (s) => s.phase === 'in-maintenance',
      'in maintenance',
      180_000,
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

    // A rollout meanwhile leaves the held pair untouched (paused: its shadow is the host in maintenance) and rolls
    // the others.
    const rolled = pairIds[3]!;
    const hashesBefore = await configHashes();
    const targets = await Promise.all(
      [pairIds[1]!, rolled].map(async (pairId): Promise<RolloutTarget> => {
        const s = await h.client.workflow.getHandle(pairWorkflowId(pairId)).query(stateQuery);
        return { pairId, primary: s.primary, shadow: s.shadow };
      }),
    );
    const duringMaintenance = await (
      await startRollout(
        `rollout-maintenance-${suffix}`,
        rolloutInput('v-maintenance', { desired: { image: 'app:5.0' }, pairs: targets, budget: { maxPairs: 2 } }),
      )
    ).result();
    expect(duringMaintenance.phase).toBe('completed');
    expect(duringMaintenance.pairs.find((p) => p.pairId === pairIds[1])).toMatchObject({
      step: 'skipped',
      detail: expect.stringMatching(/not touched: the pair is paused/) as unknown,
    });
    expect(duringMaintenance.pairs.find((p) => p.pairId === rolled)?.step).toBe('done');
    const hashesAfter = await configHashes();
    for (const host of [hostId, before.shadow!.hostId])
      expect(hashesAfter[host], `${host} of the held pair`).toBe(hashesBefore[host]);

    await handle.signal(endMaintenanceSignal);
    expect(await handle.result()).toMatchObject({ phase: 'returned', wasPrimary: true, pairId: pairIds[1] });
    await replayAndRecord('maintenance-drain', handle);
    expect(await pairHandle.query(stateQuery)).toMatchObject({ paused: false, failoverEnabled: true });

    // A shadow in maintenance hands its standby role to a newly provisioned host: the pair stays protected, never
    // paused, and the host is in no pair while it is held (so no failover or placement can pick it).
    const shadowPair = h.client.workflow.getHandle(pairWorkflowId(pairIds[2]!));
    const shadowHost = (await shadowPair.query(stateQuery)).shadow!;
    const fleetHostsBefore = new Set((await h.sim.provider.describeFleet()).hosts.map((x) => x.id));
    const shadowMaintenance = await startMaintenance(shadowHost.hostId);
    const moved = await pollUntil(
      () => shadowMaintenance.query(maintenanceStateQuery),
      (s) => s.phase === 'in-maintenance',
      'shadow in maintenance',
      180_000,
    );
    expect(moved).toMatchObject({ wasPrimary: false, pairId: pairIds[2] });
    expect(moved.standbyMovedTo).toBeDefined();
    expect(fleetHostsBefore.has(moved.standbyMovedTo!), 'a new host').toBe(false);
    expect(await shadowPair.query(stateQuery)).toMatchObject({
      phase: 'steady',
      paused: false,
      shadow: { hostId: moved.standbyMovedTo },
    });
    const fleetPairs = (await h.client.workflow.getHandle(fleetId).query(fleetStateQuery)).pairs;
    expect(
      fleetPairs.filter((p) => p.primary.hostId === shadowHost.hostId || p.shadow?.hostId === shadowHost.hostId),
    ).toEqual([]);
    const newShadow = await h.sim.provider.getHost(moved.standbyMovedTo!);
    expect(newShadow).toMatchObject({ role: 'shadow', status: 'inactive' });
    expect(newShadow.replicatingFrom, 'the new shadow replicates its primary').toBeDefined();
    await shadowMaintenance.signal(endMaintenanceSignal);
    expect(await shadowMaintenance.result()).toMatchObject({ phase: 'returned' });
  }, 600_000);

  it('refuses to drain a primary when its pair would leave a region without room for an outage, unless allowed', async () => {
    // Two primaries per region and 1.3 hosts' worth of shadow capacity: room for any one region's outage at rest,
    // but not once a drained pair serves at full size from its shadow's region.
    const tight = threeRegionTopology(2, `tight-${suffix}`, 1.3);
    const tightFleetId = `${fleetId}-tight`;
    const tightPairIds = tight.primaries.map((p) => p.hostId);
    rolloutIds.push(tightFleetId, ...tightPairIds.map(pairWorkflowId));
    await createPrimaries(h.sim, tight);
    await h.client.workflow.start<typeof fleetWorkflow>('fleetWorkflow', {
      taskQueue: h.taskQueue,
      workflowId: tightFleetId,
      args: [{ topology: tight, policy: QUIET_POLICY, checkIntervalSeconds: 24 * 3600 }],
    });
    for (const id of tightPairIds) {
      await pollUntil(
        () => h.client.workflow.getHandle(pairWorkflowId(id)).query(stateQuery),
        (s) => s.phase === 'steady',
        `pair ${id} steady`,
        180_000,
      );
    }
    const hostId = tightPairIds[0]!;
    const pairHandle = h.client.workflow.getHandle(pairWorkflowId(hostId));
    const before = await pairHandle.query(stateQuery);
    const startMaintenance = (workflowId: string, allowReducedSpare?: boolean) => {
      rolloutIds.push(workflowId);
      return h.client.workflow.start<typeof maintenanceWorkflow>('maintenanceWorkflow', {
        taskQueue: h.taskQueue,
        workflowId,
        args: [{ hostId, fleetWorkflowId: tightFleetId, ...(allowReducedSpare ? { allowReducedSpare } : {}) }],
      });
    };

    const { lastSeq } = await h.sim.control.historyPage();
    const refusedHandle = await startMaintenance(`${maintenanceWorkflowId(hostId)}-${suffix}`);
    // Fails fast, naming the phase, when the drain goes ahead (a maintenance not refused waits for `off` forever).
    const outcome = await pollUntil(
      async () => ({
        status: (await refusedHandle.describe()).status.name,
        phase: (await refusedHandle.query(maintenanceStateQuery).catch(() => undefined))?.phase,
      }),
      (o) => o.status !== 'RUNNING' || o.phase === 'draining' || o.phase === 'in-maintenance',
      'maintenance refused or draining',
      120_000,
    );
    expect(outcome, 'the drain was not refused').toMatchObject({ status: 'FAILED' });
    const refused = await expectWorkflowFailure(refusedHandle.result(), FailureType.PreCheckFailed);
    expect(refused.message).toMatch(
      new RegExp(
        `^maintenance refused: draining pair ${hostId} would leave too little spare capacity: If region \\S+ fails.*` +
          `--allow-reduced-spare drains it anyway`,
      ),
    );
    // Refused means nothing changed: no provider operation, the pair as it was.
    expect((await h.sim.control.history(lastSeq)).filter((e) => e.kind === 'operation')).toEqual([]);
    expect(await pairHandle.query(stateQuery)).toMatchObject({
      primary: { hostId },
      shadow: { hostId: before.shadow!.hostId },
      paused: false,
    });

    const allowed = await startMaintenance(`${maintenanceWorkflowId(hostId)}-allowed-${suffix}`, true);
    await pollUntil(
      () => allowed.query(maintenanceStateQuery),
      (s) => s.phase === 'in-maintenance',
      'in maintenance with reduced spare capacity',
      180_000,
    );
    expect(await pairHandle.query(stateQuery)).toMatchObject({
      primary: { hostId: before.shadow!.hostId },
      shadow: { hostId },
      paused: true,
    });
    await allowed.signal(endMaintenanceSignal);
    expect(await allowed.result()).toMatchObject({ phase: 'returned', wasPrimary: true });
  }, 600_000);

  /** Host id → pair id, for every pair's primary and shadow as the pairs know them now. */
  async function hostsOfPairs(): Promise<Map<string, string>> {
    const map = new Map<string, string>();
    for (const id of pairIds) {
      const s = await h.client.workflow.getHandle(pairWorkflowId(id)).query(stateQuery);
      map.set(s.primary.hostId, id);
      if (s.shadow) map.set(s.shadow.hostId, id);
    }
    return map;
  }

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
