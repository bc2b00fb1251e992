/**
 * What bench:policy measures, as pure functions over a trace: its crossings of the threshold and whether a strategy
 * had capacity in place before each, and the rule that puts a trace in the `seasonal` or `irregular` class. No I/O.
 */

export interface CrossingOptions {
  thresholdPercent: number;
  /** After a crossing, demand must fall to the threshold minus this before it can cross again (the policy's). */
  rearmBelowPercent: number;
  stepMinutes: number;
  /** A crossing counts as pre-empted when the extra capacity served at least this long before it. */
  preemptMinutes: number;
  /** A scale-out later than this after a crossing is not counted as answering it. */
  lookaheadSteps: number;
  /** Capacity in place longer than this before a crossing counts as this lead (static headroom is there all along). */
  leadCapMinutes: number;
}

export interface CrossingStats {
  /**
   * Steps where the un-scaled demand goes above the threshold, each after it was at or below the threshold minus the
   * re-arm margin (so demand hovering at the threshold is one crossing, not one per wobble).
   */
  crossings: number;
  /** Crossings with capacity beyond the primary serving from at least `preemptMinutes` before them, without a gap. */
  preempted10: number;
  /**
   * Per answered crossing, minutes from when the capacity serving at the crossing started to the crossing: positive
   * when it came first (at most `leadCapMinutes`); negative when it came after (the first step it served within the
   * lookahead).
   */
  leadMinutes: number[];
  /** Crossings with no extra capacity at them nor within the lookahead after. */
  unanswered: number;
}

/**
 * `extraServing[step]` is true when the strategy has capacity beyond the primary alone serving at that step (an
 * active shadow carrying workloads, a booted host, static headroom above one host).
 */
export function crossingStats(
  demand: ArrayLike<number>,
  extraServing: ArrayLike<boolean>,
  options: CrossingOptions,
): CrossingStats {
  const { thresholdPercent, rearmBelowPercent, stepMinutes, preemptMinutes, lookaheadSteps, leadCapMinutes } = options;
  const stats: CrossingStats = { crossings: 0, preempted10: 0, leadMinutes: [], unanswered: 0 };
  // A trace that starts above the threshold has not crossed yet: it must come down first.
  let armed = !(demand[0]! > thresholdPercent - rearmBelowPercent);
  for (let c = 1; c < demand.length; c++) {
    if (demand[c]! <= thresholdPercent - rearmBelowPercent) armed = true;
    if (!armed || !(demand[c]! > thresholdPercent)) continue;
    armed = false;
    stats.crossings++;
    if (extraServing[c]) {
      let start = c;
      while (start > 0 && extraServing[start - 1]) start--;
      const lead = Math.min((c - start) * stepMinutes, leadCapMinutes);
      stats.leadMinutes.push(lead);
      if (lead >= preemptMinutes) stats.preempted10++;
      continue;
    }
    let answeredAt: number | undefined;
    for (let k = c + 1; k <= c + lookaheadSteps && k < demand.length; k++) {
      if (extraServing[k]) {
        answeredAt = k;
        break;
      }
    }
    if (answeredAt === undefined) stats.unanswered++;
    else stats.leadMinutes.push(-(answeredAt - c) * stepMinutes);
  }
  return stats;
}

export type TraceClass = 'seasonal' | 'irregular';

export interface TraceClassification {
  class: TraceClass;
  /** Autocorrelation at a lag of one day over the training part. */
  dailyAutocorrelation: number;
  /** Autocorrelation at a lag of one week, when the training part holds two weeks; else null. */
  weeklyAutocorrelation: number | null;
  /** Share of the training part's variance a straight line explains. */
  trendR2: number;
  trainingSteps: number;
}

/** Above this autocorrelation at one day or one week, a trace has a cycle a forecast can see. */
export const SEASONAL_AUTOCORRELATION = 0.4;
/** Above this share of variance explained by a line, a trace has a trend a forecast can see. */
export const TREND_R2 = 0.5;
/** The training part a trace is classed on: its first half, at least two days (shorter traces are irregular). */
export const TRAINING_FRACTION = 0.5;

/**
 * The class of a trace, judged on its training part only (the first half): `seasonal` when the autocorrelation at
 * a day (or, given two weeks, a week) reaches SEASONAL_AUTOCORRELATION, or a straight line explains TREND_R2 of its
 * variance; `irregular` otherwise.
 */
export function classifyTrace(values: ArrayLike<number>, stepsPerDay: number): TraceClassification {
  const trainingSteps = Math.floor(values.length * TRAINING_FRACTION);
  const training = Array.from({ length: trainingSteps }, (_, i) => values[i]!);
  const daily = trainingSteps >= 2 * stepsPerDay ? autocorrelation(training, stepsPerDay) : 0;
  const weekly = trainingSteps >= 14 * stepsPerDay ? autocorrelation(training, 7 * stepsPerDay) : null;
  const trendR2 = trainingSteps >= 2 ? lineR2(training) : 0;
  const seasonal =
    daily >= SEASONAL_AUTOCORRELATION || (weekly ?? 0) >= SEASONAL_AUTOCORRELATION || trendR2 >= TREND_R2;
  return {
    class: seasonal ? 'seasonal' : 'irregular',
    dailyAutocorrelation: daily,
    weeklyAutocorrelation: weekly,
    trendR2,
    trainingSteps,
  };
}

export function autocorrelation(values: readonly number[], lag: number): number {
  const n = values.length;
  if (lag <= 0 || lag >= n) return 0;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  let variance = 0;
  for (const v of values) variance += (v - mean) ** 2;
  if (variance === 0) return 0;
  let covariance = 0;
  for (let i = lag; i < n; i++) covariance += (values[i]! - mean) * (values[i - lag]! - mean);
  return covariance / variance;
}

function lineR2(values: readonly number[]): number {
  const n = values.length;
  const meanX = (n - 1) / 2;
  const meanY = values.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (i - meanX) * (values[i]! - meanY);
    sxx += (i - meanX) ** 2;
    syy += (values[i]! - meanY) ** 2;
  }
  return sxx === 0 || syy === 0 ? 0 : (sxy * sxy) / (sxx * syy);
}

/** Linear-interpolated quantile of `values` (NaN when empty). */
export function quantile(values: ArrayLike<number>, q: number): number {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) return Number.NaN;
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (position - low);
}
