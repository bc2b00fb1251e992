/**
 * The watcher's activity loop with typed fakes for the provider and the Temporal client (the real stack runs it in
 * health.watchers.test.ts): one batched call per round, one report per failure with its update id, an undelivered
 * report sent again with its evidence, a bound on the reports on their way, a member whose host and pair are gone
 * dropped, checks that go on while a read of the members is slow, and an attempt scheduled without members.
 */
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import {
  createHealthWatchActivities,
  type WatchPrimariesInput,
  type WatchPrimariesResult,
} from '../activities/healthWatch.js';
import type { FleetProvider, HealthReports } from '../src/provider/types.js';
import type { PrimaryFailureReport, WatchedPrimary, WatchChange } from '../src/shared/healthWatch.js';
import { fakeWithAbortSignal } from './helpers/temporal.js';

const member = (pairId: string): WatchedPrimary => ({
  pairId,
  primaryHostId: `${pairId}-a`,
  generation: 2,
  intervalSeconds: 1,
  failuresBeforeFailover: 2,
});

/** A provider whose hosts answer as `status` says (absent: unknown), counting its batched calls. */
function fakeProvider(status: Record<string, 'active' | 'failed'>) {
  const calls: string[][] = [];
  const provider = {
    healthCheckMany: (hostIds: string[]): Promise<HealthReports> => {
      calls.push(hostIds);
      const checkedAt = new Date().toISOString();
      return Promise.resolve({
        checkedAt,
        reports: hostIds
          .filter((id) => status[id])
          .map((id) => ({
            hostId: id,
            healthy: status[id] === 'active',
            status: status[id]!,
            role: 'primary' as const,
            checkedAt,
          })),
        unknown: hostIds.filter((id) => !status[id]),
      });
    },
  } as unknown as FleetProvider;
  return { provider, calls };
}

/** A client whose watcher answers `members` and whose pairs take (or never get) updates; records what it was sent. */
function fakeTemporal(options: {
  members?: WatchedPrimary[];
  /** Every update call fails with this (the server did not deliver it). */
  undelivered?: string;
  /** Every update call takes this long to be accepted. */
  acceptAfterMs?: number;
  running?: Record<string, boolean>;
  /** The members' version in the watcher's memo (default 1, the version `input` schedules with). */
  membersVersion?: number;
  /** The members query answers after this long. */
  queryAfterMs?: number;
}) {
  const updates: { workflowId: string; updateId: string; report: PrimaryFailureReport }[] = [];
  const signals: WatchChange[] = [];
  const client = {
    workflow: {
      getHandle: (workflowId: string) => ({
        query: () =>
          new Promise((resolve) =>
            setTimeout(
              () => resolve({ version: options.membersVersion ?? 1, members: options.members ?? [] }),
              options.queryAfterMs ?? 0,
            ),
          ),
        signal: (_def: unknown, change: WatchChange) => {
          signals.push(change);
          return Promise.resolve();
        },
        startUpdate: (_def: unknown, o: { args: [PrimaryFailureReport]; updateId: string }) => {
          updates.push({ workflowId, updateId: o.updateId, report: o.args[0] });
          if (options.undelivered) return Promise.reject(new Error(options.undelivered));
          return new Promise((resolve) => setTimeout(() => resolve({}), options.acceptAfterMs ?? 0));
        },
        describe: () =>
          workflowId.startsWith('health-watch:')
            ? Promise.resolve({ memo: { membersVersion: options.membersVersion ?? 1 } })
            : options.running?.[workflowId] === undefined
              ? Promise.reject(new WorkflowNotFoundError('gone', workflowId, undefined))
              : Promise.resolve({ status: { name: options.running[workflowId] ? 'RUNNING' : 'COMPLETED' } }),
      }),
    },
    withAbortSignal: fakeWithAbortSignal,
  } as unknown as Client;
  return { client, updates, signals };
}

const input = (members?: WatchedPrimary[]): WatchPrimariesInput => ({
  taskQueue: 'q',
  shard: 0,
  lane: 'a',
  watcherWorkflowId: 'health-watch:q:0:a',
  ...(members ? { members, version: 1 } : {}),
  runForMs: 2_500,
});

/** One run of the watcher's activity (2.5 s) in a mocked activity context. */
function watch(
  provider: FleetProvider,
  temporal: Client,
  runInput: WatchPrimariesInput,
): Promise<WatchPrimariesResult> {
  const activities = createHealthWatchActivities({ provider, temporal });
  return new MockActivityEnvironment().run((i: WatchPrimariesInput) => activities.watchPrimaries(i), runInput);
}

describe('watchPrimaries', () => {
  it('checks every member in one call a round and reports a failed primary once, with its update id', async () => {
    const { provider, calls } = fakeProvider({ 'p1-a': 'active', 'p2-a': 'failed' });
    const { client, updates } = fakeTemporal({});
    const result = await watch(provider, client, input([member('p1'), member('p2')]));
    expect(calls[0]).toEqual(['p1-a', 'p2-a']);
    expect(updates).toHaveLength(1);
    expect(updates[0]).toMatchObject({
      workflowId: 'pair:p2',
      updateId: 'primary-failed:p2-a:2',
      report: { primaryHostId: 'p2-a', generation: 2, status: 'failed', watcher: 'health-watch:q:0:a' },
    });
    expect(updates[0]!.report.failedChecksAt).toHaveLength(2);
    expect(result.reported).toBe(1);
  });

  it('reports again at the next failed check when a report was not delivered, and carries it over', async () => {
    const { provider } = fakeProvider({ 'p1-a': 'failed' });
    const { client, updates } = fakeTemporal({
      undelivered: '8 RESOURCE_EXHAUSTED: namespace concurrent poller limit exceeded',
    });
    const result = await watch(provider, client, input([member('p1')]));
    // The evidence stands: the next check (one interval later, not a new round of confirmations) sends it again.
    expect(updates.length).toBeGreaterThanOrEqual(2);
    expect(updates[1]!.updateId).toBe(updates[0]!.updateId);
    expect(updates[1]!.report.failedChecksAt[0]).toBe(updates[0]!.report.failedChecksAt[1]);
    expect(result.reported).toBe(0);
    expect(result.carried.p1?.primaryHostId).toBe('p1-a');
  });

  it('has at most sixteen reports on their way at once', async () => {
    const failing = Array.from({ length: 40 }, (_, i) => member(`p${i}`));
    const { provider } = fakeProvider(Object.fromEntries(failing.map((m) => [m.primaryHostId, 'failed'])));
    const { client, updates } = fakeTemporal({ acceptAfterMs: 3_000 });
    const result = await watch(provider, client, input(failing));
    // The run ends (2.5 s) before the first sixteen are accepted: the rest go to the next run with their evidence.
    expect(updates).toHaveLength(16);
    expect(result.reported).toBe(16);
    expect(Object.keys(result.carried)).toHaveLength(24);
  });

  it('drops a member whose host the provider does not know once its pair has ended', async () => {
    const { provider } = fakeProvider({ 'p1-a': 'active' });
    const { client, signals } = fakeTemporal({ running: { 'pair:p2': false } });
    await watch(provider, client, input([member('p1'), member('p2')]));
    expect(signals).toEqual([{ pairId: 'p2' }]);
  });

  it('goes on checking and returns on time while a read of its members is slow', async () => {
    const { provider, calls } = fakeProvider({ 'p1-a': 'active' });
    // The members moved (version 2): the read at 2 s queries the watcher workflow, which answers after a minute.
    const { client } = fakeTemporal({ members: [member('p9')], membersVersion: 2, queryAfterMs: 60_000 });
    const started = Date.now();
    await watch(provider, client, { ...input([member('p1')]), runForMs: 4_500 });
    // A check a second (the member's interval) all through the run, and the run ends at its time, not the query's.
    expect(calls.length).toBeGreaterThanOrEqual(4);
    expect(calls.every((c) => c[0] === 'p1-a')).toBe(true);
    expect(Date.now() - started).toBeLessThan(60_000);
  });

  it('reads its members first when scheduled without them', async () => {
    const { provider, calls } = fakeProvider({ 'p3-a': 'active' });
    const { client } = fakeTemporal({ members: [member('p3')] });
    await watch(provider, client, input());
    expect(calls[0]).toEqual(['p3-a']);
  });
});
