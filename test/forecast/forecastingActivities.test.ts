// The forecasting activities against the real embedded InfluxDB: forecasts and anomaly flags are written beside
// the actuals; bad input becomes a non-retryable InvalidInput failure.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createForecastingActivities } from '../../activities/forecasting.js';
import { createForecaster, type OnnxForecaster } from '../../src/forecast/forecaster.js';
import { influxV1MetricsStore } from '../../src/metrics/influxV1Store.js';
import type { MetricsStore, UtilisationQuery, UtilisationWindow } from '../../src/metrics/types.js';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { testConfig } from '../helpers/temporal.js';

describe('forecasting activities', () => {
  let forecaster: OnnxForecaster;
  const metrics = influxV1MetricsStore(testConfig());

  beforeAll(async () => {
    forecaster = await createForecaster({ artifactsDir: join(PROJECT_ROOT, 'models', 'artifacts'), pollIntervalMs: 0 });
  });
  afterAll(() => forecaster.close());

  it('forecasts, flags a sustained shift and writes both to InfluxDB', async () => {
    const activities = createForecastingActivities({ forecaster, metrics });
    const host = `test-${randomUUID().slice(0, 8)}`;
    const end = Date.now() - 3_600_000;
    const timestamps = Array.from({ length: 300 }, (_, i) => end - (299 - i) * 300_000);
    const forecast = await activities.forecast({
      hostId: host,
      resource: 'cpu',
      history: { timestamps, values: timestamps.map((_, i) => 30 + (i % 4)) },
      horizonMinutes: 30,
    });
    expect(forecast.points).toHaveLength(6);
    const actuals = forecast.points.map((p, i) => ({ timestamp: p.timestamp, value: i < 3 ? p.yhat : p.upper + 25 }));
    const assessment = await activities.recordDeviation({ forecast, actuals });
    expect(assessment.kind).toBe('sustained_shift');
    expect(assessment.affectsScaling).toBe(true);
    const window = { hostIds: [host], start: new Date(end - 3_600_000), end: new Date(end + 3 * 3_600_000) };
    const written = await metrics.readForecasts(window);
    expect(written).toHaveLength(6);
    expect(written.every((p) => p.resource === 'cpu' && p.model === forecast.model)).toBe(true);
    const flags = await metrics.readAnomalies(window);
    expect(flags.map((f) => f.kind)).toEqual(['sustained-shift', 'sustained-shift', 'sustained-shift']);
    expect(flags.every((f) => f.deviation === 25 || Math.abs(f.deviation - 25) < 1e-6)).toBe(true);
  });

  it('forecasts many hosts with one metrics read and one ONNX run', async () => {
    const queries: UtilisationQuery[] = [];
    const now = Date.UTC(2026, 10, 20, 12);
    const fake: Pick<MetricsStore, 'readUtilisation' | 'writeForecasts' | 'writeAnomalies'> = {
      readUtilisation(query) {
        queries.push(query);
        const steps = (query.end.getTime() - query.start.getTime()) / (query.stepSeconds * 1000);
        return Promise.resolve(
          query.hosts.flatMap((h, k) =>
            (['cpu', 'memory', 'storage', 'network'] as const).map((resource, r): UtilisationWindow => ({
              hostId: h.hostId,
              resource,
              start: query.start.toISOString(),
              stepSeconds: query.stepSeconds,
              values: Array.from({ length: Math.floor(steps) }, (_, i) => (i === 5 ? null : 20 + r * 10 + k + (i % 6))),
              issues: [],
            })),
          ),
        );
      },
      writeForecasts: () => Promise.resolve(),
      writeAnomalies: () => Promise.resolve(),
    };
    const activities = createForecastingActivities({ forecaster, metrics: fake });
    const runsBefore = forecaster.registry.lstm!.stats.runs;
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        activities.forecastHost({ hostId: `pair-host-${i}`, horizonMinutes: 60, now }),
      ),
    );
    expect(queries).toHaveLength(1);
    expect(queries[0]!.hosts).toHaveLength(30);
    expect(forecaster.registry.lstm!.stats.runs - runsBefore).toBe(1);
    for (const r of results) {
      expect(Object.keys(r.forecasts).sort()).toEqual(['cpu', 'diskio', 'mem', 'net']);
      expect(r.forecasts.cpu!.model).toBe('lstm');
      expect(r.forecasts.net!.points).toHaveLength(12);
    }
  });

  it('turns bad input into a non-retryable InvalidInput naming the series', async () => {
    const activities = createForecastingActivities({ forecaster });
    const error = await activities
      .forecast({ hostId: 'h9', resource: 'mem', history: { timestamps: [1, 2], values: [1, -1] }, horizonMinutes: 15 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect((error as ApplicationFailure).type).toBe('InvalidInput');
    expect((error as ApplicationFailure).nonRetryable).toBe(true);
    expect((error as ApplicationFailure).message).toContain('h9/mem');
  });
});
