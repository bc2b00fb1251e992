/** The pure conversion rules of the metrics store: rates, resets, gaps and invalid samples, without a server. */
import { describe, expect, it } from 'vitest';
import {
  combineSteps,
  counterRateSteps,
  gaugeSteps,
  pairDemandWindow,
  toWindow,
  windowHistory,
} from '../src/metrics/utilisation.js';
import type { UtilisationWindow } from '../src/metrics/types.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const MIN = 60_000;
const grid = { startMs: T0, stepMs: MIN, steps: 5 };

describe('utilisation steps', () => {
  it('averages gauge samples per step and leaves empty steps null', () => {
    const steps = gaugeSteps(
      { times: [T0, T0 + 30_000, T0 + MIN, T0 + 3 * MIN], values: [90, 70, 60, 50] },
      grid,
      (idle) => 100 - idle,
      'cpu',
    );
    expect(steps.values).toEqual([20, 40, null, 50, null]);
    const window = toWindow('h', 'cpu', grid, steps);
    expect(window.issues.map((i) => [i.kind, i.count])).toEqual([
      ['gap', 1],
      ['gap', 1],
    ]);
    expect(window.lastSampleAt).toBe(new Date(T0 + 3 * MIN).toISOString());
  });

  it('turns counters into per-second rates, using a sample before the window, and skips resets', () => {
    const steps = counterRateSteps(
      {
        times: [T0 - MIN, T0, T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN, T0 + 4 * MIN],
        values: [0, 600, 1200, 30, 630, 1230],
      },
      grid,
      'io_time',
    );
    expect(steps.values).toEqual([10, 10, null, 10, 10]);
    expect(steps.issues).toEqual([
      expect.objectContaining({ kind: 'counter-reset', count: 1, from: new Date(T0 + 2 * MIN).toISOString() }),
    ]);
  });

  it('drops NaN and missing samples and says so', () => {
    const steps = gaugeSteps({ times: [T0, T0 + MIN], values: [Number.NaN, null] }, grid, (v) => v, 'mem');
    expect(steps.values.every((v) => v === null)).toBe(true);
    expect(steps.issues).toEqual([expect.objectContaining({ kind: 'invalid-value', count: 2 })]);
    expect(toWindow('h', 'memory', grid, steps).issues.map((i) => i.kind)).toEqual(['invalid-value', 'no-data']);
  });

  it('combines devices: the busiest disk, the sum of interfaces', () => {
    const a = { values: [1, null, 3, null, null], issues: [] };
    const b = { values: [2, 5, null, null, null], issues: [] };
    expect(combineSteps([a, b], 'max').values).toEqual([2, 5, 3, null, null]);
    expect(combineSteps([a, b], 'sum').values).toEqual([3, 5, 3, null, null]);
  });
});

describe("a pair's whole demand", () => {
  const window = (
    hostId: string,
    values: (number | null)[],
    start = '2026-11-28T10:00:00.000Z',
  ): UtilisationWindow => ({
    hostId,
    resource: 'cpu',
    start,
    stepSeconds: 300,
    values,
    issues: [],
  });

  it("adds the shadow's load converted to the primary's capacity, keeping the primary's gaps", () => {
    // A half-size shadow at 40% carries 20% of a primary.
    const pair = pairDemandWindow(window('p', [50, null, 30, 30]), window('s', [0, 10, 40, null]), 0.5);
    expect(pair.values).toEqual([50, null, 50, 30]);
    expect(pair.hostId).toBe('p');
    expect(windowHistory(pair)).toEqual({
      timestamps: [0, 2, 3].map((i) => Date.parse('2026-11-28T10:00:00.000Z') + i * 300_000),
      values: [50, 50, 30],
    });
  });

  it('is the primary alone without a serving shadow', () => {
    const primary = window('p', [50, 60]);
    expect(pairDemandWindow(primary, undefined, 1)).toBe(primary);
  });

  it('refuses windows on different grids, naming the series', () => {
    expect(() => pairDemandWindow(window('p', [1]), window('s', [1], '2026-11-28T10:01:00.000Z'), 1)).toThrow(
      /pair demand of p\/cpu: the shadow's window .* is not on the primary's grid/,
    );
  });
});
