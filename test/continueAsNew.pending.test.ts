/**
 * Requests that arrive during a run's last iteration must survive continue-as-new: the fleet's consumed-shadow
 * signal during its last drift check, a pair's off-peak change and a forceSwap that arrives while a swap runs. The
 * workflows run on the real dev server with one iteration per run, so every iteration is the last; the provider is
 * played by in-process activities that deliver the message at exactly that moment.
 */
import type { Client } from '@temporalio/client';
import { Context } from '@temporalio/activity';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { FleetHealthActivities } from '../activities/fleetHealth.js';
import type { HealthWatchActivities } from '../activities/healthWatch.js';
import {
  WATCH_LANES,
  watchChangeSignal,
  watchLaneTaskQueue,
  watcherMembersQuery,
  type WatchedPrimary,
} from '../src/shared/healthWatch.js';
import type { OrchestrationActivities } from '../activities/orchestration.js';
import type { PairObserverActivities } from '../activities/pairObserver.js';
import { placeShadows } from '../src/policy/placement.js';
import type { Host, ReplicationStatus } from '../src/provider/types.js';
import type { OffPeakSpec } from '../src/policy/types.js';
import {
  fleetStateQuery,
  forceSwapSignal,
  pairWorkflowId,
  setPolicyUpdate,
  shadowConsumedSignal,
  stateQuery,
  swapNowUpdate,
  type FleetPair,
  type HostRef,
} from '../src/shared/pair.js';
import type { fleetWorkflow } from '../workflows/fleet.js';
import type { healthWatcherWorkflow } from '../workflows/healthWatcher.js';
import type { hostPairWorkflow } from '../workflows/hostPair.js';
import { threeRegionTopology } from './helpers/fleet.js';
import { FAST_POLICY, HOST_SIZE } from './helpers/pair.js';
import { pollUntil } from './helpers/poll.js';
import { devServerConnections, uniqueTaskQueue, type DevServerConnections } from './helpers/temporal.js';

let server: DevServerConnections;
let client: Client;
const started: string[] = [];

beforeAll(async () => {
  server = await devServerConnections();
  client = server.client;
});
afterAll(async () => {
  for (const id of started) {
    await client.workflow
      .getHandle(id)
      .terminate('test finished')
      .catch(() => undefined);
  }
  await server?.close();
});

type FakeActivities = Partial<
  OrchestrationActivities & FleetHealthActivities & HealthWatchActivities & PairObserverActivities
>;

async function runWorker<T>(taskQueue: string, activities: FakeActivities, work: () => Promise<T>): Promise<T> {
  const worker = await Worker.create({
    connection: server.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    activities,
  });
  // A watcher's loop runs on its lane's task queue.
  const { watchPrimaries } = activities;
  if (!watchPrimaries) return worker.runUntil(work());
  const lanes = await Promise.all(
    WATCH_LANES.map((lane) =>
      Worker.create({
        connection: server.nativeConnection,
        taskQueue: watchLaneTaskQueue(taskQueue, lane),
        activities: { watchPrimaries },
      }),
    ),
  );
  const running = lanes.map((lane) => lane.run());
  try {
    return await worker.runUntil(work());
  } finally {
    for (const lane of lanes) lane.shutdown();
    await Promise.all(running);
  }
}

const hostOf = (ref: HostRef): Host => ({ id: ref.hostId, region: ref.region, zone: ref.zone }) as unknown as Host;

describe('continue-as-new carries pending requests', () => {
  it("handles a shadowConsumed signal that arrives during the fleet's last drift check", async () => {
    const topology = threeRegionTopology(1);
    const placement = placeShadows(topology, { shadowFraction: FAST_POLICY.shadowFraction });
    if (!placement.ok) throw new Error(`test topology has no placement: ${JSON.stringify(placement.problems)}`);
    const pairs: FleetPair[] = placement.assignments.map((a) => {
      const spec = topology.primaries.find((p) => p.hostId === a.primaryHostId)!;
      return {
        pairId: spec.hostId,
        primary: { hostId: spec.hostId, region: spec.region, zone: spec.zone, capacity: spec.capacity },
        shadow: { hostId: `${spec.hostId}-s1`, region: a.region, zone: a.zone, capacity: spec.capacity },
      };
    });
    const failedOver = pairs[0]!;
    const taskQueue = uniqueTaskQueue('fleet-can');
    const fleetId = `fleet-can-${taskQueue}`;
    started.push(fleetId);
    const provisioned: string[] = [];
    let signalled = false;
    const activities: FakeActivities = {
      readShadowHealth: () =>
        Promise.resolve({
          failedRegions: [],
          failedShadows: [],
          unreplaceable: [],
          decommissionable: [],
          keepRetiring: [],
          heldByMaintenance: [],
        }),
      syncShadowConfiguration: async ({ idempotencyKey }) => {
        if (idempotencyKey.includes(':drift:') && !signalled) {
          signalled = true;
          // The pair failed over while the fleet runs the last check of this run.
          await client.workflow
            .getHandle(fleetId)
            .signal(shadowConsumedSignal, { pairId: failedOver.pairId, newPrimary: failedOver.shadow! });
        }
        return { drifted: false, hash: 'same' };
      },
      provisionHost: (input) => {
        provisioned.push(input.hostId);
        return Promise.resolve(
          hostOf({ hostId: input.hostId, region: input.region, zone: input.zone, capacity: input.capacity }),
        );
      },
      startReplication: () => Promise.resolve({ state: 'streaming', lagSeconds: 0 } as unknown as ReplicationStatus),
      decommissionHost: (input) =>
        Promise.resolve(hostOf({ hostId: input.hostId, region: '', zone: '', capacity: HOST_SIZE })),
    };

    await runWorker(taskQueue, activities, async () => {
      const handle = await client.workflow.start<typeof fleetWorkflow>('fleetWorkflow', {
        taskQueue,
        workflowId: fleetId,
        args: [
          {
            topology,
            policy: FAST_POLICY,
            checkIntervalSeconds: 1,
            iterationsPerRun: 1,
            state: { pairs, replacements: 0, driftCorrections: 0, problems: [] },
          },
        ],
      });
      const state = await pollUntil(
        () => handle.query(fleetStateQuery),
        (s) => s.pairs.find((p) => p.pairId === failedOver.pairId)?.primary.hostId === failedOver.shadow!.hostId,
        'the failed-over pair recorded with its new primary',
        30_000,
      );
      const pair = state.pairs.find((p) => p.pairId === failedOver.pairId)!;
      expect(signalled).toBe(true);
      // The signal was taken by a later run than the one it arrived in, and the pair got a new shadow.
      expect((await handle.describe()).runId).not.toBe(handle.firstExecutionRunId);
      await pollUntil(
        () => handle.query(fleetStateQuery),
        (s) => s.pairs.find((p) => p.pairId === failedOver.pairId)?.shadow !== undefined,
        'a replacement shadow for the failed-over pair',
        30_000,
      );
      expect(provisioned).toEqual([`${failedOver.pairId}-s2`]);
      expect(pair.primary).toEqual(failedOver.shadow);
      expect(state.pending?.shadowsConsumed ?? []).toEqual([]);
    });
  });

  /**
   * A pair of one iteration per run on fake activities; `onCall` runs inside each enrolment with its observer
   * (between the swap schedule and the swap step) and each health check (the swap's pre-check of the shadow).
   */
  function pairActivities(
    primary: HostRef,
    shadow: HostRef,
    onCall: (call: 'observe' | 'check', calls: number) => Promise<void>,
  ): { activities: FakeActivities; schedules: OffPeakSpec[]; shadowChecks: () => number } {
    const schedules: OffPeakSpec[] = [];
    let observations = 0;
    let checks = 0;
    const activities: FakeActivities = {
      checkHealth: async (hostId) => {
        checks += 1;
        await onCall('check', checks);
        // The shadow fails the swap's pre-check: the swap ends at once, refused, touching nothing.
        return { healthy: hostId === primary.hostId, status: 'active', checkedAt: Date.now() };
      },
      enrolPrimary: () => Promise.resolve(['watcher-a', 'watcher-b']),
      enrolObserved: async () => {
        observations += 1;
        await onCall('observe', observations);
        return 'observer';
      },
      ensureSwapSchedule: (input) => {
        schedules.push(input.offPeak);
        return Promise.resolve({ scheduleId: input.scheduleId, cronExpressions: ['0 3 * * *'], timezone: 'UTC' });
      },
    };
    return { activities, schedules, shadowChecks: () => checks };
  }

  /** A pair of this test's own: its task queue, id, hosts and handle (terminated when the file ends). */
  function testPair(name: string) {
    const taskQueue = uniqueTaskQueue(`pair-can-${name}`);
    const pairId = `can-${name}-${taskQueue.slice(-8)}`;
    started.push(pairWorkflowId(pairId));
    return {
      taskQueue,
      pairId,
      primary: { hostId: `${pairId}-a`, region: 'us-east-1', zone: 'us-east-1a', capacity: HOST_SIZE },
      shadow: { hostId: `${pairId}-b`, region: 'eu-west-1', zone: 'eu-west-1a', capacity: HOST_SIZE },
      pair: () => client.workflow.getHandle(pairWorkflowId(pairId)),
    };
  }

  it("applies an off-peak change that arrives during a pair's last iteration", async () => {
    const { taskQueue, pairId, primary, shadow } = testPair('offpeak');
    const changed: OffPeakSpec = { kind: 'cron', cron: '30 4 * * *', timeZone: 'Europe/Berlin' };
    const { activities, schedules } = pairActivities(primary, shadow, async (call, n) => {
      if (call !== 'observe' || n !== 1) return;
      // After this run's schedule was applied, before it continues as new.
      await client.workflow.getHandle(pairWorkflowId(pairId)).executeUpdate(setPolicyUpdate, {
        args: [{ offPeak: changed }],
      });
    });
    await runWorker(taskQueue, activities, async () => {
      const handle = await client.workflow.start<typeof hostPairWorkflow>('hostPairWorkflow', {
        taskQueue,
        workflowId: pairWorkflowId(pairId),
        args: [{ pairId, primary, shadow, policy: FAST_POLICY, iterationsPerRun: 1 }],
      });
      await pollUntil(
        () => Promise.resolve(schedules),
        (s) => s.some((spec) => JSON.stringify(spec) === JSON.stringify(changed)),
        'the swap schedule re-applied with the changed off-peak spec',
        30_000,
      );
      expect(schedules[0]).toEqual(FAST_POLICY.offPeak);
      const state = await handle.query(stateQuery);
      expect(state.policy.offPeak).toEqual(changed);
      expect(state.counters.runs).toBeGreaterThan(1);
    });
  });

  it('answers an update id repeated in a later run with its first answer, acting once', async () => {
    const { taskQueue, pairId, primary, shadow, pair } = testPair('update-id');
    const { activities, shadowChecks } = pairActivities(primary, shadow, () => Promise.resolve());
    await runWorker(taskQueue, activities, async () => {
      await client.workflow.start<typeof hostPairWorkflow>('hostPairWorkflow', {
        taskQueue,
        workflowId: pairWorkflowId(pairId),
        args: [{ pairId, primary, shadow, policy: FAST_POLICY, iterationsPerRun: 1 }],
      });
      // A rollout's swap, retried by its activity after the pair has continued as new.
      const request = { args: [{ reason: 'rollout r1' }] as [{ reason: string }], updateId: 'rollout-r1:swap' };
      const first = await pair().executeUpdate(swapNowUpdate, request);
      const { runs } = (await pair().query(stateQuery)).counters;
      await pollUntil(
        () => pair().query(stateQuery),
        (s) => s.counters.runs >= runs + 2,
        'two more runs',
        30_000,
      );
      const again = await pair().executeUpdate(swapNowUpdate, request);
      expect(again).toEqual(first);
      expect(shadowChecks()).toBe(1);
      const state = await pair().query(stateQuery);
      expect(state.recentActions.filter((a) => a.kind === 'swap')).toHaveLength(1);
      expect(state.answeredUpdates?.map((a) => a.id)).toEqual(['rollout-r1:swap']);
    });
  });

  it("carries a health watcher's members and their version across continue-as-new", async () => {
    const taskQueue = uniqueTaskQueue('watcher-can');
    const workflowId = `health-watch:${taskQueue}:0:a`;
    started.push(workflowId);
    const runs: { members?: WatchedPrimary[]; version?: number }[] = [];
    const activities: FakeActivities = {
      // Runs until the watcher moves on, as the real loop does.
      watchPrimaries: async (input) => {
        runs.push({ members: input.members, version: input.version });
        for (;;) {
          Context.current().heartbeat();
          await Context.current().sleep(100);
        }
      },
    };
    const member = (n: number): WatchedPrimary => ({
      pairId: `p${n}`,
      primaryHostId: `h${n}`,
      generation: 0,
      intervalSeconds: 5,
      failuresBeforeFailover: 3,
    });
    await runWorker(taskQueue, activities, async () => {
      const handle = await client.workflow.start<typeof healthWatcherWorkflow>('healthWatcherWorkflow', {
        taskQueue,
        workflowId,
        args: [{ taskQueue, shard: 0, lane: 'a', changesPerRun: 2 }],
      });
      for (const n of [1, 2, 3]) await handle.signal(watchChangeSignal, { pairId: `p${n}`, member: member(n) });
      await handle.signal(watchChangeSignal, { pairId: 'p1' });
      const answer = await pollUntil(
        () => handle.query(watcherMembersQuery),
        (a) => a.version === 4,
        'all four changes taken',
        30_000,
      );
      expect(answer.members?.map((m) => m.pairId).sort()).toEqual(['p2', 'p3']);
      // Two changes per run: the changes were taken across runs, each run starting its loop with what it held.
      const description = await handle.describe();
      expect(description.runId).not.toBe(handle.firstExecutionRunId);
      expect(description.memo?.membersVersion).toBe(4);
      await pollUntil(
        () => Promise.resolve(runs.at(-1)),
        (r) => r?.version !== undefined && r.version >= 2,
        'a watch run started by a later run',
        30_000,
      );
      // Each run's loop started with the members it held at its start: after 0, 1, 2, 3 and 4 changes.
      const held = [0, 1, 2, 3, 2];
      for (const r of runs) expect(r.members).toHaveLength(held[r.version!]!);
    });
  });

  it("swaps for a forceSwap that arrives while the last iteration's swap runs", async () => {
    const { taskQueue, pairId, primary, shadow, pair } = testPair('swap');
    const { activities, shadowChecks } = pairActivities(primary, shadow, async (call, n) => {
      if (n !== 1) return;
      // The first request comes before this run's swap step; the second while that swap's pre-check runs.
      const reason = call === 'observe' ? 'first' : 'second';
      await pair().signal(forceSwapSignal, { reason });
    });
    await runWorker(taskQueue, activities, async () => {
      await client.workflow.start<typeof hostPairWorkflow>('hostPairWorkflow', {
        taskQueue,
        workflowId: pairWorkflowId(pairId),
        args: [{ pairId, primary, shadow, policy: FAST_POLICY, iterationsPerRun: 1 }],
      });
      const state = await pollUntil(
        () => pair().query(stateQuery),
        (s) => s.recentActions.filter((a) => a.kind === 'swap').length >= 2,
        'both swap requests acted on',
        30_000,
      );
      const swaps = state.recentActions.filter((a) => a.kind === 'swap');
      expect(swaps.map((a) => a.detail.split(':').slice(0, 2).join(':'))).toEqual([
        'operator: first',
        'operator: second',
      ]);
      expect(shadowChecks()).toBe(2);
      expect(state.pending?.swapRequest).toBeUndefined();
    });
  });
});
