/**
 * The baseline forecasters in TypeScript: what every learned model must beat, and the fallback that needs no
 * artifact at all (so a missing or corrupt model never leaves a pair without a forecast). Same definitions as
 * the trainer's validation (models/understudy_trainer/train.py) and the ONNX baselines graph:
 * naive = last value; seasonal_naive = the value one day earlier; short_mean = mean of the last 6 samples.
 * Interval: yhat -/+ z * RMSE of the same forecaster at that step over the last day of the history itself.
 */
import type { ModelName } from './types.js';

export const SEASON_STEPS = 288;
export const SHORT_MEAN_STEPS = 6;
export type BaselineName = Extract<ModelName, 'naive' | 'seasonal_naive' | 'short_mean'>;
export const BASELINES: readonly BaselineName[] = ['naive', 'seasonal_naive', 'short_mean'];
/** Normal quantile for an 80% central interval. */
export const Z_80 = 1.2815515655446004;

/** Forecast for steps 1..steps from values[0..origin] (inclusive); NaN where the baseline has no data. */
export function baselinePoint(name: BaselineName, values: ArrayLike<number>, origin: number, step: number): number {
  switch (name) {
    case 'naive':
      return values[origin]!;
    case 'seasonal_naive': {
      const i = origin + step - SEASON_STEPS;
      return i >= 0 && i <= origin ? values[i]! : Number.NaN;
    }
    case 'short_mean': {
      let sum = 0;
      let n = 0;
      for (let i = Math.max(0, origin - SHORT_MEAN_STEPS + 1); i <= origin; i++) {
        const v = values[i]!;
        if (!Number.isNaN(v)) {
          sum += v;
          n++;
        }
      }
      return n > 0 ? sum / n : Number.NaN;
    }
  }
}

/** Whether `name` can forecast `steps` ahead from `length` samples. */
export function baselineEligible(name: BaselineName, length: number, steps: number): boolean {
  if (length < 1) return false;
  if (name === 'seasonal_naive') return length >= SEASON_STEPS && steps <= SEASON_STEPS;
  return true;
}

export interface BaselineForecast {
  yhat: Float64Array;
  lower: Float64Array;
  upper: Float64Array;
}

/** Forecast with interval from the last sample of `values` (no NaN expected: pass a filled tail). */
export function baselineForecast(
  name: BaselineName,
  values: ArrayLike<number>,
  steps: number,
  z = Z_80,
): BaselineForecast {
  const origin = values.length - 1;
  const yhat = new Float64Array(steps);
  const lower = new Float64Array(steps);
  const upper = new Float64Array(steps);
  const firstOrigin = Math.max(name === 'seasonal_naive' ? SEASON_STEPS - 1 : 0, origin - SEASON_STEPS);
  for (let h = 1; h <= steps; h++) {
    yhat[h - 1] = baselinePoint(name, values, origin, h);
    let sq = 0;
    let n = 0;
    for (let o = firstOrigin; o + h <= origin; o++) {
      const e = values[o + h]! - baselinePoint(name, values, o, h);
      if (Number.isFinite(e)) {
        sq += e * e;
        n++;
      }
    }
    const half = n > 0 ? z * Math.sqrt(sq / n) : Math.abs(yhat[h - 1]!) * 0.1;
    lower[h - 1] = Math.max(0, yhat[h - 1]! - half);
    upper[h - 1] = yhat[h - 1]! + half;
  }
  return { yhat, lower, upper };
}
