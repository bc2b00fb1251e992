import { describe, expect, it } from 'vitest';
import {
  planWaves,
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

describe('rollout policy', () => {
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
