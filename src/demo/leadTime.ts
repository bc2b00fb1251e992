/**
 * How long before its demand crossed the threshold a pair scaled out, measured on the pair's whole demand (the
 * primary's utilisation plus what its moved workloads put on the shadow): what the demo reports for its surge pair.
 * Pure.
 */
import type { UtilisationWindow } from '../metrics/types.js';

export type LeadTime =
  /** Minutes from the scale-out to the crossing: positive when the shadow came first. */
  | { kind: 'crossed'; leadMinutes: number; crossedAt: number }
  /** The demand stayed under the threshold for `withinMinutes` after the scale-out. */
  | { kind: 'no-crossing'; withinMinutes: number }
  /** Not enough data after the scale-out yet. */
  | { kind: 'pending' };

/**
 * The first step at most `lookbackMinutes` before the scale-out and up to `lookaheadMinutes` after it whose pair demand
 * is above `thresholdPercent`; a crossing before the scale-out gives a negative lead.
 */
export function scaleOutLead(
  pairDemand: UtilisationWindow,
  scaleOutAt: number,
  options: { thresholdPercent: number; lookbackMinutes: number; lookaheadMinutes: number },
): LeadTime {
  const start = Date.parse(pairDemand.start);
  const stepMs = pairDemand.stepSeconds * 1000;
  const from = scaleOutAt - options.lookbackMinutes * 60_000;
  const until = scaleOutAt + options.lookaheadMinutes * 60_000;
  let lastSampled: number | undefined;
  for (let i = 0; i < pairDemand.values.length; i++) {
    const at = start + i * stepMs;
    const value = pairDemand.values[i];
    if (at < from || at > until || value === null || value === undefined) continue;
    lastSampled = at;
    if (value > options.thresholdPercent)
      return { kind: 'crossed', leadMinutes: Math.round((at - scaleOutAt) / 60_000), crossedAt: at };
  }
  return lastSampled !== undefined && lastSampled + stepMs > until
    ? { kind: 'no-crossing', withinMinutes: options.lookaheadMinutes }
    : { kind: 'pending' };
}
