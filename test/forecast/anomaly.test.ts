import { describe, expect, it } from 'vitest';
import { assessDeviation, flagAnomalies } from '../../src/shared/anomaly.js';
import type { ForecastPoint } from '../../src/forecast/types.js';

const T0 = Date.UTC(2026, 0, 1);
const points: ForecastPoint[] = Array.from({ length: 12 }, (_, i) => ({
  timestamp: T0 + (i + 1) * 300_000,
  yhat: 50,
  lower: 40,
  upper: 60,
}));
const actuals = (values: number[]) => values.map((value, i) => ({ timestamp: T0 + (i + 1) * 300_000 + 7_000, value }));

describe('anomaly flags', () => {
  it('flags actuals outside the interval with their direction', () => {
    const flags = flagAnomalies(points, actuals([50, 61, 39, 60]));
    expect(flags.map((f) => [f.actual, f.direction])).toEqual([
      [61, 'above'],
      [39, 'below'],
    ]);
  });

  it('an isolated spike does not move a scaling decision', () => {
    const a = assessDeviation(points, actuals([50, 52, 95, 51, 49, 50]));
    expect(a.kind).toBe('isolated_spike');
    expect(a.affectsScaling).toBe(false);
    expect(a.flags).toHaveLength(1);
  });

  it('two spikes on opposite sides are still not a shift', () => {
    expect(assessDeviation(points, actuals([50, 90, 10, 50, 50, 90])).affectsScaling).toBe(false);
  });

  it('a sustained shift does', () => {
    const a = assessDeviation(points, actuals([50, 51, 49, 75, 78, 80]));
    expect(a.kind).toBe('sustained_shift');
    expect(a.affectsScaling).toBe(true);
    expect(a.reason).toMatch(/last 3 actuals are all above/);
  });

  it('a shift with one dip back inside counts by share of the window', () => {
    const a = assessDeviation(points, actuals([75, 78, 55, 80, 81, 79, 50]));
    expect(a.kind).toBe('sustained_shift');
  });

  it('nothing outside is nothing', () => {
    expect(assessDeviation(points, actuals([45, 55, 50])).kind).toBe('none');
  });
});
