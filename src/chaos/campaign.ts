/**
 * The fault campaign as a whole: the seeded plan, run round after round on the campaign's own stack, and the
 * counts it ends with (rounds per fault kind, invariant violations, time back to steady).
 */
import { percentile } from '../forecast/backtest.js';
import type { ChaosViolationKind } from './invariants.js';
import { FAULT_KINDS, type CampaignPlan, type FaultKind } from './plan.js';
import { STEADY_BOUND_MS, runRound, type RoundResult } from './rounds.js';
import type { ChaosStack } from './stack.js';

export interface CampaignSummary {
  seed: number;
  rounds: number;
  roundsPerFault: Record<FaultKind, number>;
  violations: number;
  violationsPerKind: Partial<Record<ChaosViolationKind, number>>;
  /** Rounds that could not be set up or whose drill found nothing to strike (not counted as passed). */
  roundErrors: number;
  steadyBoundSeconds: number;
  roundsSteadyWithinBound: number;
  timeToSteadySeconds: { p50: number; p99: number; max: number };
  workerUnexpectedExits: number;
  durationSeconds: number;
}

export function summarise(
  plan: CampaignPlan,
  results: readonly RoundResult[],
  workerUnexpectedExits: number,
  durationMs: number,
): CampaignSummary {
  const roundsPerFault = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  const violationsPerKind: Partial<Record<ChaosViolationKind, number>> = {};
  for (const r of results) {
    roundsPerFault[r.fault] += 1;
    for (const v of r.violations) violationsPerKind[v.kind] = (violationsPerKind[v.kind] ?? 0) + 1;
  }
  const steady = results.flatMap((r) => (r.timeToSteadyMs === undefined ? [] : [r.timeToSteadyMs / 1000]));
  const round1 = (x: number): number => Math.round(x * 10) / 10;
  return {
    seed: plan.seed,
    rounds: results.length,
    roundsPerFault,
    violations: results.reduce((n, r) => n + r.violations.length, 0),
    violationsPerKind,
    roundErrors: results.filter((r) => r.error !== undefined).length,
    steadyBoundSeconds: STEADY_BOUND_MS / 1000,
    roundsSteadyWithinBound: steady.length,
    timeToSteadySeconds: {
      p50: round1(percentile(steady, 0.5)),
      p99: round1(percentile(steady, 0.99)),
      max: round1(steady.length > 0 ? Math.max(...steady) : Number.NaN),
    },
    workerUnexpectedExits,
    durationSeconds: Math.round(durationMs / 1000),
  };
}

/** Runs the plan's rounds in order; `onRound` hears each result as it comes (the progress log). */
export async function runCampaign(
  stack: ChaosStack,
  plan: CampaignPlan,
  runTag: string,
  onRound: (result: RoundResult) => void = () => undefined,
): Promise<{ results: RoundResult[]; summary: CampaignSummary }> {
  const startedAt = Date.now();
  const results: RoundResult[] = [];
  for (const spec of plan.rounds) {
    const result = await runRound(stack, spec, runTag);
    results.push(result);
    onRound(result);
  }
  return { results, summary: summarise(plan, results, stack.worker.unexpectedExits, Date.now() - startedAt) };
}
