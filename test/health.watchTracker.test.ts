import { describe, expect, it } from 'vitest';
import { WatchTracker } from '../src/health/watchTracker.js';
import {
  CONFIRMATION_DELAY_MS,
  HEALTH_SHARDS,
  REPORT_AGAIN_AFTER_MS,
  shardOf,
  type WatchedPrimary,
} from '../src/shared/healthWatch.js';

const member = (pairId: string, overrides: Partial<WatchedPrimary> = {}): WatchedPrimary => ({
  pairId,
  primaryHostId: `${pairId}-a`,
  generation: 0,
  intervalSeconds: 5,
  failuresBeforeFailover: 3,
  ...overrides,
});
const healthy = (checkedAt: number) => ({ healthy: true, status: 'active', checkedAt });
const failed = (checkedAt: number) => ({ healthy: false, status: 'failed', checkedAt });

describe('WatchTracker', () => {
  it('checks a new member at once, then on the interval grid with every other member', () => {
    const tracker = new WatchTracker();
    tracker.setMembers([member('p1')], 1_200);
    expect(tracker.due(1_200).map((m) => m.pairId)).toEqual(['p1']);
    tracker.record('p1', healthy(1), 1_200);
    tracker.setMembers([member('p1'), member('p2')], 3_700);
    tracker.record('p2', healthy(2), 3_700);
    // Both fall on the 5 s grid: one provider call checks them together from then on.
    expect(tracker.nextDueAt()).toBe(5_000);
    expect(tracker.due(5_000).map((m) => m.pairId)).toEqual(['p1', 'p2']);
    expect(tracker.due(4_999)).toEqual([]);
  });

  it('shifts its grid by its offset, so the second lane checks half an interval later', () => {
    const tracker = new WatchTracker(0.5);
    tracker.setMembers([member('p1')], 0);
    tracker.record('p1', healthy(0), 0);
    expect(tracker.nextDueAt()).toBe(2_500);
    tracker.record('p1', healthy(0), 2_500);
    expect(tracker.nextDueAt()).toBe(7_500);
  });

  it('confirms a failed check quickly and reports once the policy count is reached, once', () => {
    const tracker = new WatchTracker();
    tracker.setMembers([member('p1')], 0);
    expect(tracker.record('p1', failed(100), 0)).toBeUndefined();
    expect(tracker.nextDueAt()).toBe(CONFIRMATION_DELAY_MS);
    expect(tracker.record('p1', failed(200), 500)).toBeUndefined();
    const report = tracker.record('p1', failed(300), 1_000);
    expect(report).toMatchObject({ member: { pairId: 'p1' }, failedChecksAt: [100, 200, 300], status: 'failed' });
    // Still failing: checked on the grid again, but not reported twice.
    expect(tracker.nextDueAt()).toBe(5_000);
    expect(tracker.record('p1', failed(400), 5_000)).toBeUndefined();
  });

  it('does not count an unanswered check either way', () => {
    const tracker = new WatchTracker();
    tracker.setMembers([member('p1', { failuresBeforeFailover: 2 })], 0);
    tracker.record('p1', failed(1), 0);
    tracker.record('p1', undefined, 500);
    expect(tracker.failing()).toEqual({ p1: { primaryHostId: 'p1-a', failedChecksAt: [1] } });
    expect(tracker.record('p1', failed(2), 5_000)).toMatchObject({ failedChecksAt: [1, 2] });
  });

  it('starts over after a healthy answer or a changed member', () => {
    const tracker = new WatchTracker();
    tracker.setMembers([member('p1', { failuresBeforeFailover: 2 })], 0);
    tracker.record('p1', failed(1), 0);
    tracker.record('p1', healthy(2), 500);
    expect(tracker.record('p1', failed(3), 5_000)).toBeUndefined();
    expect(tracker.record('p1', failed(4), 5_500)).toBeDefined();
    tracker.record('p1', healthy(5), 10_000);
    expect(tracker.record('p1', failed(6), 15_000)).toBeUndefined();
    // The pair swapped roles: a new primary (or a new generation) is a new watch, due at once.
    tracker.setMembers([member('p1', { primaryHostId: 'p1-b', generation: 1, failuresBeforeFailover: 2 })], 10_100);
    expect(tracker.due(10_100).map((m) => m.primaryHostId)).toEqual(['p1-b']);
    expect(tracker.failing()).toEqual({});
  });

  it('reports again at the next failed check when a report did not arrive, keeping its evidence', () => {
    const tracker = new WatchTracker();
    tracker.setMembers([member('p1', { failuresBeforeFailover: 2 })], 0);
    tracker.record('p1', failed(1), 0);
    expect(tracker.record('p1', failed(2), 500)).toMatchObject({ failedChecksAt: [1, 2] });
    expect(tracker.failing()).toEqual({});
    tracker.undelivered('p1');
    expect(tracker.failing()).toEqual({ p1: { primaryHostId: 'p1-a', failedChecksAt: [1, 2] } });
    expect(tracker.record('p1', failed(3), 5_000)).toMatchObject({ failedChecksAt: [2, 3] });
  });

  it('reports a primary that keeps failing again after REPORT_AGAIN_AFTER_MS, not before', () => {
    const tracker = new WatchTracker();
    tracker.setMembers([member('p1', { failuresBeforeFailover: 2 })], 0);
    tracker.record('p1', failed(1), 0);
    expect(tracker.record('p1', failed(2), 500)).toBeDefined();
    for (let at = 5_000; at < 500 + REPORT_AGAIN_AFTER_MS; at += 5_000)
      expect(tracker.record('p1', failed(at), at)).toBeUndefined();
    expect(tracker.record('p1', failed(99), 500 + REPORT_AGAIN_AFTER_MS)).toMatchObject({
      failedChecksAt: [30_000, 99],
    });
  });

  it('takes up carried failures only for the same primary, and drops members that left', () => {
    const carried = {
      p1: { primaryHostId: 'p1-a', failedChecksAt: [1, 2] },
      p2: { primaryHostId: 'old', failedChecksAt: [1] },
    };
    const tracker = new WatchTracker(0, carried);
    tracker.setMembers([member('p1'), member('p2')], 0);
    expect(tracker.record('p1', failed(3), 0)).toMatchObject({ failedChecksAt: [1, 2, 3] });
    expect(tracker.record('p2', failed(3), 0)).toBeUndefined();
    tracker.setMembers([member('p2')], 100);
    expect(tracker.size).toBe(1);
    expect(tracker.record('p1', failed(4), 200)).toBeUndefined();
  });
});

describe('shardOf', () => {
  it('is stable and spreads pairs over every shard', () => {
    expect(shardOf('pair-1')).toBe(shardOf('pair-1'));
    const counts = new Array<number>(HEALTH_SHARDS).fill(0);
    for (let i = 0; i < 16_000; i++) counts[shardOf(`host-${i}`)]! += 1;
    // About 1,000 each; none far off.
    for (const n of counts) expect(n).toBeGreaterThan(800);
    for (const n of counts) expect(n).toBeLessThan(1_200);
  });
});
