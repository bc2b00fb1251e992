// Bad-input corpus, workflow messages: malformed signals and updates sent to a running fleet, its pairs and a
// rollout on the real dev server, worker and simulator. Updates must be refused by their validators with a reason
// naming what is wrong; signals (which cannot be refused) must be dropped. Either way the workflow keeps running,
// its next workflow task completes (none fails, so nothing is stuck), and the state query shows nothing changed.
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FLEET_WORKFLOW_ID,
  fleetStateQuery,
  pairWorkflowId,
  stateQuery,
  type PairState,
} from '../../src/shared/pair.js';
import { WHOLE_RECORD } from '../../src/metrics/types.js';
import { rolloutStateQuery, type RolloutInput, type RolloutTarget } from '../../src/shared/rollout.js';
import type { fleetWorkflow } from '../../workflows/fleet.js';
import type { rolloutWorkflow } from '../../workflows/rollout.js';
import { createPrimaries, threeRegionTopology } from '../helpers/fleet.js';
import {
  FAST_POLICY,
  HOST_SIZE,
  createOrchestrationHarness,
  isObserved,
  type OrchestrationHarness,
} from '../helpers/pair.js';
import { pollUntil } from '../helpers/poll.js';
import { expectUpdateRejected } from '../helpers/temporal.js';

type Target = 'pair' | 'fleet' | 'rollout';

const GOOD_HOST = { hostId: 'h-new', region: 'eu-west', zone: 'eu-west-a', capacity: HOST_SIZE };

// [what, target, signal name, payload (undefined: none)]
const BAD_SIGNALS: [string, Target, string, unknown][] = [
  ['pause with a string instead of an object', 'pair', 'pause', 'freeze'],
  ['pause with disableFailover "yes"', 'pair', 'pause', { disableFailover: 'yes' }],
  ['pause with a numeric reason', 'pair', 'pause', { reason: 42 }],
  ['pause with an unknown field', 'pair', 'pause', { paused: true }],
  ['pause with an empty reason', 'pair', 'pause', { reason: '  ' }],
  ['forceSwap with null', 'pair', 'forceSwap', null],
  ['forceSwap with a list', 'pair', 'forceSwap', ['now']],
  ['forceSwap with a boolean reason', 'pair', 'forceSwap', { reason: true }],
  ['shadowReplaced with null', 'pair', 'shadowReplaced', null],
  ['shadowReplaced without a capacity', 'pair', 'shadowReplaced', { hostId: 'x', region: 'eu-west', zone: 'z' }],
  [
    'shadowReplaced with a negative capacity',
    'pair',
    'shadowReplaced',
    { ...GOOD_HOST, capacity: { ...HOST_SIZE, cpuCores: -4 } },
  ],
  ['a misspelt signal name (pasue)', 'pair', 'pasue', { reason: 'typo' }],
  ['shadowConsumed with null', 'fleet', 'shadowConsumed', null],
  ['shadowConsumed with a host id instead of a host', 'fleet', 'shadowConsumed', { pairId: 'p', newPrimary: 'h-9' }],
  ['primaryAdded without fromPairId', 'fleet', 'primaryAdded', { primary: GOOD_HOST }],
  [
    'primaryAdded with an empty region',
    'fleet',
    'primaryAdded',
    { fromPairId: 'p', primary: { ...GOOD_HOST, region: '' } },
  ],
  ['pairsUnderRollout with no fields', 'fleet', 'pairsUnderRollout', {}],
  ['pairsUnderRollout with pairIds as a string', 'fleet', 'pairsUnderRollout', { rolloutId: 'r', pairIds: 'p1' }],
  ['abortRollout with a string', 'rollout', 'abortRollout', 'now'],
  ['abortRollout with a numeric reason', 'rollout', 'abortRollout', { reason: 7 }],
];

// [what, update name, payload, refusal must match]
const BAD_UPDATES: [string, string, unknown, RegExp][] = [
  ['failover without a payload', 'failover', undefined, /failover needs a non-empty "reason" string/],
  ['failover with a blank reason', 'failover', { reason: '   ' }, /failover needs a non-empty "reason" string/],
  ['failover with a numeric reason', 'failover', { reason: 3 }, /failover needs a non-empty "reason" string/],
  ['swapNow with a string', 'swapNow', 'now', /swapNow needs a non-empty "reason"/],
  ['swapNow without a reason', 'swapNow', {}, /swapNow needs a non-empty "reason"/],
  ['setPolicy with null', 'setPolicy', null, /setPolicy takes an object of policy fields/],
  ['setPolicy with a list', 'setPolicy', [75], /setPolicy takes an object of policy fields/],
  [
    'setPolicy with a threshold as a string',
    'setPolicy',
    { thresholdPercent: '75' },
    /thresholdPercent: must be a number \(got "75"\)/,
  ],
  ['setPolicy with a tick of 0 s', 'setPolicy', { tickSeconds: 0 }, /tickSeconds: must be at least 1/],
  [
    'setPolicy with hysteresis above the threshold',
    'setPolicy',
    { hysteresisPercent: 90 },
    /hysteresisPercent: must be below policy\.thresholdPercent/,
  ],
  [
    'setPolicy with a 7-field cron',
    'setPolicy',
    { offPeak: { kind: 'cron', cron: '0 0 3 * * * *', timeZone: 'UTC' } },
    /offPeak: invalid cron/,
  ],
  [
    'setPolicy with an unknown zone',
    'setPolicy',
    { offPeak: { kind: 'cron', cron: '0 3 * * *', timeZone: 'Nowhere/City' } },
    /unknown time zone 'Nowhere\/City'/,
  ],
  [
    'setPolicy with failuresBeforeFailover 0',
    'setPolicy',
    { failuresBeforeFailover: 0 },
    /failuresBeforeFailover: must be at least 1/,
  ],
  ['an update no handler knows', 'restart', { now: true }, /No registered handler for update: restart/],
];

describe('bad input: signals and updates to running workflows', () => {
  let h: OrchestrationHarness;
  const topology = threeRegionTopology(1);
  const suffix = Math.random().toString(36).slice(2, 8);
  const fleetId = `${FLEET_WORKFLOW_ID}-bad-${suffix}`;
  const rolloutId = `rollout-bad-${suffix}`;
  const pairIds = topology.primaries.map((p) => p.hostId);
  const handles: Record<Target, () => WorkflowHandle> = {
    pair: () => h.client.workflow.getHandle(pairWorkflowId(pairIds[0]!)),
    fleet: () => h.client.workflow.getHandle(fleetId),
    rollout: () => h.client.workflow.getHandle(rolloutId),
  };

  /** What the message must not change: everything but the fields that move with time (health, forecasts). */
  const stable: Record<Target, () => Promise<unknown>> = {
    async pair() {
      const s: PairState = await handles.pair().query(stateQuery);
      return {
        primary: s.primary,
        shadow: s.shadow,
        phase: s.phase,
        paused: s.paused,
        failoverEnabled: s.failoverEnabled,
        policy: s.policy,
        movedToShadow: s.movedToShadow,
        recentActions: s.recentActions,
        swapSchedule: s.swapSchedule,
        actions: [s.counters.swaps, s.counters.failovers, s.counters.scaleOuts, s.counters.scaleBacks],
      };
    },
    async fleet() {
      const s = await handles.fleet().query(fleetStateQuery);
      return { pairs: s.pairs, replacements: s.replacements, underRollout: s.underRollout, problems: s.problems };
    },
    async rollout() {
      const s = await handles.rollout().query(rolloutStateQuery);
      return { phase: s.phase, desired: s.desired, waves: s.waves, pairs: s.pairs, haltReason: s.haltReason };
    },
  };

  const signalEvents = async (handle: WorkflowHandle, name: string) =>
    ((await handle.fetchHistory()).events ?? []).filter(
      (e) => e.workflowExecutionSignaledEventAttributes?.signalName === name,
    ).length;

  /**
   * Waits until the workflow has handled the newest `name` signal: a workflow task completed after it. Fails at
   * once when a workflow task failed after it (a handler that threw would leave the workflow stuck retrying).
   */
  async function settled(handle: WorkflowHandle, name: string, before: number): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const events = (await handle.fetchHistory()).events ?? [];
      const signals = events.flatMap((e, i) =>
        e.workflowExecutionSignaledEventAttributes?.signalName === name ? [i] : [],
      );
      if (signals.length > before) {
        const after = events.slice(signals.at(-1)! + 1);
        const failed = after.find((e) => e.workflowTaskFailedEventAttributes);
        if (failed)
          expect.fail(
            `a workflow task failed after the ${name} signal: ${failed.workflowTaskFailedEventAttributes?.failure?.message}`,
          );
        if (after.some((e) => e.workflowTaskCompletedEventAttributes)) return;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    expect.fail(`the ${name} signal was never handled`);
  }

  beforeAll(async () => {
    h = await createOrchestrationHarness('badmessages');
    await createPrimaries(h.sim, topology);
    await h.startWorker();
    await h.client.workflow.start<typeof fleetWorkflow>('fleetWorkflow', {
      taskQueue: h.taskQueue,
      workflowId: fleetId,
      args: [{ topology, policy: FAST_POLICY }],
    });
    await pollUntil(
      () => handles.pair().query(stateQuery),
      (s) => isObserved(s) && s.swapSchedule !== undefined,
      'the first pair observed',
    );
    // A rollout of the second pair whose only window opens twelve hours from now: it waits, ready for messages.
    const hour = (new Date().getUTCHours() + 12) % 24;
    const input: RolloutInput = {
      rolloutId,
      desired: { image: 'app:2.0' },
      // The rollout reads each pair's hosts from its state query: only the id is needed.
      pairs: [{ pairId: pairIds[1]! } as RolloutTarget],
      budget: { maxPairs: 1 },
      windows: [{ cron: `0 ${hour} * * *`, durationMinutes: 30, timezone: 'UTC' }],
    };
    await h.client.workflow.start<typeof rolloutWorkflow>('rolloutWorkflow', {
      taskQueue: h.taskQueue,
      workflowId: rolloutId,
      args: [input],
    });
    await pollUntil(
      () => handles.rollout().query(rolloutStateQuery),
      (s) => s.phase === 'waiting-for-window',
      'the rollout waiting for its window',
    );
  }, 180_000);

  afterAll(async () => {
    for (const id of [rolloutId, fleetId, ...pairIds.map(pairWorkflowId)]) {
      await h?.client.workflow
        .getHandle(id)
        .terminate('test finished')
        .catch(() => undefined);
    }
    await h?.close();
  });

  it.each(BAD_SIGNALS)('drops %s; the %s runs on unchanged', async (_what, target, name, payload) => {
    const handle = handles[target]();
    const before = await stable[target]();
    const sent = await signalEvents(handle, name);
    await handle.signal(name, ...(payload === undefined ? [] : [payload]));
    await settled(handle, name, sent);
    if (target === 'pair') {
      // Until nothing runs: an action the signal would have started (a swap) shows in the state by then.
      await pollUntil(
        () => handle.describe(),
        (d) => (d.raw.pendingActivities?.length ?? 0) === 0 && (d.raw.pendingChildren?.length ?? 0) === 0,
        'the pair idle after the signal',
      );
    }
    expect(await stable[target]()).toEqual(before);
    expect((await handle.describe()).status.name).toBe('RUNNING');
  });

  it.each(BAD_UPDATES)('refuses %s with a reason; the pair is unchanged', async (_what, name, payload, reason) => {
    const handle = handles.pair();
    const before = await stable.pair();
    await expectUpdateRejected(
      handle.executeUpdate(name, { args: (payload === undefined ? [] : [payload]) as [unknown] }),
      reason,
    );
    expect(await stable.pair()).toEqual(before);
  });

  it('after the whole corpus, every workflow still makes progress', async () => {
    // The pair is still observed: its observer records new decisions for it.
    const decisions = () => h.metrics.readDecisions({ pairIds: [pairIds[0]!], ...WHOLE_RECORD });
    const recorded = (await decisions()).length;
    await pollUntil(decisions, (ds) => ds.length > recorded + 1, 'the pair observed on', 30_000);
    // Good messages still work: the rollout pauses, the fleet answers, the pair pauses.
    await handles.rollout().signal('pauseRollout');
    await pollUntil(
      () => handles.rollout().query(rolloutStateQuery),
      (s) => s.phase === 'paused',
      'rollout paused',
    );
    await handles.pair().signal('pause', { reason: 'a good one' });
    await pollUntil(
      () => handles.pair().query(stateQuery),
      (s) => s.paused,
      'pair paused',
    );
    expect((await handles.fleet().query(fleetStateQuery)).pairs).toHaveLength(pairIds.length);
  });
});
