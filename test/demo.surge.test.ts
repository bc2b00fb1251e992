// The Kubernetes demo's surge: a daily cosine whose rise crosses a given demand at a given wall-clock time.
import { describe, expect, it } from 'vitest';
import { peakHourForCrossing } from '../src/demo/kubernetesDemo.js';
import { SURGE_DEMAND, backgroundDemand, surgeDemand } from '../src/demo/scenario.js';
import { syntheticDemand } from '../src/simulator/demand.js';
import { demandSchema } from '../src/simulator/schemas.js';

describe('peakHourForCrossing', () => {
  it('puts the rise of the daily cycle through the crossing demand at the crossing time', () => {
    for (const crossing of ['2026-12-07T03:27:00Z', '2026-12-07T22:50:00Z']) {
      const crossingAt = new Date(crossing);
      const profile = { ...surgeDemand(peakHourForCrossing(SURGE_DEMAND, 1.04, crossingAt), 1), noise: 0 };
      const demandAt = (offsetMinutes: number) =>
        syntheticDemand(profile, crossingAt.getTime() + offsetMinutes * 60_000, 0);
      expect(demandAt(0)).toBeCloseTo(1.04, 6);
      // Rising through it: below before, above after.
      expect(demandAt(-10)).toBeLessThan(1.04);
      expect(demandAt(10)).toBeGreaterThan(1.04);
    }
  });
});

describe("the demo fleet's demand profiles", () => {
  it('are what the simulator accepts (its schema refuses unknown fields)', () => {
    for (const seed of [1, 2, 7]) {
      expect(demandSchema.safeParse(surgeDemand(15, seed)).error).toBeUndefined();
      expect(demandSchema.safeParse(backgroundDemand(seed)).error).toBeUndefined();
    }
  });
});
