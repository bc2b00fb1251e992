// The pair's demand that follows its workloads: which steps come from the record, which are recorded, and how the
// record converts to the current primary's capacity (pure; the stores' round trip is in metrics.influx*.test.ts and
// the pair's use of it after a swap in pair.operator.test.ts).
import { describe, expect, it } from 'vitest';
import { followPairDemand, pairDemandLines } from '../src/metrics/pairDemand.js';
import type { PairDemandPoint, UtilisationWindow } from '../src/metrics/types.js';

const START = Date.UTC(2026, 11, 1, 0, 0, 0);
const STEP = 300_000;

const live = (values: (number | null)[]): UtilisationWindow => ({
  hostId: 'new-primary',
  resource: 'cpu',
  start: new Date(START).toISOString(),
  stepSeconds: 300,
  values,
  issues: [],
});
const point = (step: number, demand: number, resource: PairDemandPoint['resource'] = 'cpu'): PairDemandPoint => ({
  pairId: 'p1',
  resource,
  time: new Date(START + step * STEP),
  demand,
  primaryHostId: 'old-primary',
});
const follow = (
  values: (number | null)[],
  recorded: PairDemandPoint[],
  newestStep: number,
  { allocated = 16, rolesSinceStep }: { allocated?: number; rolesSinceStep?: number } = {},
) =>
  followPairDemand({
    pairId: 'p1',
    primaryHostId: 'new-primary',
    live: live(values),
    recorded,
    allocated,
    // A sample inside step `newestStep`: that step is still filling, every earlier one is complete.
    newestSampleAt: START + newestStep * STEP + 60_000,
    // A role change decided two minutes into its step.
    ...(rolesSinceStep !== undefined ? { rolesSince: START + rolesSinceStep * STEP + 120_000 } : {}),
  });
const steps = (points: PairDemandPoint[]) => points.map((p) => (p.time.getTime() - START) / STEP);

describe('followPairDemand', () => {
  it('records every complete step of a pair with no record yet, and leaves the live window as it is', () => {
    const out = follow([50, null, 40, 45], [], 3);
    expect(out.window.values).toEqual([50, null, 40, 45]);
    // The gap is not recorded, nor the step still filling; 50% of 16 cores is 8.
    expect(out.toRecord.map((p) => [steps([p])[0], p.demand])).toEqual([
      [0, 8],
      [2, 6.4],
    ]);
    expect(out.toRecord[0]).toMatchObject({ pairId: 'p1', resource: 'cpu', primaryHostId: 'new-primary' });
    expect(out.recordedSteps).toBe(0);
  });

  it('after a role change, forecasts from the record and records from the step after the change', () => {
    // The new primary's own past is its standby load (5%); the record holds the pair's 8 cores (50% of 16). The roles
    // changed in step 3, which is split between the hosts: it is not taken from the new primary.
    const out = follow([5, 5, 5, 30, 50, 52], [point(0, 8), point(1, 8), point(2, 8)], 6, { rolesSinceStep: 3 });
    expect(out.window.values).toEqual([50, 50, 50, null, 50, 52]);
    expect(steps(out.toRecord)).toEqual([4, 5]);
    expect(out.recordedSteps).toBe(3);
  });

  it('leaves a step before the change that the record lacks as a gap, and fills a hole after it', () => {
    const out = follow([5, 5, 50, 50, 50], [point(0, 8), point(4, 8)], 5, { rolesSinceStep: 2 });
    expect(out.window.values).toEqual([50, null, null, 50, 50]);
    expect(steps(out.toRecord)).toEqual([3]);
  });

  it('converts the record into the current primary: the same 8 cores are 25% of a 32-core host', () => {
    const out = follow([5, 30], [point(0, 8)], 1, { allocated: 32 });
    expect(out.window.values).toEqual([25, 30]);
  });

  it('ignores points of another resource, off the step grid or outside the window', () => {
    const offGrid = { ...point(1, 8), time: new Date(START + STEP + 1_000) };
    const out = follow([10, 10], [point(0, 8, 'memory'), offGrid, point(7, 8)], 2);
    expect(out.window.values).toEqual([10, 10]);
    expect(out.recordedSteps).toBe(0);
    expect(out.toRecord).toHaveLength(2);
  });

  it('neither reads nor records for a primary with no capacity of the resource', () => {
    const out = follow([10, 10], [point(0, 8)], 2, { allocated: 0 });
    expect(out).toEqual({ window: live([10, 10]), toRecord: [], recordedSteps: 0 });
  });

  it('writes line protocol keyed by pair, resource and step, with the primary as a field', () => {
    expect(pairDemandLines([{ ...point(0, 8), pairId: 'pair a,b', primaryHostId: 'h "1"' }])).toEqual([
      `understudy_pair_demand,pair=pair\\ a\\,b,resource=cpu demand=8,primary_host="h \\"1\\"" ${START}`,
    ]);
  });
});
