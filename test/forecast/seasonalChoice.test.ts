import { describe, expect, it } from 'vitest';
import { clearlySeasonal } from '../../src/forecast/forecaster.js';

// How the forecaster picks a model for a series its trained selector never saw (a new host): seasonal-naive only
// when the series' own history shows that yesterday predicts it clearly better than persistence.
const days = (n: number, f: (step: number) => number): Float64Array =>
  Float64Array.from({ length: n * 288 }, (_, i) => f(i));
const daily = (i: number): number => 50 + 30 * Math.sin((2 * Math.PI * i) / 288);
/** Deterministic noise in [-1, 1). */
const noise = (i: number): number => {
  const x = Math.sin(i * 12.9898) * 43758.5453;
  return (x - Math.floor(x)) * 2 - 1;
};

describe('clearlySeasonal', () => {
  it('picks seasonal-naive for a clean daily cycle with a day to check it against', () => {
    expect(clearlySeasonal(days(2, daily), 12)).toBe(true);
  });

  it('keeps the default for white noise, a flat series and a random walk', () => {
    expect(
      clearlySeasonal(
        days(2, (i) => 50 + 10 * noise(i)),
        12,
      ),
    ).toBe(false);
    expect(
      clearlySeasonal(
        days(2, () => 42),
        12,
      ),
    ).toBe(false);
    let level = 50;
    expect(
      clearlySeasonal(
        days(2, (i) => (level += noise(i))),
        12,
      ),
    ).toBe(false);
  });

  it('needs more than a season of history, and a horizon shorter than a season', () => {
    expect(clearlySeasonal(days(1, daily), 12)).toBe(false);
    expect(clearlySeasonal(days(2, daily), 288)).toBe(false);
  });
});
