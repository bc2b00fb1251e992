/**
 * The simulator's history over HTTP: finished operations with their simulated start and end, and workload
 * interruptions — a host failing under its workloads, a serving host being reconfigured — but not a live migration.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryEvent } from '../src/simulator/history.js';
import {
  SIZE,
  expectProviderError,
  finish,
  startTestSimulator,
  uniqueKey,
  type TestSimulator,
} from './helpers/simulator.js';

const REQUIREMENTS = { cpuCores: 2, memoryGiB: 4, storageIops: 100, networkMbps: 100 };

describe('fleet simulator: history', () => {
  let sim: TestSimulator;
  beforeAll(async () => {
    sim = await startTestSimulator({ speed: 1, startAt: '2026-03-02T00:00:00Z' });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  const provision = async (hostId: string, role: 'primary' | 'shadow', pairId: string) =>
    finish(
      sim,
      await sim.provider.provisionHost({
        idempotencyKey: uniqueKey(hostId),
        hostId,
        region: role === 'primary' ? 'eu-west' : 'us-east',
        zone: role === 'primary' ? 'eu-west-a' : 'us-east-a',
        capacity: SIZE,
        role,
        pairId,
        ...(role === 'shadow' ? { allocationFraction: 1 } : {}),
      }),
    );
  /** A primary holding workload `<prefix>-w` and its shadow, sized to take the workload. */
  const pairWithWorkload = async (prefix: string) => {
    await provision(`${prefix}-p`, 'primary', `pair-${prefix}`);
    await provision(`${prefix}-s`, 'shadow', `pair-${prefix}`);
    await sim.control.createWorkload({
      workloadId: `${prefix}-w`,
      hostId: `${prefix}-p`,
      requirements: REQUIREMENTS,
      demand: { kind: 'synthetic', base: 0.5 },
    });
  };
  const interruptions = (events: HistoryEvent[]) => events.filter((e) => e.kind === 'workload-interrupted');

  it('records operations, and interruptions from a reconfigured or failed host but not from a live migration', async () => {
    await pairWithWorkload('h');
    const { lastSeq: start } = await sim.control.historyPage();

    // Reconfiguring the empty shadow interrupts nothing; reconfiguring the primary under its workload does.
    await finish(
      sim,
      await sim.provider.syncConfiguration({ idempotencyKey: uniqueKey('c'), hostId: 'h-s', desired: { v: 2 } }),
    );
    const onPrimary = await finish(
      sim,
      await sim.provider.syncConfiguration({ idempotencyKey: uniqueKey('c'), hostId: 'h-p', desired: { v: 2 } }),
    );
    await finish(sim, await sim.provider.activateShadow({ idempotencyKey: uniqueKey('a'), hostId: 'h-s' }));
    await finish(
      sim,
      await sim.provider.migrateWorkload({
        idempotencyKey: uniqueKey('m'),
        workloadId: 'h-w',
        sourceHostId: 'h-p',
        targetHostId: 'h-s',
      }),
    );
    // The workload's new host fails for 40 simulated seconds.
    await sim.control.failHost('h-s');
    await sim.control.advance(40);
    await sim.control.recoverHost('h-s');

    const events = await sim.control.history(start);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => start + i + 1));
    const operations = events.filter((e) => e.kind === 'operation');
    expect(operations.map((e) => [e.operation, e.hostId, e.status, e.pairId])).toEqual([
      ['syncConfiguration', 'h-s', 'succeeded', 'pair-h'],
      ['syncConfiguration', 'h-p', 'succeeded', 'pair-h'],
      ['activateShadow', 'h-s', 'succeeded', 'pair-h'],
      ['migrateWorkload', 'h-s', 'succeeded', 'pair-h'],
    ]);
    expect(operations[3]).toMatchObject({ workloadId: 'h-w', sourceHostId: 'h-p' });
    const sync = operations[1]!;
    expect(sync.atMs - sync.startedAtMs).toBe(1_000);
    expect(sync.startedAtMs).toBe(Date.parse(onPrimary.startedAt));

    // The clock also runs in real time (speed 1), so a wait lasts a little longer than the jump.
    const [configuration, down] = interruptions(events);
    expect(interruptions(events)).toHaveLength(2);
    expect(configuration).toMatchObject({ cause: 'configuration', hostId: 'h-p', workloadId: 'h-w' });
    expect(configuration!.atMs - configuration!.startedAtMs).toBe(1_000);
    expect(down).toMatchObject({ cause: 'host-down', hostId: 'h-s', workloadId: 'h-w' });
    expect(down!.atMs - down!.startedAtMs).toBeGreaterThanOrEqual(40_000);
    expect(down!.atMs - down!.startedAtMs).toBeLessThan(42_000);
    // Read on from the last event: nothing new.
    const next = await sim.control.historyPage(events.at(-1)!.seq);
    expect(next.events).toEqual([]);
  });

  it('closes a host-down interruption when the workload is restored on another host', async () => {
    await pairWithWorkload('r');
    await finish(sim, await sim.provider.activateShadow({ idempotencyKey: uniqueKey('a'), hostId: 'r-s' }));
    const { lastSeq: start } = await sim.control.historyPage();
    await sim.control.failHost('r-p');
    await sim.control.advance(10);
    await finish(
      sim,
      await sim.provider.migrateWorkload({
        idempotencyKey: uniqueKey('m'),
        workloadId: 'r-w',
        sourceHostId: 'r-p',
        targetHostId: 'r-s',
      }),
    );
    const [interruption] = interruptions(await sim.control.history(start));
    // Down from the failure until the restore finished: 10 s waited + the migration's own duration (1 s + 2 s/GiB).
    expect(interruption).toMatchObject({ cause: 'host-down', workloadId: 'r-w', hostId: 'r-p' });
    expect(interruption!.atMs - interruption!.startedAtMs).toBeGreaterThanOrEqual(10_000 + 1_000 + 4 * 2_000);
    expect(interruption!.atMs - interruption!.startedAtMs).toBeLessThan(21_000);
  });

  it('a configuration the host cannot run brings it down (workloads interrupted); rolling it back brings it up', async () => {
    await pairWithWorkload('f');
    await sim.control.setFaultyConfiguration('f-p', { image: 'bad' });
    const { lastSeq: start } = await sim.control.historyPage();
    const sync = (desired: Record<string, string>) =>
      sim.provider.syncConfiguration({ idempotencyKey: uniqueKey('c'), hostId: 'f-p', desired });
    await finish(sim, await sync({ image: 'good', extra: 'x' }));
    expect((await sim.provider.healthCheck('f-p')).healthy).toBe(true);
    await finish(sim, await sync({ image: 'bad' }));
    expect(await sim.provider.healthCheck('f-p')).toMatchObject({ healthy: false, status: 'failed' });
    await sim.control.advance(5);
    // A failed host takes no configuration, except to roll back the one it could not run.
    await finish(sim, await sync({ image: 'good' }));
    expect(await sim.provider.healthCheck('f-p')).toMatchObject({ healthy: true, status: 'active' });
    expect((await sim.provider.getHost('f-p')).appliedConfiguration?.values).toEqual({ image: 'good' });
    const down = interruptions(await sim.control.history(start)).filter((e) => e.cause === 'host-down');
    expect(down).toHaveLength(1);
    expect(down[0]!.atMs - down[0]!.startedAtMs).toBeGreaterThanOrEqual(5_000 + 1_000);
    await sim.control.setFaultyConfiguration('f-p');
    await finish(sim, await sync({ image: 'bad' }));
    expect((await sim.provider.healthCheck('f-p')).healthy, 'fault cleared').toBe(true);
    await sim.control.failHost('f-p');
    await expectProviderError(sync({ image: 'good' }), 'conflict', 409);
  });

  it('refuses a malformed afterSeq', async () => {
    await expectProviderError(sim.control.historyPage(-1), 'bad_request', 400);
  });
});
