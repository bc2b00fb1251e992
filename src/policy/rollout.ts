/**
 * Rolling-upgrade policy, pure and deterministic (the rollout workflow, the CLI and the tests call it): validates a
 * rollout request before anything changes, plans its waves under the disruption budget in a region-safe order, and
 * tells whether an allowed window is open.
 *
 * Spare capacity: a pair under upgrade swaps, so its shadow grows to full size in the shadow's region while the
 * wave runs. When the regions' spare capacity is known (`SpareCapacity`, the fleet's topology), a wave is admitted
 * only if the placement policy's regional-outage proof (proveRegionalResilience) still holds with the wave's
 * shadows at full size: whichever region fails mid-wave, every primary still has a shadow that can take it. Without it, the conservative region-safe rule applies instead: at most one pair per
 * primary region and one per shadow region in a wave.
 */
import { addCapacity, fitsWithin, scaleCapacity, subtractCapacity, zeroCapacity } from './capacity.js';
import { nextCronTime, validateCron, validateTimeZone } from './offPeak.js';
import { proveRegionalResilience } from './placement.js';
import type { Capacity, RegionSpec, ResilienceReport, Topology } from './types.js';

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
  /** The primary's size: its shadow must be able to grow to it (needed for the spare-capacity proof). */
  capacity?: Capacity;
}

/** The fleet's regions and standby fraction: what the spare-capacity proof needs beyond the pairs. */
export interface SpareCapacity {
  regions: RegionSpec[];
  shadowFraction: number;
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
 * The regional-outage proof for the fleet while `wave` changes. A pair going through its swap has its shadow at full
 * size in the shadow's region (carrying the workloads), so each of the wave's shadows counts at full size there:
 * it takes that much of the region's spare capacity, and needs no growth if its own primary's region fails.
 */
export function proveSpareDuringWave(
  pairs: readonly RolloutPairRef[],
  wave: readonly RolloutPairRef[],
  spare: SpareCapacity,
): ResilienceReport {
  const changing = new Set(wave.map((p) => p.pairId));
  const topology: Topology = {
    regions: spare.regions,
    primaries: pairs.map((p) => ({ hostId: p.pairId, region: p.primaryRegion, zone: '', capacity: capacityOf(p) })),
  };
  const assignments = pairs.flatMap((p) =>
    p.shadowRegion === undefined
      ? []
      : [
          {
            primaryHostId: p.pairId,
            region: p.shadowRegion,
            zone: '',
            allocationFraction: changing.has(p.pairId) ? 1 : spare.shadowFraction,
          },
        ],
  );
  return proveRegionalResilience(topology, assignments, spare.shadowFraction);
}

const capacityOf = (p: RolloutPairRef): Capacity => p.capacity ?? zeroCapacity();

/**
 * Room left per (region, failed region): what each surviving region's spare capacity holds beyond what the outage
 * of the other region needs, from the placement policy's proof of the fleet at rest. Keys `region|failedRegion`.
 */
type SpareRoom = Map<string, Capacity>;

function spareRoom(pairs: readonly RolloutPairRef[], spare: SpareCapacity): SpareRoom | string {
  const atRest = proveSpareDuringWave(pairs, [], spare);
  if (!atRest.resilient) return atRest.problems[0]?.message ?? 'not resilient';
  const room: SpareRoom = new Map();
  for (const outage of atRest.outages)
    for (const d of outage.demands)
      room.set(`${d.region}|${outage.failedRegion}`, subtractCapacity(d.available, d.required));
  return room;
}

/**
 * Whether the pair's swap fits the room left beside `used` (what the wave's other pairs take). Its shadow grows by
 * (1 − standby fraction) of the primary in the shadow's region: that is taken from the room for every outage there
 * except its own primary's region's (where the proof already counted that growth). The same arithmetic as
 * proveSpareDuringWave, incrementally, so planning a large fleet stays linear.
 */
function fitsRoom(room: SpareRoom, used: SpareRoom, pair: RolloutPairRef, spare: SpareCapacity): boolean {
  if (pair.shadowRegion === undefined) return true;
  const growth = scaleCapacity(capacityOf(pair), 1 - spare.shadowFraction);
  return spare.regions.every((failed) => {
    if (failed.name === pair.shadowRegion || failed.name === pair.primaryRegion) return true;
    const key = `${pair.shadowRegion}|${failed.name}`;
    return fitsWithin(addCapacity(used.get(key) ?? zeroCapacity(), growth), room.get(key) ?? zeroCapacity());
  });
}

function take(used: SpareRoom, pair: RolloutPairRef, spare: SpareCapacity): void {
  if (pair.shadowRegion === undefined) return;
  const growth = scaleCapacity(capacityOf(pair), 1 - spare.shadowFraction);
  for (const failed of spare.regions) {
    if (failed.name === pair.shadowRegion || failed.name === pair.primaryRegion) continue;
    const key = `${pair.shadowRegion}|${failed.name}`;
    used.set(key, addCapacity(used.get(key) ?? zeroCapacity(), growth));
  }
}

/**
 * Pairs that cannot change even alone without the fleet losing its regional-outage guarantee (or every pair, when
 * the fleet has no such guarantee to begin with), each with the reason: a rollout refuses them.
 */
export function pairsBreakingSpare(pairs: readonly RolloutPairRef[], spare: SpareCapacity): string[] {
  const room = spareRoom(pairs, spare);
  if (typeof room === 'string')
    return [`the fleet has no spare capacity for a regional outage even before the rollout: ${room}`];
  return pairs
    .filter((pair) => !fitsRoom(room, new Map(), pair, spare))
    .map(
      (pair) =>
        `upgrading pair ${pair.pairId} would leave too little spare capacity: ` +
        (proveSpareDuringWave(pairs, [pair], spare).problems[0]?.message ?? ''),
    );
}

/**
 * Why draining the pair's primary for maintenance would leave a region too little spare capacity for an outage, or
 * undefined when it would not. A drained pair serves from its shadow's region at full size for as long as the
 * maintenance lasts: for the rest of the fleet that is the arithmetic of a wave of that one pair. A fleet already
 * short of room for an outage before the drain gets no refusal from this (maintenance is often how it gets its room
 * back, and the fleet reports its own shortfall).
 */
export function drainSpareProblem(
  pairs: readonly RolloutPairRef[],
  pairId: string,
  spare: SpareCapacity,
): string | undefined {
  const pair = pairs.find((p) => p.pairId === pairId);
  if (pair === undefined || !proveSpareDuringWave(pairs, [], spare).resilient) return undefined;
  const during = proveSpareDuringWave(pairs, [pair], spare);
  if (during.resilient) return undefined;
  return `draining pair ${pairId} would leave too little spare capacity: ${during.problems[0]?.message ?? ''}`;
}

/**
 * Splits the pairs into waves, in order: each wave within the budget (whole-fleet cap and per-region allowance)
 * and, with `spare`, the spare-capacity proof above, else the region-safe rule. Pairs are taken in pairId order.
 * A pair that fits no wave even alone (see pairsBreakingSpare, which callers check first) still gets a wave of its
 * own, so planning always ends.
 */
export function planWaves(pairs: readonly RolloutPairRef[], budget: RolloutBudget, spare?: SpareCapacity): string[][] {
  const allowance = regionAllowance(budget, pairs);
  const cap = budget.maxPairs ?? pairs.length;
  const room = spare ? spareRoom(pairs, spare) : undefined;
  const pending = [...pairs].sort((a, b) => (a.pairId < b.pairId ? -1 : a.pairId > b.pairId ? 1 : 0));
  const waves: string[][] = [];
  while (pending.length > 0) {
    const wave: RolloutPairRef[] = [];
    const used: SpareRoom = new Map();
    const inRegion = new Map<string, number>();
    const remaining: RolloutPairRef[] = [];
    for (const pair of pending) {
      if (wave.length >= cap) {
        remaining.push(pair);
        continue;
      }
      const samePrimaryRegion = inRegion.get(pair.primaryRegion) ?? 0;
      const safe =
        spare && room !== undefined
          ? typeof room !== 'string' && fitsRoom(room, used, pair, spare)
          : samePrimaryRegion === 0 &&
            !wave.some((p) => p.shadowRegion !== undefined && p.shadowRegion === pair.shadowRegion);
      if (samePrimaryRegion < (allowance[pair.primaryRegion] ?? 1) && safe) {
        wave.push(pair);
        inRegion.set(pair.primaryRegion, samePrimaryRegion + 1);
        if (spare) take(used, pair, spare);
      } else remaining.push(pair);
    }
    if (wave.length === 0) wave.push(remaining.shift()!);
    pending.splice(0, pending.length, ...remaining);
    waves.push(wave.map((p) => p.pairId));
  }
  return waves;
}

/** The most spans overlapping at any instant (one ending as another starts does not overlap it): budget checks. */
export function maxOverlapping(spans: readonly { start: number; end: number }[]): number {
  const edges = spans
    .flatMap((s) => [
      { at: s.start, delta: 1 },
      { at: s.end, delta: -1 },
    ])
    .sort((a, b) => a.at - b.at || a.delta - b.delta);
  let current = 0;
  let max = 0;
  for (const e of edges) {
    current += e.delta;
    max = Math.max(max, current);
  }
  return max;
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
