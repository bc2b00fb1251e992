/**
 * Live anomaly flags: actuals that leave the forecast interval, and whether the deviation should move a scaling
 * decision. An isolated spike (a point or two outside, then back) must not; a sustained shift (the most recent
 * `sustainSteps` actuals all outside on the same side, or most of the recent window) must. Pure and
 * deterministic: workflow code, the policy and the benchmarks may all call it.
 */
import type { AnomalyFlag, DeviationAssessment, ForecastPoint } from '../forecast/types.js';
import type { AnomalyEvent, Resource } from '../metrics/types.js';

export interface DeviationOptions {
  /** Consecutive latest actuals outside the interval, same side, that make a sustained shift (default 3 = 15 min). */
  sustainSteps?: number;
  /** Recent actuals looked at (default 6 = 30 min); a shift is also sustained when `sustainShare` of them are out. */
  windowSteps?: number;
  sustainShare?: number;
  /** An actual matches the forecast point within this many ms of its timestamp (default 150 s: half a step). */
  matchToleranceMs?: number;
}

export interface Actual {
  timestamp: number;
  value: number;
}

/** Every actual outside its matching forecast point's [lower, upper], oldest first. */
export function flagAnomalies(points: ForecastPoint[], actuals: Actual[], matchToleranceMs = 150_000): AnomalyFlag[] {
  const flags: AnomalyFlag[] = [];
  const sorted = [...actuals].sort((a, b) => a.timestamp - b.timestamp);
  for (const a of sorted) {
    let best: ForecastPoint | undefined;
    for (const p of points) {
      const d = Math.abs(p.timestamp - a.timestamp);
      if (d <= matchToleranceMs && (!best || d < Math.abs(best.timestamp - a.timestamp))) best = p;
    }
    if (!best || !Number.isFinite(a.value)) continue;
    if (a.value > best.upper || a.value < best.lower) {
      flags.push({
        timestamp: a.timestamp,
        actual: a.value,
        yhat: best.yhat,
        lower: best.lower,
        upper: best.upper,
        direction: a.value > best.upper ? 'above' : 'below',
      });
    }
  }
  return flags;
}

/** Flags the actuals and classifies the latest deviation (see the module comment). */
export function assessDeviation(
  points: ForecastPoint[],
  actuals: Actual[],
  { sustainSteps = 3, windowSteps = 6, sustainShare = 2 / 3, matchToleranceMs = 150_000 }: DeviationOptions = {},
): DeviationAssessment {
  const flags = flagAnomalies(points, actuals, matchToleranceMs);
  const matched = [...actuals]
    .sort((a, b) => a.timestamp - b.timestamp)
    .filter((a) => points.some((p) => Math.abs(p.timestamp - a.timestamp) <= matchToleranceMs));
  const recent = matched.slice(-windowSteps);
  const side = (a: Actual): 'above' | 'below' | 'in' =>
    flags.find((f) => f.timestamp === a.timestamp)?.direction ?? 'in';
  const sides = recent.map(side);
  const latest = sides.slice(-sustainSteps);
  const run = latest.length === sustainSteps && latest.every((s) => s !== 'in' && s === latest[0]);
  const above = sides.filter((s) => s === 'above').length;
  const below = sides.filter((s) => s === 'below').length;
  const share = recent.length >= windowSteps && Math.max(above, below) >= Math.ceil(sustainShare * windowSteps);
  if (run || share) {
    const dir = run ? latest[0] : above >= below ? 'above' : 'below';
    return {
      kind: 'sustained_shift',
      flags,
      affectsScaling: true,
      reason: run
        ? `the last ${sustainSteps} actuals are all ${dir} the forecast interval`
        : `${Math.max(above, below)} of the last ${recent.length} actuals are ${dir} the forecast interval`,
    };
  }
  if (flags.length > 0) {
    return {
      kind: 'isolated_spike',
      flags,
      affectsScaling: false,
      reason: `${flags.length} actual(s) outside the interval, not sustained: ignored for scaling`,
    };
  }
  return { kind: 'none', flags, affectsScaling: false, reason: 'every actual within the forecast interval' };
}

/** An assessment's flags as the events stored beside the actuals (one per flagged actual, keyed by host, resource, time). */
export function anomalyEvents(hostId: string, resource: Resource, assessment: DeviationAssessment): AnomalyEvent[] {
  return assessment.flags.map((f) => ({
    hostId,
    resource,
    time: new Date(f.timestamp),
    kind: assessment.kind === 'sustained_shift' ? 'sustained-shift' : f.direction === 'above' ? 'spike' : 'drop',
    actual: f.actual,
    expected: f.yhat,
    deviation: f.direction === 'above' ? f.actual - f.upper : f.actual - f.lower,
    detail: assessment.reason,
  }));
}
