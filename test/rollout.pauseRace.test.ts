import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import type { RolloutActivities } from '../activities/rollout.js';
import type { HostRef } from '../src/shared/pair.js';
import {
  abortRolloutSignal,
  pauseRolloutSignal,
  resumeRolloutSignal,
  rolloutStateQuery,
  type RolloutState,
  type RolloutTarget,
} from '../src/shared/rollout.js';
import type { rolloutWorkflow } from '../workflows/rollout.js';
import { HOST_SIZE } from './helpers/pair.js';
import { pollUntil } from './helpers/poll.js';
import { devServerConnections, uniqueTaskQueue, type DevServerConnections } from './helpers/temporal.js';

// A pause that arrives while the rollout reads the provider's clock before a wave must hold that wave. The real
// rollout test met this by chance on a loaded machine; here the clock read is held open on purpose, on the real dev
// server, with the provider and the pairs played by in-process activities.
let server: DevServerConnections;

beforeAll(async () => {
  server = await devServerConnections();
});
afterAll(async () => {
  await server?.close();
});

const host = (hostId: string, region: string): HostRef => ({
  hostId,
  region,
  zone: `${region}-a`,
  capacity: HOST_SIZE,
});

/** Hosts that take any configuration and report it back, as a provider would, with the hash applied. */
function hostsThatTakeConfiguration(): Pick<RolloutActivities, 'applyConfiguration' | 'readHostConfiguration'> {
  const applied = new Map<string, string>();
  return {
    applyConfiguration: ({ hostId, desired }) => {
      const hash = `hash-of-${JSON.stringify(desired)}`;
      applied.set(hostId, hash);
      return Promise.resolve({ hash });
    },
    readHostConfiguration: (hostId) =>
      Promise.resolve({
        hostId,
        healthy: true,
        status: 'active',
        values: applied.has(hostId) ? { image: 'app:2.0' } : { image: 'app:1.0' },
        hash: applied.get(hostId) ?? 'hash-old',
      }),
  };
}

it('holds the next wave when a pause arrives during the clock read before it', async () => {
  const targets: RolloutTarget[] = [
    { pairId: 'p1', primary: host('p1-a', 'us'), shadow: host('p1-b', 'eu') },
    { pairId: 'p2', primary: host('p2-a', 'eu'), shadow: host('p2-b', 'us') },
  ];
  let clockReads = 0;
  let releaseClock: () => void = () => undefined;
  let secondClockReadStarted: () => void = () => undefined;
  const secondClockRead = new Promise<void>((resolve) => (secondClockReadStarted = resolve));
  const activities: RolloutActivities = {
    ...hostsThatTakeConfiguration(),
    swapPairNow: ({ pairId }) => {
      const t = targets.find((x) => x.pairId === pairId)!;
      return Promise.resolve({ swapped: true, primary: t.shadow!, shadow: t.primary });
    },
    readProviderClock: async () => {
      clockReads += 1;
      if (clockReads === 2) {
        // The gate before the second wave: held until the test has paused the rollout.
        secondClockReadStarted();
        await new Promise<void>((resolve) => (releaseClock = resolve));
      }
      return Date.now();
    },
    readSpareCapacity: () => Promise.resolve(undefined),
    readRolloutTargets: () => Promise.resolve(targets),
  };
  const taskQueue = uniqueTaskQueue('rollout-pause-race');
  const worker = await Worker.create({
    connection: server.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    activities,
  });
  await worker.runUntil(async () => {
    const handle = await server.client.workflow.start<typeof rolloutWorkflow>('rolloutWorkflow', {
      taskQueue,
      workflowId: `rollout-pause-race-${taskQueue}`,
      args: [
        {
          rolloutId: 'race',
          desired: { image: 'app:2.0' },
          pairs: targets,
          budget: { maxPairs: 1 },
          windows: [{ cron: '* * * * *', durationMinutes: 1 }],
        },
      ],
    });
    await secondClockRead;
    await handle.signal(pauseRolloutSignal);
    await pollUntil(
      () => handle.query(rolloutStateQuery),
      (s) => s.phase === 'paused',
      'paused',
    );
    releaseClock();
    // Give the workflow time to act on the clock it read: it must not start the second pair.
    await new Promise((r) => setTimeout(r, 2_000));
    const held: RolloutState = await handle.query(rolloutStateQuery);
    expect(held.phase).toBe('paused');
    expect(held.pairs.map((p) => p.step)).toEqual(['done', 'pending']);

    await handle.signal(resumeRolloutSignal);
    const state = await handle.result();
    expect(state.phase).toBe('completed');
    expect(state.pairs.map((p) => p.step)).toEqual(['done', 'done']);
  });
}, 60_000);

it('ends the rollout when an abort arrives during the last wave of a run', async () => {
  const targets: RolloutTarget[] = ['p1', 'p2', 'p3'].map((pairId, i) => ({
    pairId,
    primary: host(`${pairId}-a`, i % 2 === 0 ? 'us' : 'eu'),
    shadow: host(`${pairId}-b`, i % 2 === 0 ? 'eu' : 'us'),
  }));
  let releaseSwap: () => void = () => undefined;
  let firstSwapStarted: () => void = () => undefined;
  const firstSwap = new Promise<void>((resolve) => (firstSwapStarted = resolve));
  let swaps = 0;
  const activities: RolloutActivities = {
    ...hostsThatTakeConfiguration(),
    swapPairNow: async ({ pairId }) => {
      swaps += 1;
      if (swaps === 1) {
        // The run's only wave (one wave per run): held until the abort is in.
        firstSwapStarted();
        await new Promise<void>((resolve) => (releaseSwap = resolve));
      }
      const t = targets.find((x) => x.pairId === pairId)!;
      return { swapped: true, primary: t.shadow!, shadow: t.primary };
    },
    readProviderClock: () => Promise.resolve(Date.now()),
    readSpareCapacity: () => Promise.resolve(undefined),
    readRolloutTargets: () => Promise.resolve(targets),
  };
  const taskQueue = uniqueTaskQueue('rollout-abort-last-wave');
  const worker = await Worker.create({
    connection: server.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    activities,
  });
  await worker.runUntil(async () => {
    const handle = await server.client.workflow.start<typeof rolloutWorkflow>('rolloutWorkflow', {
      taskQueue,
      workflowId: `rollout-abort-last-wave-${taskQueue}`,
      args: [
        {
          rolloutId: 'abort-last-wave',
          desired: { image: 'app:2.0' },
          pairs: targets,
          budget: { maxPairs: 1 },
          windows: [{ cron: '* * * * *', durationMinutes: 1 }],
          continueAsNewAfterWaves: 1,
        },
      ],
    });
    await firstSwap;
    await handle.signal(abortRolloutSignal, { reason: 'stop after this one' });
    releaseSwap();
    const state = await handle.result();
    expect(state.runs).toBeGreaterThanOrEqual(2);
    expect(state.phase).toBe('aborted');
    expect(state.haltReason).toBe('stop after this one');
    expect(state.pairs.map((p) => p.step)).toEqual(['done', 'skipped', 'skipped']);
    expect(swaps).toBe(1);
  });
}, 60_000);
