/**
 * The forecasting contract the orchestration codes against: one request per (host, resource) series, one answer
 * with points, the model that made them and any warnings. Plain JSON-able objects only (timestamps are epoch
 * milliseconds, UTC), so a request and its result travel through Temporal activity payloads unchanged.
 * No Node built-ins and no I/O here.
 */
import type { Resource as MeasuredResource } from '../provider/types.js';

/** Resources the metrics layer turns into utilisation percent of the host's capacity. */
export type Resource = 'cpu' | 'mem' | 'diskio' | 'net';

export const RESOURCES: readonly Resource[] = ['cpu', 'mem', 'diskio', 'net'];

/** The forecaster names a resource by its Telegraf measurement; the provider, the policy and the metrics store by what it measures. */
export const FORECAST_RESOURCE: Readonly<Record<MeasuredResource, Resource>> = {
  cpu: 'cpu',
  memory: 'mem',
  storage: 'diskio',
  network: 'net',
};
export const MEASURED_RESOURCE: Readonly<Record<Resource, MeasuredResource>> = {
  cpu: 'cpu',
  mem: 'memory',
  diskio: 'storage',
  net: 'network',
};

/** A utilisation history, oldest first: `timestamps[i]` (epoch ms, UTC) carries `values[i]` (percent, >= 0). */
export interface SeriesHistory {
  timestamps: number[];
  values: number[];
}

export interface ForecastRequest {
  /** Key of the series in the trained models; defaults to `${hostId}/${resource}`. */
  seriesId?: string;
  hostId: string;
  resource: Resource;
  /**
   * Recent history of this series, oldest first. At least one day (288 five-minute samples) gives every model a
   * chance; shorter histories fall back to the short-mean baseline with a warning. Irregular steps, duplicate
   * timestamps and small gaps are regularised onto the model's step; out-of-order timestamps, NaN, negative
   * values and timestamps after `now` are rejected with a `ForecastInputError` naming the series.
   */
  history: SeriesHistory;
  /** Minutes ahead to forecast (e.g. 15 or 60); points come at the model step (5 min) up to this horizon. */
  horizonMinutes: number;
  /** The other resources of the same host over the same window, when known; the global LSTM uses them. */
  context?: Partial<Record<Resource, SeriesHistory>>;
  /** Wall-clock "now" in epoch ms (default: the worker's clock); history after it is an error. */
  now?: number;
}

export interface ForecastPoint {
  /** Epoch ms, UTC. */
  timestamp: number;
  yhat: number;
  /** Lower and upper bound of the forecast interval (80% by default; see `ForecastResult.intervalWidth`). */
  lower: number;
  upper: number;
}

/** Names of the forecasters; `baselines` ones are computed in TypeScript as well as shipped as ONNX. */
export type ModelName = 'prophet' | 'lstm' | 'seasonal_naive' | 'short_mean' | 'naive';

export interface ForecastResult {
  seriesId: string;
  hostId: string;
  resource: Resource;
  /** One point per model step after the last history sample, up to `horizonMinutes`. */
  points: ForecastPoint[];
  model: ModelName;
  /** Version of the model artifact (manifest `version`), or `builtin` for the TypeScript baselines. */
  modelVersion: string;
  /** Nominal coverage of [lower, upper], e.g. 0.8. */
  intervalWidth: number;
  /** The point with the highest `yhat`, i.e. what a scaling trigger compares with its threshold. */
  peak: ForecastPoint;
  /** Why the preferred model was not used (missing, stale, corrupt, series unknown, history too short...). */
  warnings: string[];
}

/** What a loaded model version looks like from outside, for status output and the `state` query. */
export interface ModelVersionInfo {
  model: ModelName;
  version: string;
  dir: string;
  loadedAt: number;
  /** Series the model was fitted on (Prophet) or trained over (LSTM). */
  series: number;
}

export interface Forecaster {
  /**
   * Forecasts one series. Concurrent calls are batched into one ONNX run per model. Bad input rejects with a
   * `ForecastInputError` (naming the series); a missing or broken model never rejects: a baseline answers and
   * `warnings` says why.
   */
  forecast(request: ForecastRequest): Promise<ForecastResult>;
  /** Forecasts many series at once (one ONNX run per model); results in request order, errors per item. */
  forecastMany(requests: ForecastRequest[]): Promise<(ForecastResult | ForecastInputErrorInfo)[]>;
  /** Rescans the model directory and swaps in any newer valid version; returns what is loaded now. */
  reload(): Promise<ModelVersionInfo[]>;
  /** The model versions in use. */
  models(): ModelVersionInfo[];
  close(): Promise<void>;
}

/** A request that was rejected, as an element of `forecastMany`'s answer. */
export interface ForecastInputErrorInfo {
  error: string;
  seriesId: string;
}

/** Whether actuals left the forecast interval, and whether that deviation should move a scaling decision. */
export type DeviationKind = 'none' | 'isolated_spike' | 'sustained_shift';

export interface AnomalyFlag {
  timestamp: number;
  actual: number;
  yhat: number;
  lower: number;
  upper: number;
  /** 'above' or 'below' the interval. */
  direction: 'above' | 'below';
}

export interface DeviationAssessment {
  kind: DeviationKind;
  /** Points outside the interval, oldest first. */
  flags: AnomalyFlag[];
  /** True only for a sustained shift: an isolated spike must not move a scaling decision. */
  affectsScaling: boolean;
  reason: string;
}

/** Bad forecast input (out-of-order or future timestamps, NaN or negative values...); the message names the series. */
export class ForecastInputError extends Error {
  constructor(
    readonly seriesId: string,
    message: string,
  ) {
    super(`series ${seriesId}: ${message}`);
    this.name = 'ForecastInputError';
  }
}
