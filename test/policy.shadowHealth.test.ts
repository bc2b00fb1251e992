import { describe, expect, it } from 'vitest';
import { assessShadowHealth, failedRegions } from '../src/policy/shadowHealth.js';
import { chooseReplacementShadowRegion } from '../src/policy/placement.js';
import { threeRegionTopology } from '../src/demo/topology.js';
import type { Host, HostRole, HostStatus } from '../src/provider/types.js';

const CAPACITY = { cpuCores: 16, memoryGiB: 64, storageIops: 20_000, networkMbps: 10_000 };

function host(id: string, region: string, role: HostRole, status: HostStatus, workloadIds: string[] = []): Host {
  return {
    id,
    region,
    zone: `${region}-a`,
    capacity: CAPACITY,
    allocationFraction: role === 'shadow' ? 0.15 : 1,
    role,
    status,
    workloadIds,
    dataVersion: 0,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
  };
}

describe('failedRegions', () => {
  it('is the regions whose live hosts are all failed', () => {
    const hosts = [
      host('a1', 'us-east', 'primary', 'failed'),
      host('a2', 'us-east', 'shadow', 'failed'),
      host('a3', 'us-east', 'primary', 'fenced'), // gone for good: says nothing about the region
      host('b1', 'eu-west', 'primary', 'failed'),
      host('b2', 'eu-west', 'shadow', 'inactive'), // one healthy host: the region answers
      host('c1', 'ap-south', 'primary', 'active'),
      host('d1', 'sa-east', 'shadow', 'decommissioned'),
      host('d2', 'sa-east', 'shadow', 'provisioning'),
      host('e1', 'af-south', 'shadow', 'failed'),
      host('e2', 'af-south', 'primary', 'active'),
      host('e3', 'af-south', 'shadow', 'failed'),
      host('f1', 'ca-central', 'shadow', 'failed'),
    ];
    expect(failedRegions(hosts)).toEqual(['ca-central', 'us-east']);
    expect(failedRegions([])).toEqual([]);
  });
});

describe('assessShadowHealth', () => {
  const pair = (pairId: string, primaryHostId: string, shadowHostId?: string) => ({
    pairId,
    primaryHostId,
    ...(shadowHostId ? { shadowHostId } : {}),
  });

  it('finds a failed standby whose primary serves, also when a swap exchanged the recorded roles', () => {
    const hosts = [
      host('p1', 'us-east', 'primary', 'active'),
      host('s1', 'eu-west', 'shadow', 'failed'),
      // Recorded as primary p2 / shadow s2, but swapped since: s2 serves, p2 is the failed standby.
      host('p2', 'eu-west', 'shadow', 'failed'),
      host('s2', 'ap-south', 'primary', 'active'),
      host('p3', 'ap-south', 'primary', 'active'),
      host('s3', 'us-east', 'shadow', 'inactive'),
    ];
    const report = assessShadowHealth(hosts, [pair('b', 'p2', 's2'), pair('a', 'p1', 's1'), pair('c', 'p3', 's3')]);
    expect(report.failedShadows).toEqual([
      { pairId: 'a', shadowHostId: 's1', primaryHostId: 'p1', swapped: false },
      { pairId: 'b', shadowHostId: 'p2', primaryHostId: 's2', swapped: true },
    ]);
    expect(report.unreplaceable).toEqual([]);
    expect(report.failedRegions).toEqual(['eu-west']);
  });

  it('leaves alone what the fleet must not replace on its own, saying why', () => {
    const hosts = [
      // The shadow carries moved workloads: the pair has to restore them.
      host('p1', 'us-east', 'primary', 'active'),
      host('s1', 'eu-west', 'shadow', 'failed', ['w-1']),
      // Both down: nothing to replicate a new shadow from.
      host('p2', 'us-east', 'primary', 'failed'),
      host('s2', 'ap-south', 'shadow', 'failed'),
      host('x', 'ap-south', 'primary', 'active'),
    ];
    const report = assessShadowHealth(hosts, [pair('a', 'p1', 's1'), pair('b', 'p2', 's2')]);
    expect(report.failedShadows).toEqual([]);
    expect(report.unreplaceable.map((u) => [u.pairId, u.shadowHostId])).toEqual([
      ['a', 's1'],
      ['b', 's2'],
    ]);
    expect(report.unreplaceable[0]?.reason).toMatch(/s1 failed while carrying workloads \(w-1\)/);
    expect(report.unreplaceable[1]?.reason).toMatch(/primary p2 is failed/);
  });

  it('skips pairs in between (two primaries mid-failover or mid-swap), without a shadow, or unknown to the provider', () => {
    const hosts = [
      host('p1', 'us-east', 'primary', 'failed'),
      host('s1', 'eu-west', 'primary', 'active'),
      host('p2', 'us-east', 'primary', 'active'),
      host('s3', 'eu-west', 'shadow', 'inactive'),
    ];
    const report = assessShadowHealth(hosts, [
      pair('a', 'p1', 's1'),
      pair('b', 'p2'),
      pair('c', 'p3', 's3'),
      pair('d', 'p2', 'gone'),
    ]);
    expect(report).toMatchObject({ failedShadows: [], unreplaceable: [] });
  });

  it('decommissions retired shadows once their region is no longer failed, and forgets those gone', () => {
    const hosts = [
      host('r1', 'us-east', 'shadow', 'failed'), // its region is failed: kept as the region's evidence
      host('p1', 'us-east', 'primary', 'fenced'),
      host('r2', 'eu-west', 'shadow', 'failed'), // failed alone in a healthy region
      host('p2', 'eu-west', 'primary', 'active'),
      host('r3', 'ap-south', 'shadow', 'inactive'), // its region recovered
      host('r4', 'ap-south', 'shadow', 'decommissioned'),
      host('r5', 'ap-south', 'shadow', 'active', ['w-5']),
    ];
    const report = assessShadowHealth(hosts, [], ['r3', 'r1', 'r2', 'r4', 'r404', 'r5', 'r3']);
    expect(report.decommissionable).toEqual(['r2', 'r3']);
    expect(report.keepRetiring).toEqual(['r1', 'r5']);
    expect(report.failedRegions).toEqual(['us-east']);
  });

  it('gives placement the failed regions to avoid: a replacement never lands in one, or is not placed', () => {
    const topology = threeRegionTopology({
      perRegion: 1,
      hostCapacity: CAPACITY,
      shadowHostsPerRegion: 2,
      hostId: (region, n) => `${region}-${n}`,
    });
    // The primary in us-east lost its shadow in ap-south; eu-west is down too.
    const down = failedRegions([
      host('eu-west-1', 'eu-west', 'primary', 'failed'),
      host('x-s', 'eu-west', 'shadow', 'failed'),
      host('us-east-1', 'us-east', 'primary', 'active'),
      host('ap-south-1', 'ap-south', 'primary', 'active'),
    ]);
    expect(down).toEqual(['eu-west']);
    const others = [
      { primaryHostId: 'eu-west-1', region: 'us-east', zone: 'us-east-a', allocationFraction: 0.15 },
      { primaryHostId: 'ap-south-1', region: 'eu-west', zone: 'eu-west-a', allocationFraction: 0.15 },
    ];
    const choice = chooseReplacementShadowRegion(topology, others, 'us-east-1', {
      shadowFraction: 0.15,
      excludeRegions: down,
    });
    const placed = choice.ok ? choice.assignment : choice.bestEffort;
    expect(placed?.region).toBe('ap-south');
    const nowhere = chooseReplacementShadowRegion(topology, others, 'us-east-1', {
      shadowFraction: 0.15,
      excludeRegions: [...down, 'ap-south'],
    });
    expect(nowhere).toMatchObject({ ok: false });
    expect(nowhere.ok ? nowhere.assignment : nowhere.bestEffort).toBeUndefined();
  });
});
