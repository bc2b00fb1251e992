/**
 * Forecasting activities: score a forecast (concurrent calls from many pair workflows share one ONNX run through
 * the forecaster's micro-batcher), flag actuals that left the interval and write forecasts and flags to InfluxDB
 * through the metrics store, and reload model versions after a retrain. Built by a factory over the forecaster
 * and the metrics store.
 */
import { ApplicationFailure } from '@temporalio/common';
import {
  ForecastInputError,
  type DeviationAssessment,
  type Forecaster,
  type ForecastInputErrorInfo,
  type ForecastRequest,
  type ForecastResult,
  type ModelVersionInfo,
  type Resource as ForecastResource,
  FORECAST_RESOURCE,
  MEASURED_RESOURCE,
} from '../src/forecast/types.js';
import { MicroBatcher } from '../src/forecast/microBatcher.js';
import { windowHistory } from '../src/metrics/utilisation.js';
import type { ForecastPoint as StoredForecastPoint, MetricsStore, UtilisationWindow } from '../src/metrics/types.js';
import { anomalyEvents, assessDeviation, type Actual, type DeviationOptions } from '../src/shared/anomaly.js';
import { FailureType } from '../src/shared/failures.js';

export interface ForecastingDependencies {
  forecaster: Forecaster;
  /** Where forecasts and anomaly flags are written (`understudy_forecast`, `understudy_anomaly`); optional. */
  metrics?: Pick<MetricsStore, 'writeForecasts' | 'writeAnomalies'> & Partial<Pick<MetricsStore, 'readUtilisation'>>;
}

export interface ForecastHostInput {
  hostId: string;
  /** Link speed, for the network utilisation (see HostToRead). */
  networkMbps?: number;
  horizonMinutes: number;
  /** Data time "now" (epoch ms): history is read up to it. */
  now: number;
  /** History to read (default two days: seasonal-naive needs one, its interval another). */
  historyMinutes?: number;
}

export interface ForecastHostResult {
  hostId: string;
  /** One forecast per resource that had data. */
  forecasts: Partial<Record<ForecastResource, ForecastResult>>;
  /** Data problems and per-resource failures, for the pair's state. */
  issues: string[];
}

const STEP_SECONDS = 300;

/**
 * Forecasts whole hosts: concurrent calls (one per pair workflow) with the same data window share ONE metrics
 * read for all their hosts and ONE forecaster batch (so one ONNX run per model) for all their resources; each
 * resource's forecast gets the host's other resources as context for the multi-resource LSTM.
 */
async function forecastHosts(
  forecaster: Forecaster,
  metrics: Pick<MetricsStore, 'readUtilisation'>,
  inputs: ForecastHostInput[],
): Promise<(ForecastHostResult | Error)[]> {
  const out: (ForecastHostResult | Error)[] = new Array<ForecastHostResult | Error>(inputs.length);
  const groups = new Map<string, number[]>();
  inputs.forEach((input, i) => {
    const key = `${input.now}|${input.historyMinutes ?? 2880}`;
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  for (const members of groups.values()) {
    const first = inputs[members[0]!]!;
    const end = first.now + 1;
    const start = end - (first.historyMinutes ?? 2880) * 60_000;
    let windows: UtilisationWindow[];
    try {
      windows = await metrics.readUtilisation({
        hosts: members.map((i) => ({ hostId: inputs[i]!.hostId, networkMbps: inputs[i]!.networkMbps })),
        start: new Date(start),
        end: new Date(end),
        stepSeconds: STEP_SECONDS,
      });
    } catch (error) {
      for (const i of members) out[i] = error instanceof Error ? error : new Error(String(error));
      continue;
    }
    const requests: ForecastRequest[] = [];
    const owners: { input: number; resource: ForecastResource }[] = [];
    for (const i of members) {
      const input = inputs[i]!;
      const mine = windows.filter((w) => w.hostId === input.hostId);
      const issues = mine.flatMap((w) =>
        w.issues.filter((x) => x.kind !== 'gap').map((x) => `${w.resource}: ${x.kind} — ${x.detail}`),
      );
      out[i] = { hostId: input.hostId, forecasts: {}, issues };
      const histories = mine
        .map((w) => ({ resource: FORECAST_RESOURCE[w.resource], history: windowHistory(w) }))
        .filter((h) => h.history.values.length > 0);
      for (const h of histories) {
        requests.push({
          hostId: input.hostId,
          resource: h.resource,
          history: h.history,
          horizonMinutes: input.horizonMinutes,
          now: input.now,
          context: Object.fromEntries(histories.filter((o) => o !== h).map((o) => [o.resource, o.history])),
        });
        owners.push({ input: i, resource: h.resource });
      }
    }
    const results = await forecaster.forecastMany(requests);
    results.forEach((r, k) => {
      const owner = owners[k]!;
      const host = out[owner.input] as ForecastHostResult;
      if ('error' in r) host.issues.push(`${owner.resource} forecast: ${r.error}`);
      else {
        host.forecasts[owner.resource] = r;
        for (const w of r.warnings) host.issues.push(`${owner.resource} forecast: ${w}`);
      }
    });
  }
  return out;
}

export interface RecordDeviationInput {
  forecast: ForecastResult;
  actuals: Actual[];
  options?: DeviationOptions;
  /** Also write the forecast points (default true). */
  writeForecast?: boolean;
}

const invalid = (error: unknown): never => {
  if (error instanceof ForecastInputError) {
    throw ApplicationFailure.create({ type: FailureType.InvalidInput, message: error.message, nonRetryable: true });
  }
  throw error;
};

export function createForecastingActivities({ forecaster, metrics }: ForecastingDependencies) {
  const reader = metrics?.readUtilisation ? { readUtilisation: metrics.readUtilisation.bind(metrics) } : undefined;
  const hostBatcher = reader
    ? new MicroBatcher<ForecastHostInput, ForecastHostResult>((inputs) => forecastHosts(forecaster, reader, inputs), {
        maxBatch: 10_000,
        maxDelayMs: 5,
      })
    : undefined;
  return {
    /**
     * Reads a host's four resources from the metrics store and forecasts each. Concurrent calls are batched: one
     * metrics read for all their hosts, one ONNX run per model for all their series.
     */
    forecastHost(input: ForecastHostInput): Promise<ForecastHostResult> {
      if (!hostBatcher) return Promise.reject(new Error('forecastHost needs a metrics store that can readUtilisation'));
      return hostBatcher.submit(input);
    },

    /** One series' forecast; bad input fails with a non-retryable InvalidInput naming the series. */
    async forecast(request: ForecastRequest): Promise<ForecastResult> {
      return forecaster.forecast(request).catch(invalid);
    },

    /** Many series in one call; a bad item comes back as `{ error, seriesId }` instead of failing the rest. */
    async forecastMany(requests: ForecastRequest[]): Promise<(ForecastResult | ForecastInputErrorInfo)[]> {
      return forecaster.forecastMany(requests);
    },

    /**
     * Flags actuals outside the forecast interval, classifies the deviation (isolated spike or sustained shift)
     * and writes the forecast and the flags through the metrics store beside the actuals. Idempotent: points
     * are keyed by host, resource and time, so a retry overwrites the same points.
     */
    async recordDeviation(input: RecordDeviationInput): Promise<DeviationAssessment> {
      const { forecast } = input;
      const assessment = assessDeviation(forecast.points, input.actuals, input.options);
      if (!metrics) return assessment;
      const resource = MEASURED_RESOURCE[forecast.resource];
      const issuedAt = new Date((forecast.points[0]?.timestamp ?? 0) - 5 * 60_000);
      if (input.writeForecast ?? true) {
        const points: StoredForecastPoint[] = forecast.points.map((p, i) => ({
          hostId: forecast.hostId,
          resource,
          time: new Date(p.timestamp),
          issuedAt,
          model: forecast.model,
          modelVersion: forecast.modelVersion,
          horizonMinutes: (i + 1) * 5,
          yhat: p.yhat,
          yhatLower: p.lower,
          yhatUpper: p.upper,
        }));
        await metrics.writeForecasts(points);
      }
      const events = anomalyEvents(forecast.hostId, resource, assessment);
      if (events.length > 0) await metrics.writeAnomalies(events);
      return assessment;
    },

    /** Swaps in any newer model version now (workers also poll on their own); returns what is loaded. */
    async reloadForecastModels(): Promise<ModelVersionInfo[]> {
      return forecaster.reload();
    },
  };
}

export type ForecastingActivities = ReturnType<typeof createForecastingActivities>;
