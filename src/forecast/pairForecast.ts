/**
 * How a pair's forecasts become the one summary the scaling policy decides on: the requests observePair sends for
 * each resource of the pair's demand, and the peaks, model and anomaly verdict it makes of the answers. Pure, so the
 * pair's activity and bench:policy run the same code.
 */
import type { Resource as MeasuredResource } from '../provider/types.js';
import type { ForecastPeak, ForecastSummary } from '../policy/types.js';
import { assessDeviation } from '../shared/anomaly.js';
import { Z_80 } from './baselines.js';
import {
  FORECAST_RESOURCE,
  type DeviationAssessment,
  type ForecastPoint,
  type ForecastRequest,
  type ForecastResult,
  type SeriesHistory,
} from './types.js';

/** Recent actuals the live anomaly check compares with the forecast made just before them (30 min of 5-min steps). */
export const ANOMALY_WINDOW_STEPS = 6;

/**
 * The two requests for one resource: `ahead`, the pair's demand over the longest horizon; `before`, the same history
 * without its last ANOMALY_WINDOW_STEPS samples, forecast over them (undefined when the history is too short).
 */
export function pairForecastRequests(args: {
  hostId: string;
  resource: MeasuredResource;
  history: SeriesHistory;
  horizonMinutes: number;
  now: number;
  context?: ForecastRequest['context'];
}): { ahead: ForecastRequest; before: ForecastRequest | undefined } {
  const ahead: ForecastRequest = {
    hostId: args.hostId,
    resource: FORECAST_RESOURCE[args.resource],
    history: args.history,
    horizonMinutes: args.horizonMinutes,
    now: args.now,
    ...(args.context ? { context: args.context } : {}),
  };
  const cut = args.history.values.length - ANOMALY_WINDOW_STEPS;
  const before =
    cut > 0
      ? {
          ...ahead,
          history: { timestamps: args.history.timestamps.slice(0, cut), values: args.history.values.slice(0, cut) },
          horizonMinutes: ANOMALY_WINDOW_STEPS * 5,
          context: undefined,
        }
      : undefined;
  return { ahead, before };
}

/**
 * The anomaly check judges actuals against the 99% interval, not the forecasters' 80% (every model's
 * `intervalWidth`): an actual outside an 80% interval is one step in five by construction, and a spike verdict that
 * often holds back one scale-out in ten.
 */
const Z_99 = 2.5758293035489;
const ANOMALY_INTERVAL_SCALE = Z_99 / Z_80;

function widened(points: ForecastPoint[]): ForecastPoint[] {
  return points.map((p) => ({
    ...p,
    lower: Math.max(0, p.yhat - (p.yhat - p.lower) * ANOMALY_INTERVAL_SCALE),
    upper: p.yhat + (p.upper - p.yhat) * ANOMALY_INTERVAL_SCALE,
  }));
}

/** A peak of the pair's whole demand as the primary's: scaled by the share of the load still on the primary. */
export function primaryShareOf(peak: ForecastPeak, residentShare: number): ForecastPeak {
  return {
    ...peak,
    peakPercent: peak.peakPercent * residentShare,
    ...(peak.upperPercent !== undefined ? { upperPercent: peak.upperPercent * residentShare } : {}),
  };
}

export interface ResourceForecast {
  resource: MeasuredResource;
  /** The pair's demand history the forecast was made from. */
  history: SeriesHistory;
  /** The primary's own utilisation now: its share of the pair's demand scales the primary's peaks. */
  primaryNow: number;
  ahead: ForecastResult;
  /** The forecast made just before the last ANOMALY_WINDOW_STEPS actuals, when there was one. */
  before?: ForecastResult;
}

/**
 * The primary's peaks per horizon (the pair's scaled by the share of the load still on the primary now), the pair's
 * own peaks, the model of the first resource, and whether the newest actual is an isolated spike above the forecast
 * with no sustained shift on any resource (a shift must move the decision; a spike must not).
 */
export function summarisePairForecast(
  forecasts: ResourceForecast[],
  horizonsMinutes: number[],
  issuedAt: number,
): { summary: ForecastSummary; assessments: { resource: MeasuredResource; assessment: DeviationAssessment }[] } {
  const horizon = Math.max(...horizonsMinutes);
  const peaks: ForecastSummary['peaks'] = [];
  const pairPeaks: ForecastSummary['peaks'] = [];
  const pairNowByResource: NonNullable<ForecastSummary['pairNow']> = [];
  const assessments: { resource: MeasuredResource; assessment: DeviationAssessment }[] = [];
  let spike = false;
  let sustained = false;
  let model: ForecastSummary['model'];
  for (const { resource, history, primaryNow, ahead, before } of forecasts) {
    model ??= { modelType: ahead.model, version: ahead.modelVersion, parameters: {}, predictionHorizon: horizon };
    const pairNow = history.values[history.values.length - 1] ?? 0;
    const residentShare = pairNow > 0 ? Math.min(1, primaryNow / pairNow) : 1;
    pairNowByResource.push({ resource, percent: pairNow });
    for (const h of horizonsMinutes) {
      const within = ahead.points.filter((p) => p.timestamp <= issuedAt + h * 60_000);
      const peak = within.reduce((best, p) => (p.yhat > best.yhat ? p : best), within[0] ?? ahead.peak);
      const upper = Math.max(peak.upper, ...within.map((p) => p.upper));
      const pairPeak = {
        horizonMinutes: h,
        resource,
        peakPercent: peak.yhat,
        upperPercent: upper,
        peakAt: peak.timestamp,
      };
      pairPeaks.push(pairPeak);
      peaks.push(primaryShareOf(pairPeak, residentShare));
    }
    if (!before) continue;
    const actuals = history.timestamps.slice(-ANOMALY_WINDOW_STEPS).map((timestamp, i) => ({
      timestamp,
      value: history.values[history.values.length - ANOMALY_WINDOW_STEPS + i]!,
    }));
    const assessment = assessDeviation(widened(before.points), actuals);
    const newest = actuals[actuals.length - 1];
    const newestFlag = assessment.flags.find((f) => f.timestamp === newest?.timestamp);
    if (assessment.kind === 'sustained_shift') sustained = true;
    else if (assessment.kind === 'isolated_spike' && newestFlag?.direction === 'above') spike = true;
    assessments.push({ resource, assessment });
  }
  return {
    summary: {
      issuedAt,
      peaks,
      pairPeaks,
      pairNow: pairNowByResource,
      ...(spike && !sustained ? { isolatedSpike: true } : {}),
      ...(model ? { model } : {}),
    },
    assessments,
  };
}
