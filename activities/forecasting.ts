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
} from '../src/forecast/types.js';
import type {
  AnomalyEvent,
  ForecastPoint as StoredForecastPoint,
  MetricsStore,
  Resource,
} from '../src/metrics/types.js';
import { assessDeviation, type Actual, type DeviationOptions } from '../src/shared/anomaly.js';
import { FailureType } from '../src/shared/failures.js';

export interface ForecastingDependencies {
  forecaster: Forecaster;
  /** Where forecasts and anomaly flags are written (`understudy_forecast`, `understudy_anomaly`); optional. */
  metrics?: Pick<MetricsStore, 'writeForecasts' | 'writeAnomalies'>;
}

/** The forecaster names resources as Telegraf measurements, the metrics store by what they measure. */
const STORE_RESOURCE: Record<ForecastResource, Resource> = {
  cpu: 'cpu',
  mem: 'memory',
  diskio: 'storage',
  net: 'network',
};

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
  return {
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
      const resource = STORE_RESOURCE[forecast.resource];
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
      const events: AnomalyEvent[] = assessment.flags.map((f) => ({
        hostId: forecast.hostId,
        resource,
        time: new Date(f.timestamp),
        kind: assessment.kind === 'sustained_shift' ? 'sustained-shift' : f.direction === 'above' ? 'spike' : 'drop',
        actual: f.actual,
        expected: f.yhat,
        deviation: f.direction === 'above' ? f.actual - f.upper : f.actual - f.lower,
        detail: assessment.reason,
      }));
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
