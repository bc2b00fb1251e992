// The 5-minute grid is aligned to the wall clock, as InfluxDB's GROUP BY time and Telegraf's flushes are, so
// forecasts, actuals and other tools agree on which step a sample belongs to. models/tests/test_data.py checks the
// trainer's grid the same way.
import { describe, expect, it } from 'vitest';
import { gridTime, regularise, STEP_MS } from '../../src/forecast/series.js';

const at = (iso: string): number => Date.parse(`${iso}Z`);
const iso = (ms: number): string => new Date(ms).toISOString().slice(0, 19);

describe('regularise', () => {
  it('starts the grid at the five-minute step of the first sample, not at the sample', () => {
    // Samples 2 minutes past each step, as NAB's CloudWatch exports are (14:27, 14:32, …).
    const timestamps = [0, 1, 2, 3].map((i) => at('2014-02-14T14:27:00') + i * STEP_MS);
    const grid = regularise({ timestamps, values: [1, 2, 3, 4] });
    expect(iso(grid.start)).toBe('2014-02-14T14:25:00');
    expect(Array.from(grid.values)).toEqual([1, 2, 3, 4]);
    expect(iso(gridTime(grid, 3))).toBe('2014-02-14T14:40:00');
  });

  it('averages the samples inside one clock step and interpolates a short gap', () => {
    const grid = regularise({
      timestamps: [at('2014-03-09T01:51:00'), at('2014-03-09T01:54:00'), at('2014-03-09T02:06:00')],
      values: [2, 4, 9],
    });
    expect(iso(grid.start)).toBe('2014-03-09T01:50:00');
    // 01:50 holds 2 and 4; 01:55 is empty and interpolated; 02:00 is empty too; 02:05 holds 9.
    expect(Array.from(grid.values)).toEqual([3, 5, 7, 9]);
  });
});
