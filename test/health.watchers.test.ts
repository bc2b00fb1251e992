/**
 * Health watchers on the real dev server, simulator and worker: pairs do not poll, their shard's two watcher lanes
 * check the primaries in batches and report a failure with the `primaryFailed` update. Reports that no longer hold
 * are refused with a reason and change nothing; two reports of one failure fail the pair over once; a dead lane
 * leaves the other one watching; a pair whose failover is held leaves its watchers and is watched again on resume.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  primaryFailedUpdate,
  primaryFailedUpdateId,
  watcherMembersQuery,
  watcherWorkflowIds,
  type PrimaryFailureReport,
} from '../src/shared/healthWatch.js';
import { pairWorkflowId, pauseSignal, resumeSignal } from '../src/shared/pair.js';
import { FAST_POLICY, createPairFixture, isObserved, type PairFixture } from './helpers/pair.js';
import { pollUntil } from './helpers/poll.js';
import { expectUpdateRejected } from './helpers/temporal.js';

/** A pair of its own, on its own simulator and worker, enrolled with its watchers before the tests run. */
function watchedPair(name: string): () => PairFixture {
  let f: PairFixture | undefined;
  beforeAll(async () => {
    f = await createPairFixture(name);
    await f.startWorker();
    await f.startPair();
    await f.waitForState((s) => s.health.watch !== undefined && isObserved(s), 'enrolled with its watchers');
  });
  afterAll(async () => {
    await f?.close();
  });
  return () => f!;
}

describe('health watchers: reports the pair refuses', () => {
  const pairOf = watchedPair('watch-refuse');

  const report = (overrides: Partial<PrimaryFailureReport>): PrimaryFailureReport => ({
    primaryHostId: pairOf().primary.hostId,
    generation: 0,
    failedChecksAt: [1, 2],
    status: 'failed',
    reportedAt: Date.now(),
    watcher: 'test',
    ...overrides,
  });

  it('checks the primary in batches, never the pair itself', async () => {
    const f = pairOf();
    const state = await f.state();
    expect(state.health.watchers).toEqual(watcherWorkflowIds(f.taskQueue, f.pairId));
    const seen = await pollUntil(
      () => f.sim.control.healthCheckGaps(),
      (g) => (g.worstHosts.find((h) => h.hostId === f.primary.hostId)?.checks ?? 0) >= 3,
      'three batched checks of the primary',
    );
    // Two lanes, each on the 1 s grid of FAST_POLICY, half a second apart: no gap near two intervals.
    expect(seen.gapsMs.max).toBeLessThan(2_000);
    const history = await f.client.workflow.getHandle(pairWorkflowId(f.pairId)).fetchHistory();
    const activityTypes = (history.events ?? []).flatMap(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? [],
    );
    expect(activityTypes).not.toContain('checkHealth');
    expect(activityTypes).toContain('enrolPrimary');
  });

  it('refuses a report for another host, an old one, a stale generation, too few checks or a bad payload', async () => {
    const f = pairOf();
    const pair = f.client.workflow.getHandle(pairWorkflowId(f.pairId));
    const send = (r: unknown) => pair.executeUpdate(primaryFailedUpdate, { args: [r as PrimaryFailureReport] });
    await expectUpdateRejected(
      send(report({ primaryHostId: f.shadow.hostId })),
      new RegExp(`${f.shadow.hostId} is not the primary of pair ${f.pairId}`),
    );
    await expectUpdateRejected(send(report({ reportedAt: Date.now() - 120_000 })), /older than 60 s/);
    await expectUpdateRejected(send(report({ generation: 3 })), /role generation 3, the pair is at 0/);
    await expectUpdateRejected(send(report({ failedChecksAt: [1] })), /1 failed checks, the policy needs 2/);
    await expectUpdateRejected(send({ primaryHostId: 7 }), /primaryFailed needs primaryHostId/);
    const state = await f.state();
    expect(state).toMatchObject({ phase: 'steady', counters: { failovers: 0 } });
    expect(state.primary.hostId).toBe(f.primary.hostId);
    expect(state.health.lastFailureReport).toBeUndefined();
  });

  it('takes two reports of one failure as one failover', async () => {
    const f = pairOf();
    const pair = f.client.workflow.getHandle(pairWorkflowId(f.pairId));
    const evidence = report({});
    const updateId = primaryFailedUpdateId(evidence);
    const [first, second] = await Promise.all([
      pair.executeUpdate(primaryFailedUpdate, { args: [evidence], updateId }),
      pair.executeUpdate(primaryFailedUpdate, { args: [{ ...evidence, watcher: 'other lane' }], updateId }),
    ]);
    expect(second).toEqual(first);
    const state = await f.waitForState((s) => s.phase === 'unprotected', 'failed over');
    expect(state.counters.failovers).toBe(1);
    expect(state.primary.hostId).toBe(f.shadow.hostId);
    // No shadow left to fail over to: the pair left its watchers.
    await f.waitForState((s) => s.health.watch === undefined, 'left its watchers');
  });
});

describe('health watchers: a dead lane', () => {
  const pairOf = watchedPair('watch-lane');

  it('fails the pair over from the other lane when one lane is gone', async () => {
    const f = pairOf();
    const [laneA, laneB] = watcherWorkflowIds(f.taskQueue, f.pairId);
    await f.client.workflow.getHandle(laneA!).terminate('lane a dies in this test');
    // Lane a's activity goes at its next heartbeat; from then on the primary is checked once an interval, not twice.
    await f.sim.control.resetHealthCheckGaps();
    await pollUntil(
      async () => {
        const gaps = await f.sim.control.healthCheckGaps();
        if (gaps.gapsMs.count >= 3 && gaps.gapsMs.p50 < 900) await f.sim.control.resetHealthCheckGaps();
        return gaps;
      },
      (g) => g.gapsMs.count >= 3 && g.gapsMs.p50 >= 900,
      'checks of the primary by one lane only',
    );
    await f.sim.control.failHost(f.primary.hostId);
    const state = await f.waitForState((s) => s.counters.failovers === 1 && s.phase === 'unprotected', 'failed over');
    expect(state.health.lastFailureReport).toMatchObject({
      primaryHostId: f.primary.hostId,
      status: 'failed',
      watcher: laneB,
    });
  });
});

describe('health watchers: a held failover', () => {
  const pairOf = watchedPair('watch-held');

  it('leaves the watchers while failover is held, and is watched (and failed over) again on resume', async () => {
    const f = pairOf();
    const pair = f.client.workflow.getHandle(pairWorkflowId(f.pairId));
    await pair.signal(pauseSignal, { disableFailover: true, reason: 'test' });
    await f.waitForState((s) => s.health.watch === undefined && !s.failoverEnabled, 'out of its watchers');
    // Both lanes have taken the pair's leaving: neither checks its primary any more.
    for (const watcherId of watcherWorkflowIds(f.taskQueue, f.pairId))
      await pollUntil(
        () => f.client.workflow.getHandle(watcherId).query(watcherMembersQuery),
        (answer) => !(answer.members ?? []).some((m) => m.pairId === f.pairId),
        `the pair gone from ${watcherId}`,
      );
    await f.sim.control.failHost(f.primary.hostId);
    // Held: the dead primary is not reported while the pair is out of its watchers. Three failure counts' worth of
    // health intervals pass (the watchers would have reported it within them), and the pair is still where it was.
    const held = FAST_POLICY.healthCheckIntervalSeconds * (FAST_POLICY.failuresBeforeFailover + 1) * 1000;
    await new Promise((resolve) => setTimeout(resolve, held));
    expect((await f.state()).counters.failovers).toBe(0);
    await pair.signal(resumeSignal);
    const state = await f.waitForState((s) => s.counters.failovers === 1 && s.phase === 'unprotected', 'failed over');
    expect(state.health.lastFailureReport).toMatchObject({ primaryHostId: f.primary.hostId, status: 'failed' });
  });
});
