import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  forceSwapSignal,
  pairWorkflowId,
  pauseSignal,
  resumeSignal,
  setPolicyUpdate,
  swapScheduleId,
  type PairState,
} from '../src/shared/pair.js';
import { SearchAttributeKeys } from '../src/shared/temporal.js';
import { stackPaths } from '../src/stack/index.js';
import { createPairFixture, isObserved, type PairFixture } from './helpers/pair.js';
import { pollUntil } from './helpers/poll.js';
import { expectUpdateRejected, testConfig } from './helpers/temporal.js';

const run = promisify(execFile);

// Operator control of a pair on the real dev server and simulator: signals, updates with validators, the state
// query, search attributes for the Web UI, the official `temporal` CLI, role swaps and continue-as-new.
describe('hostPairWorkflow: operator control', () => {
  let f: PairFixture;
  const handle = () => f.client.workflow.getHandle(pairWorkflowId(f.pairId));
  const searchAttributes = async () => (await handle().describe()).typedSearchAttributes;

  let firstRunId: string;

  beforeAll(async () => {
    // An hour of history, recorded as the pair's demand on its first observation, so the swap has a past to keep.
    f = await createPairFixture('operator', { historyHours: 1 });
    await f.startWorker();
    firstRunId = (await f.startPair({ iterationsPerRun: 8 })).firstExecutionRunId;
    await f.waitForState(isObserved, 'observed');
  });
  afterAll(async () => {
    await f?.close();
  });

  it('publishes its hosts, regions and phase as search attributes', async () => {
    const attrs = await searchAttributes();
    expect(attrs.get(SearchAttributeKeys.PairId)).toBe(f.pairId);
    expect(attrs.get(SearchAttributeKeys.PrimaryHost)).toBe(f.primary.hostId);
    expect(attrs.get(SearchAttributeKeys.ShadowHost)).toBe(f.shadow.hostId);
    expect(attrs.get(SearchAttributeKeys.PrimaryRegion)).toBe('us-east');
    expect(attrs.get(SearchAttributeKeys.ShadowRegion)).toBe('eu-west');
    expect(attrs.get(SearchAttributeKeys.PairPhase)).toBe('steady');
    expect(attrs.get(SearchAttributeKeys.Paused)).toBe(false);
  });

  it('pause holds a forced swap; resume lets the next one through', async () => {
    await handle().signal(pauseSignal, { reason: 'change freeze' });
    await f.waitForState((s) => s.paused, 'paused');
    expect((await searchAttributes()).get(SearchAttributeKeys.Paused)).toBe(true);

    await handle().signal(forceSwapSignal, { reason: 'while paused' });
    const skipped = await f.waitForState(
      (s) => s.lastAction?.detail.includes('while paused') === true,
      'the skipped swap recorded',
    );
    expect(skipped.lastAction).toMatchObject({ kind: 'swap', outcome: 'failed' });
    expect(skipped.lastAction?.detail).toMatch(/skipped, the pair is paused/);
    expect(skipped.primary.hostId).toBe(f.primary.hostId);
    // Paused, it is still observed: its observer goes on recording decisions, none of them taken.
    const recordedBefore = (await f.decisions()).length;
    const whilePaused = await pollUntil(
      () => f.decisions(),
      (decisions) => decisions.length > recordedBefore,
      'a decision recorded while paused',
    );
    expect(whilePaused.slice(recordedBefore).every((d) => !d.executed)).toBe(true);

    await handle().signal(resumeSignal);
    await f.waitForState((s) => !s.paused, 'resumed');
    expect((await searchAttributes()).get(SearchAttributeKeys.Paused)).toBe(false);
  });

  it('a forced swap exchanges the roles with every workload moved live, and the fleet stays consistent', async () => {
    await handle().signal(forceSwapSignal, { reason: 'game day' });
    const state = await f.waitForState((s) => s.counters.swaps === 1 && s.phase === 'steady', 'a completed swap');
    expect(state.primary.hostId).toBe(f.shadow.hostId);
    expect(state.shadow?.hostId).toBe(f.primary.hostId);
    expect(state.lastAction).toMatchObject({ kind: 'swap', outcome: 'succeeded' });

    const fleet = await f.sim.provider.describeFleet();
    expect(fleet.hosts.find((h) => h.id === f.shadow.hostId)).toMatchObject({ role: 'primary', status: 'active' });
    expect(fleet.hosts.find((h) => h.id === f.primary.hostId)).toMatchObject({ role: 'shadow', status: 'inactive' });
    for (const id of f.workloadIds) expect(fleet.workloads.find((w) => w.id === id)?.hostId).toBe(f.shadow.hostId);
    expect((await f.sim.provider.invariants()).violations).toEqual([]);
    expect((await searchAttributes()).get(SearchAttributeKeys.PrimaryHost)).toBe(f.shadow.hostId);
  });

  it("keeps forecasting the pair's demand across the swap: its record follows the workloads", async () => {
    const swappedAt = (await f.state()).lastAction!.at;
    // A decision on a forecast issued two steps after the swap, so the new primary's own series holds a complete
    // step of load.
    const decisions = await pollUntil(
      () => f.decisions(),
      (ds) => ds.some((d) => d.hostId === f.shadow.hostId && d.issuedAt.getTime() > swappedAt + 10 * 60_000),
      'a decision two steps after the swap',
    );
    const issuedAt = decisions.find((d) => d.issuedAt.getTime() > swappedAt + 10 * 60_000)!.issuedAt.getTime();
    const recorded = await f.metrics.readPairDemand({
      pairIds: [f.pairId],
      start: new Date(0),
      end: new Date(issuedAt + 3_600_000),
    });
    const cpu = recorded.filter((p) => p.resource === 'cpu');
    const carriedBy = (hostId: string) => cpu.filter((p) => p.primaryHostId === hostId).map((p) => p.demand);
    const before = carriedBy(f.primary.hostId);
    const since = carriedBy(f.shadow.hostId);
    expect(before.length).toBeGreaterThan(0);
    expect(since.length).toBeGreaterThan(0);
    // The same two workloads at a steady half load: the pair's demand in cores is the same whichever host carries it
    // (medians: the step the swap happened in is split between the two hosts).
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    expect(median(since) / median(before)).toBeGreaterThan(0.8);
    expect(median(since) / median(before)).toBeLessThan(1.25);
    // And the forecast is of that demand, not of the new primary's standby past: its peaks, written beside the new
    // primary's actuals, are the pair's (every workload runs on the primary, so the two are one).
    const peak = (
      await f.metrics.readForecasts({
        hostIds: [f.shadow.hostId],
        resource: 'cpu',
        start: new Date(issuedAt),
        end: new Date(issuedAt + 2 * 3_600_000),
      })
    ).find((p) => p.issuedAt.getTime() === issuedAt && p.horizonMinutes === 15);
    expect(peak).toBeDefined();
    const carriedPercent = (median(before) / f.shadow.capacity.cpuCores) * 100;
    expect(peak!.yhat).toBeGreaterThan(0.8 * carriedPercent);
  });

  it('setPolicy validates the merged policy and names the bad field; nothing changes on refusal', async () => {
    await expectUpdateRejected(
      handle().executeUpdate(setPolicyUpdate, { args: [{ thresholdPercent: 150 }] }),
      /thresholdPercent: must be at most 100/,
    );
    await expectUpdateRejected(
      handle().executeUpdate(setPolicyUpdate, { args: [{ horizonsMinutes: [-5] }] }),
      /horizonsMinutes\.0: must be positive/,
    );
    await expectUpdateRejected(
      handle().executeUpdate(setPolicyUpdate, { args: [{ thresholdPercnt: 70 } as never] }),
      /thresholdPercnt/,
    );
    expect((await f.state()).policy.thresholdPercent).toBe(80);

    const policy = await handle().executeUpdate(setPolicyUpdate, {
      args: [{ thresholdPercent: 70, forecastOnly: true }],
    });
    expect(policy).toMatchObject({ thresholdPercent: 70, forecastOnly: true });
    expect((await f.state()).policy).toMatchObject({ thresholdPercent: 70, forecastOnly: true });
  });

  it('keeps its whole state across continue-as-new', async () => {
    const before = await f.state();
    // A pair sleeps between messages: each resume (a no-op here) wakes it once, and eight wakes end a run.
    const after = await pollUntil(
      async () => {
        await handle().signal(resumeSignal);
        return f.state();
      },
      (s) => s.counters.runs > before.counters.runs,
      'a continue-as-new',
      60_000,
    );
    expect(after.counters.swaps).toBe(1);
    expect(after.policy.thresholdPercent).toBe(70);
    expect(after.primary.hostId).toBe(f.shadow.hostId);
    expect(after.recentActions.map((a) => a.kind)).toEqual(expect.arrayContaining(['swap']));
    expect((await handle().describe()).runId).not.toBe(firstRunId);
  });

  it('answers the official temporal CLI: pause, query the state, force a swap', async () => {
    const { config } = testConfig();
    const temporal = stackPaths(config).temporalBin;
    const common = [
      '--address',
      config.temporal.address,
      '--namespace',
      config.temporal.namespace,
      '--workflow-id',
      pairWorkflowId(f.pairId),
    ];
    await run(temporal, [
      'workflow',
      'signal',
      ...common,
      '--name',
      'pause',
      '--input',
      '{"reason":"from the temporal CLI"}',
    ]);
    const { stdout } = await run(temporal, ['workflow', 'query', ...common, '--type', 'state', '--output', 'json']);
    const answer = JSON.parse(stdout) as { queryResult: PairState[] };
    expect(answer.queryResult[0]).toMatchObject({ pairId: f.pairId, paused: true });
    expect(answer.queryResult[0]).toHaveProperty('observation.observer');
    expect(answer.queryResult[0]).toHaveProperty('phase', 'steady');

    await run(temporal, ['workflow', 'signal', ...common, '--name', 'resume']);
    const swapsBefore = (await f.waitForState((s) => !s.paused, 'resumed by the temporal CLI')).counters.swaps;
    await run(temporal, [
      'workflow',
      'signal',
      ...common,
      '--name',
      'forceSwap',
      '--input',
      '{"reason":"temporal CLI"}',
    ]);
    const state = await f.waitForState(
      (s) => s.counters.swaps === swapsBefore + 1 && s.phase === 'steady',
      'a swap forced by the temporal CLI',
    );
    expect(state.primary.hostId).toBe(f.primary.hostId);
  });
});

describe('hostPairWorkflow: off-peak swaps from a Temporal Schedule', () => {
  let f: PairFixture;
  beforeAll(async () => {
    f = await createPairFixture('offpeak');
    await f.startWorker();
    await f.startPair();
  });
  afterAll(async () => {
    await f.client.schedule
      .getHandle(swapScheduleId(f.pairId))
      .delete()
      .catch(() => undefined);
    await f?.close();
  });

  it('creates its schedule from the policy (cron in a time zone) and swaps when it fires', async () => {
    const state = await f.waitForState((s) => s.swapSchedule !== undefined, 'a swap schedule');
    expect(state.swapSchedule).toEqual({
      scheduleId: swapScheduleId(f.pairId),
      cronExpressions: ['0 3 * * *'],
      timezone: 'UTC',
    });
    const schedule = await f.client.schedule.getHandle(swapScheduleId(f.pairId)).describe();
    expect(schedule.action).toMatchObject({
      type: 'startWorkflow',
      workflowType: 'offPeakSwapWorkflow',
      taskQueue: f.taskQueue,
    });
    expect(schedule.info.nextActionTimes.length).toBeGreaterThan(0);

    await f.client.schedule.getHandle(swapScheduleId(f.pairId)).trigger();
    const swapped = await f.waitForState((s) => s.counters.swaps === 1 && s.phase === 'steady', 'a scheduled swap');
    expect(swapped.lastAction?.detail).toMatch(/^off-peak schedule: /);
    expect(swapped.primary.hostId).toBe(f.shadow.hostId);
  });

  it('moves the schedule when the operator changes the off-peak window, and refuses a cron that never fires', async () => {
    const handle = f.client.workflow.getHandle(pairWorkflowId(f.pairId));
    await expectUpdateRejected(
      handle.executeUpdate(setPolicyUpdate, {
        args: [{ offPeak: { kind: 'cron', cron: '0 0 30 2 *', timeZone: 'UTC' } }],
      }),
      /offPeak: invalid cron '0 0 30 2 \*': day-of-month field: day 30 never occurs in feb/,
    );
    await handle.executeUpdate(setPolicyUpdate, {
      args: [{ offPeak: { kind: 'cron', cron: '30 2 * * 1-5', timeZone: 'Europe/Paris' } }],
    });
    const state = await f.waitForState(
      (s) =>
        s.swapSchedule !== undefined &&
        'cronExpressions' in s.swapSchedule &&
        s.swapSchedule.timezone === 'Europe/Paris',
      'the schedule moved',
    );
    expect(state.swapSchedule).toMatchObject({ cronExpressions: ['30 2 * * 1-5'] });
    const schedule = await f.client.schedule.getHandle(swapScheduleId(f.pairId)).describe();
    expect(schedule.spec.timezone).toBe('Europe/Paris');
  });
});
