import { describe, expect, it } from 'vitest';
import {
  chooseReplacementShadowRegion,
  placeShadows,
  proveRegionalResilience,
  validateTopology,
  type Capacity,
  type PrimarySpec,
  type RegionSpec,
  type ShadowAssignment,
  type Topology,
} from '../src/policy/index.js';

const SMALL: Capacity = { cpuCores: 16, memoryGiB: 64, storageIops: 4000, networkMbps: 5000 };
const LARGE: Capacity = { cpuCores: 32, memoryGiB: 128, storageIops: 8000, networkMbps: 10000 };
const times = (c: Capacity, k: number): Capacity => ({
  cpuCores: c.cpuCores * k,
  memoryGiB: c.memoryGiB * k,
  storageIops: c.storageIops * k,
  networkMbps: c.networkMbps * k,
});

const REGION_NAMES = ['eu-west', 'us-east', 'ap-south'] as const;

const region = (name: string, shadowCapacity: Capacity = times(LARGE, 4)): RegionSpec => ({
  name,
  zones: [`${name}-a`, `${name}-b`],
  shadowCapacity,
  maxHostCapacity: LARGE,
});

/** 12 primaries, 4 per region, alternating small and large, in two diversity groups. */
const primaries = (): PrimarySpec[] =>
  Array.from({ length: 12 }, (_, i) => {
    const regionName = REGION_NAMES[i % 3] ?? 'eu-west';
    return {
      hostId: `h-${String(i + 1).padStart(2, '0')}`,
      region: regionName,
      zone: `${regionName}-${i % 2 === 0 ? 'a' : 'b'}`,
      capacity: i % 2 === 0 ? LARGE : SMALL,
      diversityGroup: i < 6 ? 'db' : 'web',
    };
  });

const topology = (overrides: Partial<Topology> = {}): Topology => ({
  regions: REGION_NAMES.map((name) => region(name)),
  primaries: primaries(),
  ...overrides,
});

const placed = (t: Topology, fraction = 0.15): ShadowAssignment[] => {
  const result = placeShadows(t, { shadowFraction: fraction });
  if (!result.ok) throw new Error(result.problems.map((p) => p.message).join('\n'));
  return result.assignments;
};

describe('placeShadows', () => {
  it('places a resilient shadow for each of 12 primaries in 3 regions, never in the primary region', () => {
    const t = topology();
    const assignments = placed(t);
    expect(assignments).toHaveLength(12);
    const primaryRegion = new Map(t.primaries.map((p) => [p.hostId, p.region]));
    for (const a of assignments) {
      expect(a.region).not.toBe(primaryRegion.get(a.primaryHostId));
      expect(a.zone.startsWith(a.region)).toBe(true);
      expect(a.allocationFraction).toBe(0.15);
    }
    const report = proveRegionalResilience(t, assignments, 0.15);
    expect(report.resilient).toBe(true);
    expect(report.problems).toEqual([]);
    expect(report.outages.map((o) => o.failedRegion).sort()).toEqual([...REGION_NAMES].sort());
    for (const outage of report.outages) {
      expect(outage.affectedPrimaries).toHaveLength(4);
      expect(outage.uncovered).toEqual([]);
      expect(outage.demands).toHaveLength(2);
      expect(outage.demands.every((d) => d.fits)).toBe(true);
    }
  });

  it('spreads the shadows of one diversity group across regions and zones', () => {
    const assignments = placed(topology());
    const groupOf = new Map(primaries().map((p) => [p.hostId, p.diversityGroup]));
    for (const group of ['db', 'web']) {
      const counts = new Map<string, number>();
      for (const a of assignments.filter((x) => groupOf.get(x.primaryHostId) === group))
        counts.set(a.region, (counts.get(a.region) ?? 0) + 1);
      // 6 shadows per group over 3 regions: 2 each.
      expect([...counts.values()].sort()).toEqual([2, 2, 2]);
    }
    // Within a region the zones take turns.
    for (const name of REGION_NAMES) {
      const zones = assignments.filter((a) => a.region === name).map((a) => a.zone);
      const a = zones.filter((z) => z.endsWith('-a')).length;
      expect(Math.abs(a - (zones.length - a))).toBeLessThanOrEqual(1);
    }
  });

  it('is deterministic: the same topology in any order gives the same assignments', () => {
    const t = topology();
    const first = placed(t);
    const shuffled: Topology = { regions: [...t.regions].reverse(), primaries: [...t.primaries].reverse() };
    expect(placed(shuffled)).toEqual(first);
    expect(placed(t)).toEqual(first);
  });

  it('reports a deliberately tight region as not resilient, naming it', () => {
    // eu-west and us-east only have small hosts, so the shadows of their large primaries can only go to ap-south,
    // whose shadow capacity is too small to grow two of them after an outage.
    const smallHosts = (name: string): RegionSpec => ({ ...region(name), maxHostCapacity: SMALL });
    const t: Topology = {
      regions: [smallHosts('eu-west'), smallHosts('us-east'), region('ap-south', times(LARGE, 2))],
      primaries: primaries().map((p) => (p.region === 'ap-south' ? { ...p, capacity: SMALL } : p)),
    };
    expect(validateTopology(t)).toEqual([]);
    const result = placeShadows(t, { shadowFraction: 0.15 });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const tight = result.problems.filter((p) => p.kind === 'insufficient-shadow-capacity');
    expect(tight.length).toBeGreaterThan(0);
    expect(tight.every((p) => p.region === 'ap-south')).toBe(true);
    expect(tight[0]?.message).toMatch(/If region (eu-west|us-east) fails, region ap-south cannot grow its shadows/);
    expect(tight[0]?.message).toMatch(/cpu \d+(\.\d)? cores needed, 64 cores available/);

    // The same fleet with room in ap-south is resilient.
    const roomy = {
      ...t,
      regions: [smallHosts('eu-west'), smallHosts('us-east'), region('ap-south', times(LARGE, 4))],
    };
    expect(placeShadows(roomy, { shadowFraction: 0.15 }).ok).toBe(true);
  });

  it('proves a hand-made placement not resilient when shadows of one region crowd another', () => {
    const t = topology();
    // Every eu-west primary's shadow in us-east: its growth after an eu-west outage exceeds us-east's room.
    const assignments = placed(t).map((a) =>
      t.primaries.find((p) => p.hostId === a.primaryHostId)?.region === 'eu-west'
        ? { ...a, region: 'us-east', zone: 'us-east-a' }
        : a,
    );
    const tightTopology = topology({
      regions: [region('eu-west'), region('us-east', times(LARGE, 3)), region('ap-south')],
    });
    const report = proveRegionalResilience(tightTopology, assignments, 0.15);
    expect(report.resilient).toBe(false);
    const euOutage = report.outages.find((o) => o.failedRegion === 'eu-west');
    const usDemand = euOutage?.demands.find((d) => d.region === 'us-east');
    expect(usDemand?.fits).toBe(false);
    expect(usDemand?.required.cpuCores).toBeGreaterThan(usDemand?.available.cpuCores ?? Infinity);
    expect(report.problems.some((p) => p.region === 'us-east' && /region eu-west fails/.test(p.message))).toBe(true);
  });

  it('flags a shadow in its own primary region and a primary with no shadow as uncovered', () => {
    const t = topology();
    const assignments = placed(t).filter((a) => a.primaryHostId !== 'h-02');
    const first = assignments[0];
    if (first === undefined) throw new Error('no assignment');
    const sameRegion = { ...first, region: 'eu-west', zone: 'eu-west-a' }; // h-01 lives in eu-west
    const report = proveRegionalResilience(t, [sameRegion, ...assignments.slice(1)], 0.15);
    expect(report.resilient).toBe(false);
    expect(report.outages.find((o) => o.failedRegion === 'eu-west')?.uncovered).toContain('h-01');
    expect(report.outages.find((o) => o.failedRegion === 'us-east')?.uncovered).toContain('h-02');
    expect(report.problems.map((p) => p.message).join('\n')).toMatch(/primary h-02 has no shadow/);
  });

  it('keeps given assignments and avoids excluded regions', () => {
    const t = topology();
    const keep: ShadowAssignment[] = [
      { primaryHostId: 'h-01', region: 'ap-south', zone: 'ap-south-b', allocationFraction: 0.15 },
    ];
    const result = placeShadows(t, { shadowFraction: 0.15, keep });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.assignments.find((a) => a.primaryHostId === 'h-01')).toEqual(keep[0]);

    // With ap-south excluded, only eu-west and us-east take shadows: the ap-south primaries have no second choice.
    const excluded = placeShadows(topology({ regions: [...t.regions, region('sa-east')] }), {
      shadowFraction: 0.15,
      excludeRegions: ['ap-south'],
    });
    expect(excluded.ok).toBe(true);
    if (!excluded.ok) return;
    expect(excluded.assignments.some((a) => a.region === 'ap-south')).toBe(false);
  });

  it('rejects an out-of-range shadow fraction', () => {
    const result = placeShadows(topology(), { shadowFraction: 1.5 });
    expect(result).toMatchObject({ ok: false, problems: [{ kind: 'invalid-options' }] });
  });
});

describe('validateTopology', () => {
  it('accepts a sound topology', () => {
    expect(validateTopology(topology())).toEqual([]);
  });

  it('names duplicate hosts and regions', () => {
    const t = topology();
    const problems = validateTopology({
      regions: [...t.regions, region('us-east')],
      primaries: [...t.primaries, { ...t.primaries[0]!, zone: 'eu-west-b' }],
    });
    expect(problems).toContainEqual(expect.objectContaining({ kind: 'duplicate-region', region: 'us-east' }));
    expect(problems).toContainEqual(expect.objectContaining({ kind: 'duplicate-host', hostId: 'h-01' }));
    expect(problems.map((p) => p.message).join('\n')).toMatch(/Primary h-01 is listed more than once/);
  });

  it('names a primary larger than any host another region can provide', () => {
    const huge = { ...LARGE, memoryGiB: 512 };
    const t = topology({
      primaries: [...primaries(), { hostId: 'h-big', region: 'eu-west', zone: 'eu-west-a', capacity: huge }],
    });
    const problems = validateTopology(t);
    expect(problems).toEqual([expect.objectContaining({ kind: 'primary-too-large', hostId: 'h-big' })]);
    expect(problems[0]?.message).toMatch(/h-big \(memory 512 GiB\) is larger than any host/);
    expect(placeShadows(t, { shadowFraction: 0.15 })).toMatchObject({ ok: false });
  });

  it('needs a second region', () => {
    const problems = validateTopology({
      regions: [region('eu-west')],
      primaries: primaries().filter((p) => p.region === 'eu-west'),
    });
    expect(problems).toEqual([expect.objectContaining({ kind: 'no-other-region' })]);
    expect(problems[0]?.message).toMatch(/only region eu-west/);
  });

  it('names unknown regions and zones and invalid capacities', () => {
    const problems = validateTopology(
      topology({
        regions: [
          ...REGION_NAMES.map((n) => region(n)),
          { ...region('sa-east'), shadowCapacity: { ...LARGE, cpuCores: 0 } },
        ],
        primaries: [
          { hostId: 'x-1', region: 'mars', zone: 'm-a', capacity: SMALL },
          { hostId: 'x-2', region: 'eu-west', zone: 'eu-west-z', capacity: SMALL },
          { hostId: 'x-3', region: 'eu-west', zone: 'eu-west-a', capacity: { ...SMALL, storageIops: Number.NaN } },
        ],
      }),
    );
    expect(problems).toContainEqual(expect.objectContaining({ kind: 'unknown-region', hostId: 'x-1', region: 'mars' }));
    expect(problems).toContainEqual(expect.objectContaining({ kind: 'unknown-zone', hostId: 'x-2' }));
    expect(problems).toContainEqual(expect.objectContaining({ kind: 'invalid-capacity', hostId: 'x-3' }));
    expect(problems).toContainEqual(expect.objectContaining({ kind: 'invalid-capacity', region: 'sa-east' }));
    expect(problems.find((p) => p.hostId === 'x-3')?.message).toMatch(/storageIops is NaN/);
  });
});

describe('chooseReplacementShadowRegion', () => {
  it('puts the replacement outside the new primary region and keeps the fleet resilient', () => {
    const t = topology();
    const assignments = placed(t);
    // h-01's shadow was promoted: the new primary lives where the shadow was; its old assignment is consumed.
    const consumed = assignments.find((a) => a.primaryHostId === 'h-01');
    if (consumed === undefined) throw new Error('h-01 has no shadow');
    const promoted: PrimarySpec = { hostId: 'h-01', region: consumed.region, zone: consumed.zone, capacity: LARGE };
    const after: Topology = { ...t, primaries: t.primaries.map((p) => (p.hostId === 'h-01' ? promoted : p)) };
    const others = assignments.filter((a) => a.primaryHostId !== 'h-01');
    const result = chooseReplacementShadowRegion(after, assignments, 'h-01', { shadowFraction: 0.15 });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.assignment.region).not.toBe(consumed.region);
    expect(proveRegionalResilience(after, [...others, result.assignment], 0.15).resilient).toBe(true);
    // Deterministic.
    expect(chooseReplacementShadowRegion(after, assignments, 'h-01', { shadowFraction: 0.15 })).toEqual(result);
  });

  it('honours excluded regions and names an unknown primary', () => {
    const t = topology();
    const assignments = placed(t);
    const onlyChoice = chooseReplacementShadowRegion(t, assignments, 'h-01', {
      shadowFraction: 0.15,
      excludeRegions: ['us-east'],
    });
    expect(onlyChoice).toMatchObject({ ok: true, assignment: { region: 'ap-south' } });
    const none = chooseReplacementShadowRegion(t, assignments, 'h-01', {
      shadowFraction: 0.15,
      excludeRegions: ['us-east', 'ap-south'],
    });
    expect(none).toMatchObject({ ok: false, problems: [{ kind: 'insufficient-shadow-capacity', hostId: 'h-01' }] });
    expect(chooseReplacementShadowRegion(t, assignments, 'h-404', { shadowFraction: 0.15 })).toMatchObject({
      ok: false,
      problems: [{ kind: 'unknown-host', hostId: 'h-404' }],
    });
  });

  it('offers a best-effort region when no choice keeps the fleet resilient', () => {
    const t = topology({
      regions: [region('eu-west'), region('us-east', times(SMALL, 2)), region('ap-south', times(SMALL, 2))],
    });
    const result = chooseReplacementShadowRegion(t, [], 'h-01', { shadowFraction: 0.15 });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.bestEffort?.region).toMatch(/us-east|ap-south/);
    expect(result.problems.length).toBeGreaterThan(0);
  });
});

/** A small seeded generator (xorshift32), so the generated fleets are the same on every run. */
const seeded = (seed: number) => {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
};

const generatedTopology = (seed: number, regionCount: number, primaryCount: number, roominess: number): Topology => {
  const random = seeded(seed);
  const names = Array.from({ length: regionCount }, (_, i) => `r-${i}`);
  const list: PrimarySpec[] = Array.from({ length: primaryCount }, (_, i) => {
    const regionName = names[Math.floor(random() * regionCount)] ?? 'r-0';
    return {
      hostId: `g-${i}`,
      region: regionName,
      zone: `${regionName}-a`,
      capacity: times(SMALL, 0.5 + random() * 1.5),
      diversityGroup: `grp-${i % 4}`,
    };
  });
  const total = list.reduce((sum, p) => sum + p.capacity.cpuCores, 0);
  return {
    regions: names.map((name) => ({
      name,
      zones: [`${name}-a`, `${name}-b`, `${name}-c`],
      shadowCapacity: times(SMALL, (roominess * total) / SMALL.cpuCores / regionCount),
      maxHostCapacity: LARGE,
    })),
    primaries: list,
  };
};

describe('placeShadows on generated fleets', () => {
  it('either places provably resilient shadows outside each primary region, or explains why not', () => {
    let placedCount = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const t = generatedTopology(seed, 3 + (seed % 3), 20 + seed, 0.45 + (seed % 5) * 0.1);
      const result = placeShadows(t, { shadowFraction: 0.1 + (seed % 3) * 0.05 });
      if (result.ok) {
        placedCount++;
        const regionOf = new Map(t.primaries.map((p) => [p.hostId, p.region]));
        expect(result.assignments).toHaveLength(t.primaries.length);
        for (const a of result.assignments) expect(a.region).not.toBe(regionOf.get(a.primaryHostId));
        expect(proveRegionalResilience(t, result.assignments, 0.15).resilient).toBe(true);
      } else {
        expect(result.problems.length).toBeGreaterThan(0);
        for (const p of result.problems) expect(p.message.length).toBeGreaterThan(20);
      }
    }
    // The roomier fleets must place; the tightest may not. 22 of these 30 place today (21 without the overflow
    // repair after the greedy pass): a change to the heuristics must not place fewer.
    expect(placedCount).toBeGreaterThanOrEqual(22);
  });

  it('places 600 primaries in 6 regions quickly', () => {
    const t = generatedTopology(7, 6, 600, 0.6);
    const started = performance.now();
    const result = placeShadows(t, { shadowFraction: 0.15 });
    expect(performance.now() - started).toBeLessThan(1500);
    expect(result.ok).toBe(true);
  });
});
