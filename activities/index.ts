/**
 * Activities: the only code that touches the outside world on behalf of workflows. Built by a factory taking
 * their dependencies, so tests pass real services or typed fakes (`ReturnType<typeof createActivities>`).
 */
import { Context } from '@temporalio/activity';
import type { LoadedModel } from '../src/forecast/onnxModel.js';
import type { MetricsStore } from '../src/metrics/types.js';
import type { ProbeResult } from '../src/shared/probe.js';

export interface ActivityDependencies {
  metrics: MetricsStore;
  baselines: LoadedModel;
}

export function createActivities({ metrics, baselines }: ActivityDependencies) {
  return {
    /**
     * Writes one forecast point for a host named after this activity and reads it back through the configured
     * metrics store (InfluxDB 1.x or 2.x): proves the metrics path end to end.
     */
    async probeMetricsStore(): Promise<ProbeResult> {
      const started = Date.now();
      const { activityId, workflowExecution } = Context.current().info;
      const hostId = `probe-${workflowExecution?.runId ?? 'standalone'}-${activityId}`;
      const value = started % 100_000;
      const time = new Date(started);
      await metrics.writeForecasts([
        {
          hostId,
          resource: 'cpu',
          time,
          issuedAt: time,
          model: 'probe',
          modelVersion: '1',
          horizonMinutes: 0,
          yhat: value,
        },
      ]);
      const points = await metrics.readForecasts({
        hostIds: [hostId],
        start: new Date(started - 1),
        end: new Date(started + 1),
      });
      const readBack = points[0]?.yhat;
      return {
        ok: readBack === value,
        detail: readBack === value ? `wrote and read back ${value}` : `wrote ${value}, read back ${String(readBack)}`,
        elapsedMs: Date.now() - started,
      };
    },

    /** Scores the baseline ONNX model on a known series and checks the seasonal-naive answer. */
    async probeForecaster(): Promise<ProbeResult> {
      const started = Date.now();
      const steps = baselines.inputSteps;
      const history = Float32Array.from({ length: steps }, (_, i) => 50 + 40 * Math.sin((2 * Math.PI * i) / steps));
      const { seasonal_naive: seasonal } = await baselines.score([history]);
      const forecast = seasonal?.[0];
      const ok = forecast !== undefined && forecast.every((v, i) => v === history[i]);
      return {
        ok,
        detail: ok
          ? `${baselines.manifest.model_type} v${baselines.manifest.version} forecast ${forecast.length} steps`
          : `${baselines.manifest.model_type} v${baselines.manifest.version} gave a wrong seasonal-naive forecast`,
        elapsedMs: Date.now() - started,
      };
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
