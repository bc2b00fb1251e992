import { describe, expect, it } from 'vitest';
import { threeRegionTopology } from '../src/demo/topology.js';
import { placeShadows } from '../src/policy/placement.js';
import {
  drainSpareProblem,
  maxOverlapping,
  pairsBreakingSpare,
  planWaves,
  proveSpareDuringWave,
  regionAllowance,
  validateBudget,
  validateConfiguration,
  validateWindows,
  windowStatus,
  type RolloutPairRef,
} from '../src/policy/rollout.js';

const REGIONS = ['us-east', 'eu-west', 'ap-south'];
/** Four pairs per region, each shadow in the next region round. */
const PAIRS: RolloutPairRef[] = REGIONS.flatMap((region, r) =>
  [1, 2, 3, 4].map((i) => ({
    pairId: `${region}-${i}`,
    primaryRegion: region,
    shadowRegion: REGIONS[(r + i) % 3 === r ? (r + 1) % 3 : (r + i) % 3],
  })),
);

const HOST = { cpuCores: 16, memoryGiB: 64, storageIops: 20_000, networkMbps: 10_000 };

/** A fleet of `perRegion` primaries in three regions, shadows placed by the placement policy. */
function placedFleet(perRegion: number, shadowHostsPerRegion: number) {
  const topology = threeRegionTopology({
    perRegion,
    hostCapacity: HOST,
    shadowHostsPerRegion,
    hostId: (region, n) => `${region}-${n}`,
  });
  const placement = placeShadows(topology, { shadowFraction: 0.15 });
  if (!placement.ok) throw new Error(placement.problems.map((p) => p.message).join('; '));
  const pairs: RolloutPairRef[] = topology.primaries.map((p) => ({
    pairId: p.hostId,
    primaryRegion: p.region,
    shadowRegion: placement.assignments.find((a) => a.primaryHostId === p.hostId)!.region,
    capacity: p.capacity,
  }));
  return { pairs, spare: { regions: topology.regions, shadowFraction: 0.15 } };
}

describe('rollout policy', () => {
  it('with the spare capacity known, admits a wave only while every regional outage stays covered', () => {
    const { pairs, spare } = placedFleet(8, 7);
    for (const budget of [{ maxPairs: 6 }, { maxPercentOfRegion: 25 }, { maxPairs: 4, maxPercentOfRegion: 50 }]) {
      const waves = planWaves(pairs, budget, spare);
      expect(waves.flat().sort()).toEqual(pairs.map((p) => p.pairId).sort());
      const allowance = regionAllowance(budget, pairs);
      for (const wave of waves) {
        const refs = wave.map((id) => pairs.find((p) => p.pairId === id)!);
        expect(wave.length).toBeLessThanOrEqual(budget.maxPairs ?? Infinity);
        for (const [region, allowed] of Object.entries(allowance))
          expect(refs.filter((p) => p.primaryRegion === region).length, region).toBeLessThanOrEqual(allowed);
        expect(proveSpareDuringWave(pairs, refs, spare).resilient, wave.join()).toBe(true);
      }
    }
    // The percentage is what limits a region: 25% of 8 is two at once, more than the region-safe rule's one.
    const byPercent = planWaves(pairs, { maxPercentOfRegion: 25 }, spare);
    const perRegion = byPercent[0]!.map((id) => pairs.find((p) => p.pairId === id)!.primaryRegion);
    expect(Math.max(...['us-east', 'eu-west', 'ap-south'].map((r) => perRegion.filter((x) => x === r).length))).toBe(2);
  });

  it('keeps waves small when spare capacity is tight, and refuses pairs that cannot change without breaking it', () => {
    // Eight primaries per region; seven shadow hosts' worth per region leaves room for about one swap per region.
    const tight = placedFleet(8, 7);
    expect(pairsBreakingSpare(tight.pairs, tight.spare)).toEqual([]);
    const roomy = placedFleet(8, 9);
    const tightWaves = planWaves(tight.pairs, { maxPairs: 24 }, tight.spare);
    const roomyWaves = planWaves(roomy.pairs, { maxPairs: 24 }, roomy.spare);
    expect(tightWaves.length).toBeGreaterThan(roomyWaves.length);
    for (const wave of tightWaves) {
      const refs = wave.map((id) => tight.pairs.find((p) => p.pairId === id)!);
      expect(proveSpareDuringWave(tight.pairs, refs, tight.spare).resilient).toBe(true);
    }
    // Three hosts' worth: the fleet survives an outage at rest, but no shadow can grow for a swap on top of it.
    const tooTight = placedFleet(4, 3);
    expect(pairsBreakingSpare(tooTight.pairs, tooTight.spare).join('\n')).toMatch(
      /upgrading pair \S+ would leave too little spare capacity: If region \S+ fails/,
    );
    // A fleet without room for a regional outage in the first place: every rollout is refused, with the reason.
    const none = { ...tight.spare, regions: tight.spare.regions.map((r) => ({ ...r, shadowCapacity: HOST })) };
    expect(pairsBreakingSpare(tight.pairs, none).join()).toMatch(/no spare capacity for a regional outage even before/);
  });

  it("refuses a maintenance drain that would leave a region without outage room, not one the fleet's room takes", () => {
    const roomy = placedFleet(4, 5);
    for (const pair of roomy.pairs) expect(drainSpareProblem(roomy.pairs, pair.pairId, roomy.spare)).toBeUndefined();
    // Resilient at rest, but a shadow grown to full size for the whole maintenance leaves no room for an outage.
    const tooTight = placedFleet(4, 3);
    expect(proveSpareDuringWave(tooTight.pairs, [], tooTight.spare).resilient).toBe(true);
    const drained = tooTight.pairs[0]!;
    expect(drainSpareProblem(tooTight.pairs, drained.pairId, tooTight.spare)).toMatch(
      new RegExp(`^draining pair ${drained.pairId} would leave too little spare capacity: If region \\S+ fails`),
    );
    // A fleet already without room for an outage is no reason to refuse: the drain may be how it gets room back.
    const none = { ...tooTight.spare, regions: tooTight.spare.regions.map((r) => ({ ...r, shadowCapacity: HOST })) };
    expect(drainSpareProblem(tooTight.pairs, drained.pairId, none)).toBeUndefined();
    expect(drainSpareProblem(tooTight.pairs, 'no-such-pair', tooTight.spare)).toBeUndefined();
  });

  it('plans waves within the budget, one pair per primary and per shadow region, every pair once', () => {
    for (const maxPairs of [1, 2, 3, 12]) {
      const waves = planWaves(PAIRS, { maxPairs });
      expect(waves.flat().sort()).toEqual(PAIRS.map((p) => p.pairId).sort());
      for (const wave of waves) {
        const refs = wave.map((id) => PAIRS.find((p) => p.pairId === id)!);
        expect(wave.length).toBeLessThanOrEqual(Math.min(maxPairs, 3));
        expect(new Set(refs.map((p) => p.primaryRegion)).size).toBe(refs.length);
        expect(new Set(refs.map((p) => p.shadowRegion)).size).toBe(refs.length);
      }
    }
  });

  it('refuses bad configurations, budgets and windows with their reasons', () => {
    expect(validateConfiguration({ image: 'app:2', replicas: 3, tls: true })).toEqual([]);
    expect(validateConfiguration({})).toEqual(['desired configuration is empty']);
    expect(validateConfiguration({ '9x': 'a', y: Number.NaN, z: {} }).join('; ')).toMatch(
      /'9x' must start with a letter.*'y' is not a finite number.*'z' must be a string/,
    );
    expect(validateBudget({ maxPairs: 0 }, PAIRS)).toEqual(['budget maxPairs must be a whole number >= 1']);
    expect(validateBudget({ maxPairs: 13 }, PAIRS)).toEqual(['budget maxPairs 13 is above the 12 pairs to roll']);
    expect(validateBudget({ maxPercentOfRegion: 0 }, PAIRS)).toEqual(['budget maxPercentOfRegion must be in (0, 100]']);
    expect(validateBudget({}, PAIRS)).toEqual(['budget must set maxPairs or maxPercentOfRegion']);
    const now = Date.UTC(2026, 0, 1, 12);
    expect(validateWindows([{ cron: '0 0 30 2 *', durationMinutes: 60 }], now).join()).toMatch(/never fire/);
    expect(validateWindows([{ cron: '0 1 * * *', durationMinutes: 0 }], now).join()).toMatch(/> 0/);
    expect(validateWindows([{ cron: '0 1 * * *', durationMinutes: 60, timezone: 'Mars/Olympus' }], now).join()).toMatch(
      /unknown time zone/,
    );
    expect(validateWindows([], now)).toHaveLength(1);
  });

  it('counts the most spans overlapping at once, touching ends not overlapping', () => {
    expect(maxOverlapping([])).toBe(0);
    const spans = [
      { start: 0, end: 10 },
      { start: 5, end: 15 },
      { start: 10, end: 20 },
      { start: 12, end: 13 },
    ];
    expect(maxOverlapping(spans)).toBe(3);
    expect(maxOverlapping(spans.slice(0, 1).concat({ start: 10, end: 11 }))).toBe(1);
  });

  it('knows when a window is open and when the next one opens', () => {
    const night = [{ cron: '0 1 * * *', durationMinutes: 240 }];
    expect(windowStatus(night, Date.UTC(2026, 0, 1, 2, 30))).toEqual({ open: true });
    expect(windowStatus(night, Date.UTC(2026, 0, 1, 5, 0))).toEqual({ open: false, opensAt: Date.UTC(2026, 0, 2, 1) });
    expect(windowStatus(night, Date.UTC(2026, 0, 1, 0, 59))).toEqual({ open: false, opensAt: Date.UTC(2026, 0, 1, 1) });
    expect(windowStatus([{ cron: '* * * * *', durationMinutes: 1 }], Date.UTC(2026, 0, 1, 0, 59, 30))).toEqual({
      open: true,
    });
  });
});
