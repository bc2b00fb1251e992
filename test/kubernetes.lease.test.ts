import { describe, expect, it } from 'vitest';
import { judgeLease } from '../src/provider/kubernetes/lease.js';
import { describeHealth } from '../src/provider/types.js';

const lease = (renewTime: string) => ({ renewTime, durationSeconds: 40 });

describe('judgeLease: a node lease timed by the watcher’s own clock', () => {
  it('times a renew time from when it was first seen, and fails it after a whole duration unchanged', () => {
    const first = judgeLease(undefined, lease('2026-01-01T00:00:00Z'), 1_000_000);
    expect(first).toEqual({ observation: { renewTime: '2026-01-01T00:00:00Z', seenAtMs: 1_000_000 } });
    expect(judgeLease(first.observation, lease('2026-01-01T00:00:00Z'), 1_040_000).silentForSeconds).toBeUndefined();
    expect(judgeLease(first.observation, lease('2026-01-01T00:00:00Z'), 1_040_001)).toEqual({
      observation: first.observation,
      silentForSeconds: 40,
    });
  });

  it('restarts the timing at every renewal, whatever time the node wrote', () => {
    const seen = { renewTime: '2026-01-01T00:00:00Z', seenAtMs: 0 };
    // A node whose clock runs an hour behind renews: it is alive.
    const renewed = judgeLease(seen, lease('2025-12-31T23:00:10Z'), 90_000);
    expect(renewed).toEqual({ observation: { renewTime: '2025-12-31T23:00:10Z', seenAtMs: 90_000 } });
  });

  it('leaves a node without a lease to its Ready condition', () => {
    expect(judgeLease({ renewTime: 'x', seenAtMs: 0 }, undefined, 10_000_000)).toEqual({ observation: undefined });
  });

  it('is quoted in the status a failover reason gives, and a plain status stays plain', () => {
    expect(describeHealth({ status: 'failed', detail: 'node lease not renewed for 41 s' })).toBe(
      'failed (node lease not renewed for 41 s)',
    );
    expect(describeHealth({ status: 'failed' })).toBe('failed');
  });
});
