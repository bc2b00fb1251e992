/**
 * Forecasting activities: score a forecast (concurrent calls from many pair workflows share one ONNX run through
 * the forecaster's micro-batcher), flag actuals that left the interval and write forecasts and flags to InfluxDB,
 * and reload model versions after a retrain. Built by a factory over the forecaster and the InfluxDB client.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { InfluxDB, IPoint } from 'influx';
import {
  ForecastInputError,
  type DeviationAssessment,
  type Forecaster,
  type ForecastInputErrorInfo,
  type ForecastRequest,
  type ForecastResult,
  type ModelVersionInfo,
} from '../src/forecast/types.js';
import { assessDeviation, type Actual, type DeviationOptions } from '../src/shared/anomaly.js';
import { FailureType } from '../src/shared/failures.js';

export interface ForecastingDependencies {
  forecaster: Forecaster;
  /** Where forecasts and anomaly flags are written; without it `recordDeviation` only assesses. */
  influx?: InfluxDB;
}

export const FORECAST_MEASUREMENT = 'understudy_forecast';
export const ANOMALY_MEASUREMENT = 'understudy_anomaly';

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

export function createForecastingActivities({ forecaster, influx }: ForecastingDependencies) {
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
     * and writes the forecast and the flags to InfluxDB beside the actuals. Idempotent: points are keyed by
     * host, resource and timestamp, so a retry overwrites the same points.
     */
    async recordDeviation(input: RecordDeviationInput): Promise<DeviationAssessment> {
      const assessment = assessDeviation(input.forecast.points, input.actuals, input.options);
      if (influx) {
        const tags = { host: input.forecast.hostId, resource: input.forecast.resource };
        const points: IPoint[] = [];
        if (input.writeForecast ?? true) {
          for (const p of input.forecast.points) {
            points.push({
              measurement: FORECAST_MEASUREMENT,
              tags: { ...tags, model: input.forecast.model },
              fields: { yhat: p.yhat, lower: p.lower, upper: p.upper, model_version: input.forecast.modelVersion },
              timestamp: new Date(p.timestamp),
            });
          }
        }
        for (const f of assessment.flags) {
          points.push({
            measurement: ANOMALY_MEASUREMENT,
            tags: { ...tags, direction: f.direction },
            fields: { actual: f.actual, yhat: f.yhat, lower: f.lower, upper: f.upper, kind: assessment.kind },
            timestamp: new Date(f.timestamp),
          });
        }
        if (points.length > 0) await influx.writePoints(points, { precision: 'ms' });
      }
      return assessment;
    },

    /** Swaps in any newer model version now (workers also poll on their own); returns what is loaded. */
    async reloadForecastModels(): Promise<ModelVersionInfo[]> {
      return forecaster.reload();
    },
  };
}

export type ForecastingActivities = ReturnType<typeof createForecastingActivities>;
