/**
 * Rolling-upgrade policy, pure and deterministic (the rollout workflow, the CLI and the tests call it): validates a
 * rollout request before anything changes, plans its waves under the disruption budget in a region-safe order, and
 * tells whether an allowed window is open.
 *
 * Region-safe rule: a pair under upgrade has its standby busy (being reconfigured, or briefly carrying the
 * workloads during the swap). A wave therefore holds at most one pair per primary region and at most one per
 * shadow region: whichever single region fails mid-wave, at most one of its primaries is without a settled standby,
 * and every region's spare (standby) capacity is short by at most one shadow — the margin the placement policy's
 * regional-outage proof (proveRegionalResilience) keeps with one spare host's worth per region
 * (threeRegionTopology's `perRegion + 1`).
 */
import { nextCronTime, validateCron, validateTimeZone } from './offPeak.js';

export type ConfigurationValue = string | number | boolean;

export interface RolloutBudget {
  /** At most this many pairs change at once. */
  maxPairs?: number;
  /** At most this percentage (1-100) of a region's pairs (by primary region) change at once; at least one. */
  maxPercentOfRegion?: number;
}

export interface RolloutWindow {
  /** 5-field cron of the window's openings. */
  cron: string;
  durationMinutes: number;
  /** IANA zone of the cron (default UTC). */
  timezone?: string;
}

/** Off-peak by default: 01:00-05:00 UTC every night. */
export const DEFAULT_ROLLOUT_WINDOW: RolloutWindow = { cron: '0 1 * * *', durationMinutes: 240, timezone: 'UTC' };

export interface RolloutPairRef {
  pairId: string;
  primaryRegion: string;
  shadowRegion?: string;
}

const CONFIG_KEY = /^[A-Za-z][A-Za-z0-9_.-]{0,99}$/;

/** Every reason the desired configuration is unusable; empty when it is fine. */
export function validateConfiguration(desired: unknown): string[] {
  if (desired === null || typeof desired !== 'object' || Array.isArray(desired))
    return ['desired configuration must be an object of key → value'];
  const entries = Object.entries(desired as Record<string, unknown>);
  if (entries.length === 0) return ['desired configuration is empty'];
  const problems: string[] = [];
  for (const [key, value] of entries) {
    if (!CONFIG_KEY.test(key))
      problems.push(`configuration key '${key}' must start with a letter and hold only letters, digits, _ . -`);
    if (typeof value === 'string') {
      if (value.trim() === '') problems.push(`configuration value of '${key}' is an empty string`);
    } else if (typeof value === 'number') {
      if (!Number.isFinite(value)) problems.push(`configuration value of '${key}' is not a finite number`);
    } else if (typeof value !== 'boolean') {
      problems.push(`configuration value of '${key}' must be a string, number or boolean (got ${typeof value})`);
    }
  }
  return problems;
}

/** Concurrent pairs each primary region allows under the budget (a whole-fleet cap is applied separately). */
export function regionAllowance(budget: RolloutBudget, pairs: readonly RolloutPairRef[]): Record<string, number> {
  const allowance: Record<string, number> = {};
  for (const pair of pairs) allowance[pair.primaryRegion] = (allowance[pair.primaryRegion] ?? 0) + 1;
  for (const region of Object.keys(allowance)) {
    const inRegion = allowance[region] ?? 0;
    allowance[region] =
      budget.maxPercentOfRegion === undefined
        ? inRegion
        : Math.max(1, Math.floor((inRegion * budget.maxPercentOfRegion) / 100));
  }
  return allowance;
}

export function validateBudget(budget: unknown, pairs: readonly RolloutPairRef[]): string[] {
  if (budget === null || typeof budget !== 'object') return ['budget must be { maxPairs } or { maxPercentOfRegion }'];
  const { maxPairs, maxPercentOfRegion } = budget as RolloutBudget;
  if (maxPairs === undefined && maxPercentOfRegion === undefined)
    return ['budget must set maxPairs or maxPercentOfRegion'];
  const problems: string[] = [];
  if (maxPairs !== undefined) {
    if (!Number.isInteger(maxPairs) || maxPairs < 1) problems.push(`budget maxPairs must be a whole number >= 1`);
    else if (maxPairs > pairs.length)
      problems.push(`budget maxPairs ${maxPairs} is above the ${pairs.length} pairs to roll`);
  }
  if (maxPercentOfRegion !== undefined && !(maxPercentOfRegion > 0 && maxPercentOfRegion <= 100))
    problems.push(`budget maxPercentOfRegion must be in (0, 100]`);
  return problems;
}

export function validateWindows(windows: readonly RolloutWindow[], nowMs: number): string[] {
  if (windows.length === 0) return ['at least one allowed window is needed (omit windows for the off-peak default)'];
  const problems: string[] = [];
  for (const [i, w] of windows.entries()) {
    const zone = w.timezone ?? 'UTC';
    const cronFault = validateCron(w.cron);
    const zoneFault = validateTimeZone(zone);
    if (cronFault) problems.push(`window ${i + 1} cron '${w.cron}': ${cronFault}`);
    if (zoneFault) problems.push(`window ${i + 1}: ${zoneFault}`);
    if (!(Number.isFinite(w.durationMinutes) && w.durationMinutes > 0))
      problems.push(`window ${i + 1} durationMinutes must be > 0, so the window ever opens`);
    else if (!cronFault && !zoneFault && nextCronTime(w.cron, zone, nowMs) === undefined)
      problems.push(`window ${i + 1} cron '${w.cron}' never fires after now, so the window never opens`);
  }
  return problems;
}

/**
 * Splits the pairs into waves, in order: each wave within the budget (whole-fleet cap and per-region allowance)
 * and the region-safe rule above. Pairs are taken in pairId order within their region, regions interleaved, so
 * one region's pairs are spread over the rollout rather than all in its first waves.
 */
export function planWaves(pairs: readonly RolloutPairRef[], budget: RolloutBudget): string[][] {
  const allowance = regionAllowance(budget, pairs);
  const cap = budget.maxPairs ?? pairs.length;
  const pending = [...pairs].sort((a, b) => (a.pairId < b.pairId ? -1 : a.pairId > b.pairId ? 1 : 0));
  const waves: string[][] = [];
  while (pending.length > 0) {
    const wave: RolloutPairRef[] = [];
    for (let i = 0; i < pending.length && wave.length < cap;) {
      const pair = pending[i]!;
      const samePrimaryRegion = wave.filter((p) => p.primaryRegion === pair.primaryRegion).length;
      const sameShadowRegion = wave.some((p) => p.shadowRegion !== undefined && p.shadowRegion === pair.shadowRegion);
      const regionSafe = samePrimaryRegion === 0 && !sameShadowRegion;
      if (regionSafe && samePrimaryRegion < (allowance[pair.primaryRegion] ?? 1)) {
        wave.push(pair);
        pending.splice(i, 1);
      } else i++;
    }
    waves.push(wave.map((p) => p.pairId));
  }
  return waves;
}

/** Whether one of the windows is open at `nowMs`; otherwise when the next one opens (undefined: never). */
export function windowStatus(
  windows: readonly RolloutWindow[],
  nowMs: number,
): { open: true } | { open: false; opensAt?: number } {
  let opensAt: number | undefined;
  for (const w of windows) {
    const zone = w.timezone ?? 'UTC';
    // An opening less than a duration ago means the window is open now ([opening, opening + duration)).
    const recent = nextCronTime(w.cron, zone, nowMs - w.durationMinutes * 60_000);
    if (recent !== undefined && recent <= nowMs) return { open: true };
    if (recent !== undefined) opensAt = opensAt === undefined ? recent : Math.min(opensAt, recent);
  }
  return { open: false, opensAt };
}
