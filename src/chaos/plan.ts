/**
 * The fault campaign's plan: which fault each round injects, where and when, drawn from one seed so the same seed
 * gives the same sequence of faults and timings on every run. Pure (no I/O, no clock).
 */

export const FAULT_KINDS = [
  'worker-kill-mid-failover',
  'worker-kill-mid-migration',
  'worker-kill-mid-swap',
  'temporal-restart-mid-swap',
  'influx-outage',
  'slow-failing-api',
  'region-failure',
  'host-flap',
  'watcher-lane-dies',
  'duplicate-failure-reports',
  'messages-at-continue-as-new',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** The issue asks for a two-minute InfluxDB outage: the longest fault by far, so the plan holds few of them. */
export const INFLUX_OUTAGE_MS = 120_000;
/** Share of the provider API calls the slow-API fault fails (with a 503, before they act). */
export const API_ERROR_RATE = 0.1;

export interface RoundSpec {
  /** From 1. */
  round: number;
  fault: FaultKind;
  /** The pair (index into the round's pairs, in pair id order) the fault aims at, where it aims at one. */
  targetPair: number;
  /** The region a region failure takes down (index into the round's regions). */
  targetRegion: number;
  /** Real ms between noticing the in-flight step (failing over, migrating, swapping) and the kill or stop. */
  strikeDelayMs: number;
  /** Real ms the killed worker or the stopped Temporal server stays down before it comes back. */
  downtimeMs: number;
  /** Real ms a lasting fault (slow API, region down, flapping, InfluxDB down) lasts before it is lifted. */
  faultDurationMs: number;
  /** Added latency of the slow-API fault, real ms per provider call. */
  apiLatencyMs: number;
  /** Flapping period, simulated seconds (60x: one to three real seconds). */
  flapPeriodSeconds: number;
}

export interface CampaignPlan {
  seed: number;
  rounds: RoundSpec[];
}

/** splitmix32: a small, well-mixed seeded generator; the plan draws every number from one instance, in order. */
export function seededGenerator(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x9e3779b9) | 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return ((z ^ (z >>> 16)) >>> 0) / 4_294_967_296;
  };
}

/** InfluxDB outages in a campaign of `rounds`: three per hundred rounds, at least one from eight rounds up. */
export function influxOutageCount(rounds: number): number {
  if (rounds < 8) return 0;
  return Math.max(1, Math.round((rounds * 3) / 100));
}

export interface PlanOptions {
  seed: number;
  rounds: number;
  /** Pairs per round and regions per round: the targets are drawn among these. */
  pairsPerRound: number;
  regionsPerRound: number;
  /** Only these kinds (default: all); a campaign of few rounds still covers them in turn. */
  kinds?: readonly FaultKind[];
}

export class PlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlanError';
  }
}

/**
 * Every kind but the InfluxDB outage appears equally often (the remainder spread over the first kinds), the
 * outages as `influxOutageCount` says; the order is a seeded shuffle, so faults of one kind do not come in a row.
 */
export function planCampaign(options: PlanOptions): CampaignPlan {
  const { seed, rounds, pairsPerRound, regionsPerRound } = options;
  if (!Number.isInteger(rounds) || rounds < 1) throw new PlanError(`rounds must be a whole number ≥ 1, got ${rounds}`);
  if (!Number.isInteger(seed)) throw new PlanError(`seed must be a whole number, got ${seed}`);
  if (pairsPerRound < 1 || regionsPerRound < 2) throw new PlanError('a round needs at least one pair and two regions');
  const kinds = options.kinds ?? FAULT_KINDS;
  const unknown = kinds.filter((k) => !FAULT_KINDS.includes(k));
  if (kinds.length === 0 || unknown.length > 0)
    throw new PlanError(`unknown fault kind(s) ${unknown.join(', ')}; known: ${FAULT_KINDS.join(', ')}`);

  const random = seededGenerator(seed);
  const between = (low: number, high: number): number => Math.round(low + random() * (high - low));
  const outages = kinds.includes('influx-outage') ? influxOutageCount(rounds) : 0;
  const others = kinds.filter((k) => k !== 'influx-outage');
  const faults: FaultKind[] = Array.from({ length: outages }, () => 'influx-outage' as const);
  for (let i = 0; faults.length < rounds && others.length > 0; i++) faults.push(others[i % others.length]!);
  while (faults.length < rounds) faults.push('influx-outage');
  for (let i = faults.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [faults[i], faults[j]] = [faults[j]!, faults[i]!];
  }

  return {
    seed,
    rounds: faults.map((fault, index) => ({
      round: index + 1,
      fault,
      targetPair: between(0, pairsPerRound - 1),
      targetRegion: between(0, regionsPerRound - 1),
      strikeDelayMs: between(0, fault === 'worker-kill-mid-migration' ? 300 : 1_500),
      downtimeMs: between(500, 5_000),
      faultDurationMs: fault === 'influx-outage' ? INFLUX_OUTAGE_MS : between(60, 150) * 100,
      apiLatencyMs: between(100, 800),
      flapPeriodSeconds: between(60, 180),
    })),
  };
}
