import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forceSwapSignal, pairWorkflowId } from '../src/shared/pair.js';
import { createPairFixture, isObserved, type PairFixture } from './helpers/pair.js';

// A worker killed with SIGKILL in the middle of a live migration: a new worker resumes the very operation the
// dead one started (from the activity's last heartbeat) and the swap completes with each workload moved once.
const BIG_WORKLOAD = { cpuCores: 2, memoryGiB: 16, storageIops: 500, networkMbps: 200 };

describe('hostPairWorkflow: a worker crash mid-migration', () => {
  let f: PairFixture;
  beforeAll(async () => {
    f = await createPairFixture('crash', {
      workloads: [1, 2].map((seed) => ({ requirements: BIG_WORKLOAD, demand: { kind: 'synthetic', base: 0.4, seed } })),
    });
    // About five real seconds per 16 GiB migration at 60x: time enough to kill the worker mid-copy.
    await f.sim.control.setDelays({ migrateSecondsPerGiB: 20 });
  }, 120_000);
  afterAll(async () => {
    await f?.close();
  });

  it('completes the swap after the worker dies mid-migration, each migration running once', async () => {
    const doomed = await f.startWorkerProcess();
    await f.startPair();
    await f.waitForState(isObserved, 'observed');
    await f.client.workflow.getHandle(pairWorkflowId(f.pairId)).signal(forceSwapSignal, { reason: 'crash drill' });

    const deadline = Date.now() + 30_000;
    let inFlight: string | undefined;
    while (!inFlight && Date.now() < deadline) {
      inFlight = (await f.sim.provider.describeFleet()).workloads.find((w) => w.migratingTo !== undefined)?.id;
      if (!inFlight) await new Promise((r) => setTimeout(r, 100));
    }
    expect(inFlight, 'a migration in flight').toBeDefined();
    doomed.kill('SIGKILL');
    await new Promise((resolve) => doomed.once('exit', resolve));

    await f.startWorker();
    const state = await f.waitForState(
      (s) => s.counters.swaps === 1 && s.phase === 'steady',
      'the swap completed by the new worker',
      90_000,
    );
    expect(state.primary.hostId).toBe(f.shadow.hostId);

    // The swap's history: one completed migration per workload; the interrupted one finished on a later attempt
    // by resuming the operation the first attempt had started.
    const history = await f.client.workflow.getHandle(state.lastAction!.workflowId!).fetchHistory();
    const migrations = (history.events ?? [])
      .filter((e) => e.activityTaskCompletedEventAttributes?.result?.payloads?.[0])
      .map((e) =>
        defaultPayloadConverter.fromPayload<{ workloadId?: string; operationId?: string; attempt?: number }>(
          e.activityTaskCompletedEventAttributes!.result!.payloads![0]!,
        ),
      )
      .filter((r) => r?.workloadId !== undefined);
    expect(migrations.map((m) => m.workloadId).sort()).toEqual([...f.workloadIds].sort());
    const resumed = migrations.find((m) => m.workloadId === inFlight)!;
    expect(resumed.attempt).toBeGreaterThanOrEqual(2);

    const fleet = await f.sim.provider.describeFleet();
    for (const id of f.workloadIds)
      expect(fleet.workloads.find((w) => w.id === id)).toMatchObject({ hostId: f.shadow.hostId });
    expect(fleet.workloads.every((w) => w.migratingTo === undefined)).toBe(true);
    expect((await f.sim.provider.invariants()).violations).toEqual([]);
  });
});
