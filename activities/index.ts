/**
 * Activities: the only code that touches the outside world on behalf of workflows. Built by a factory taking
 * their dependencies, so tests pass real services or typed fakes (`ReturnType<typeof createActivities>`).
 */
import { Context } from '@temporalio/activity';
import type { InfluxDB } from 'influx';
import type { LoadedModel } from '../src/forecast/onnxModel.js';
import type { ProbeResult } from '../src/shared/probe.js';

export interface ActivityDependencies {
  influx: InfluxDB;
  baselines: LoadedModel;
}

/** Measurement the stack probe writes to; kept apart from the Telegraf measurements the fleet writes. */
export const PROBE_MEASUREMENT = 'understudy_probe';

export function createActivities({ influx, baselines }: ActivityDependencies) {
  return {
    /** Writes one point tagged with this activity's id and reads it back: proves the metrics path end to end. */
    async probeMetricsStore(): Promise<ProbeResult> {
      const started = Date.now();
      const { activityId, workflowExecution } = Context.current().info;
      const probeId = `${workflowExecution?.workflowId ?? 'standalone'}/${activityId}`;
      const value = started % 100_000;
      await influx.writePoints([{ measurement: PROBE_MEASUREMENT, tags: { probe: probeId }, fields: { value } }]);
      const rows = await influx.query<{ value: number }>(
        `SELECT last("value") AS "value" FROM "${PROBE_MEASUREMENT}" WHERE "probe" = '${probeId.replaceAll("'", "\\'")}'`,
      );
      const readBack = rows[0]?.value;
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
