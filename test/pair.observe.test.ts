// observePair's forecast input and live anomaly check, with the real ONNX forecaster over crafted metric windows:
// the pair's whole demand is forecast (the shadow's load counted back in), a lone burst is flagged and vetoed, a
// sustained one moves the decision. The pair loop runs the same code end to end in pair.scaling.test.ts.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrchestrationActivities } from '../activities/orchestration.js';
import { createForecaster, type OnnxForecaster } from '../src/forecast/forecaster.js';
import type { ForecastPoint } from '../src/metrics/types.js';
import { decideScaling } from '../src/policy/scaling.js';
import type { FleetSnapshot } from '../src/provider/types.js';
import { PROJECT_ROOT } from '../src/stack/paths.js';
import {
  CAPACITY,
  NOW,
  POLICY,
  STEPS,
  host,
  observeWith,
  windowsFor,
  workload,
  type ForecastPeakLike,
} from './helpers/observation.js';

describe('observePair: what the policy is fed', () => {
  let forecaster: OnnxForecaster;
  beforeAll(async () => {
    forecaster = await createForecaster({ artifactsDir: join(PROJECT_ROOT, 'models', 'artifacts'), pollIntervalMs: 0 });
  });
  afterAll(() => forecaster.close());

  const primaryRef = { hostId: 'p-obs', region: 'eu-west', zone: 'eu-west-a', capacity: CAPACITY };
  const input = {
    pairId: 'pair-obs',
    primary: primaryRef,
    shadowHostId: 's-obs',
    horizonsMinutes: [15, 60],
    historyMinutes: STEPS * 5,
    stepSeconds: 300,
  };

  async function observe(primaryTail: number[]) {
    const fleet: FleetSnapshot = {
      now: new Date(NOW).toISOString(),
      hosts: [host('p-obs', 'primary', 'active', 1, ['w-1', 'w-2']), host('s-obs', 'shadow', 'inactive', 0.15, [])],
      workloads: [workload('w-1', 'p-obs'), workload('w-2', 'p-obs')],
    };
    const { provider, metrics, anomalies } = observeWith(fleet, { 'p-obs': windowsFor('p-obs', 40, primaryTail) });
    const activities = createOrchestrationActivities({ provider, metrics, forecaster });
    const observation = await activities.observePair(input);
    const decision = decideScaling({
      pair: {
        pairId: 'pair-obs',
        primary: observation.primary,
        shadow: observation.shadow,
        workloads: observation.workloads,
        movedToShadow: [],
      },
      forecast: observation.forecast!,
      policy: POLICY,
      memory: {},
      now: observation.now,
    });
    return { observation, decision, anomalies };
  }

  it('flags a lone burst live and writes it; the primary measured past the threshold is still answered', async () => {
    const { observation, decision, anomalies } = await observe([95]);
    expect(observation.forecast?.isolatedSpike).toBe(true);
    const cpu = anomalies.filter((a) => a.resource === 'cpu');
    expect(cpu.map((a) => [a.kind, a.actual])).toEqual([['spike', 95]]);
    // The spike holds back only what the forecast predicts (policy.scaling.test.ts); the shadow alone would take this.
    expect(decision.action.kind).toBe('activate-shadow-and-migrate');
    expect(decision.reason).toContain('cpu is at 95% now');
  });

  it('acts on a sustained burst at once, even before the forecast catches up', async () => {
    const { observation, decision, anomalies } = await observe([95, 95, 95]);
    expect(observation.forecast?.isolatedSpike).toBeUndefined();
    expect(anomalies.filter((a) => a.kind === 'sustained-shift')).toHaveLength(3);
    expect(decision.action.kind).toBe('activate-shadow-and-migrate');
  });

  it("forecasts the pair's whole demand once workloads have moved, and the primary's share of it", async () => {
    // w-1 runs on a half-size shadow at 50% (a quarter of a primary); the primary carries 40% with w-2.
    const fleet: FleetSnapshot = {
      now: new Date(NOW).toISOString(),
      hosts: [host('p-obs', 'primary', 'active', 1, ['w-2']), host('s-obs', 'shadow', 'active', 0.5, ['w-1'])],
      workloads: [workload('w-1', 's-obs'), workload('w-2', 'p-obs')],
    };
    const { provider, metrics } = observeWith(fleet, {
      'p-obs': windowsFor('p-obs', 40),
      's-obs': windowsFor('s-obs', 50),
    });
    const observation = await createOrchestrationActivities({ provider, metrics, forecaster }).observePair(input);
    const cpu = (peaks: { resource: string; horizonMinutes: number; peakPercent: number }[] = []) =>
      peaks.find((p) => p.resource === 'cpu' && p.horizonMinutes === 15)!.peakPercent;
    const whole = cpu(observation.forecast?.pairPeaks);
    const own = cpu(observation.forecast?.peaks);
    // About 40-42 + 25-26: the shadow's load counted back in, converted to the primary's capacity.
    expect(whole).toBeGreaterThan(62);
    expect(whole).toBeLessThan(72);
    // The primary's own peak is the pair's times the share it carries now (41 of 66.5 at the newest step).
    expect(own / whole).toBeCloseTo(41 / (41 + 25.5), 2);
  });

  it("after a swap, forecasts the pair's recorded demand, not the new primary's standby past", async () => {
    const before: FleetSnapshot = {
      now: new Date(NOW).toISOString(),
      hosts: [host('p-obs', 'primary', 'active', 1, ['w-1', 'w-2']), host('s-obs', 'shadow', 'inactive', 0.15, [])],
      workloads: [workload('w-1', 'p-obs'), workload('w-2', 'p-obs')],
    };
    const recording = observeWith(before, { 'p-obs': windowsFor('p-obs', 40) });
    await createOrchestrationActivities({ ...recording, forecaster }).observePair(input);
    // Every complete step of the pair's first window is recorded once: all but the step still filling.
    expect(recording.pairDemand.size).toBe((STEPS - 1) * 4);
    expect([...recording.pairDemand.values()].every((p) => p.primaryHostId === 'p-obs')).toBe(true);

    // The roles swapped within the last step: s-obs, a same-size host, carries the workloads; its own past is its
    // standby load. The same pair observed with and without its record:
    const after: FleetSnapshot = {
      now: new Date(NOW).toISOString(),
      hosts: [host('s-obs', 'primary', 'active', 1, ['w-1', 'w-2']), host('p-obs', 'shadow', 'inactive', 0.15, [])],
      workloads: [workload('w-1', 's-obs'), workload('w-2', 's-obs')],
    };
    const swappedInput = {
      ...input,
      primary: { ...primaryRef, hostId: 's-obs' },
      shadowHostId: 'p-obs',
      rolesSince: NOW - 60_000,
    };
    const standbyPast = { 's-obs': windowsFor('s-obs', 5, [41]) };
    const cpuPeak = (observation: { forecast?: { pairPeaks?: ForecastPeakLike[] } }) =>
      observation.forecast!.pairPeaks!.find((p) => p.resource === 'cpu' && p.horizonMinutes === 60)!;
    const followed = cpuPeak(
      await createOrchestrationActivities({
        ...observeWith(after, standbyPast, undefined, recording.pairDemand),
        forecaster,
      }).observePair(swappedInput),
    );
    const byHost = cpuPeak(
      await createOrchestrationActivities({ ...observeWith(after, standbyPast), forecaster }).observePair({
        ...swappedInput,
        rolesSince: undefined,
      }),
    );
    // Followed: the pair's steady 40-42%, with an interval as narrow as before the swap.
    expect(followed.peakPercent).toBeGreaterThan(38);
    expect(followed.peakPercent).toBeLessThan(46);
    expect(followed.upperPercent!).toBeLessThan(50);
    // Read by host alone (what a pair did before), the history jumps from 5% to 41% at the swap, and the forecast half
    // replays the standby past.
    expect(byHost.peakPercent).toBeLessThan(30);
  });

  it('forecasts once per change of its data: a tick that sees the same data reuses the forecast and writes nothing new', async () => {
    const fleet: FleetSnapshot = {
      now: new Date(NOW).toISOString(),
      hosts: [host('p-obs', 'primary', 'active', 1, ['w-1']), host('s-obs', 'shadow', 'inactive', 0.15, [])],
      workloads: [workload('w-1', 'p-obs')],
    };
    let forecasts = 0;
    const counting = { ...forecaster, models: () => forecaster.models() } as OnnxForecaster;
    counting.forecast = (request) => {
      forecasts += 1;
      return forecaster.forecast(request);
    };
    let written = 0;
    const windows = { 'p-obs': windowsFor('p-obs', 40) };
    const recording = observeWith(fleet, windows, (points) => {
      written += points.length;
      return Promise.resolve();
    });
    const activities = createOrchestrationActivities({ ...recording, forecaster: counting });
    const first = await activities.observePair(input);
    const [callsOnce, writtenOnce] = [forecasts, written];
    expect(callsOnce).toBeGreaterThan(0);
    const second = await activities.observePair(input);
    expect(second.forecast).toEqual(first.forecast);
    expect([forecasts, written]).toEqual([callsOnce, writtenOnce]);
    // A new sample changes the newest step: forecast again.
    windows['p-obs'] = windowsFor('p-obs', 40, [55]);
    const third = await activities.observePair(input);
    expect(forecasts).toBe(2 * callsOnce);
    expect(written).toBe(2 * writtenOnce);
    expect(third.forecast).not.toEqual(first.forecast);
  });

  it('records its forecast beside the actuals, and a failed write is an issue, not a lost tick', async () => {
    const fleet: FleetSnapshot = {
      now: new Date(NOW).toISOString(),
      hosts: [host('p-obs', 'primary', 'active', 1, ['w-1']), host('s-obs', 'shadow', 'inactive', 0.15, [])],
      workloads: [workload('w-1', 'p-obs')],
    };
    const written: ForecastPoint[] = [];
    const recording = observeWith(fleet, { 'p-obs': windowsFor('p-obs', 40) }, (points) => {
      written.push(...points);
      return Promise.resolve();
    });
    const recorded = await createOrchestrationActivities({ ...recording, forecaster }).observePair(input);
    expect(written.map((p) => [p.hostId, p.resource, p.horizonMinutes, p.yhat])).toEqual(
      recorded.forecast!.peaks.map((p) => ['p-obs', p.resource, p.horizonMinutes, p.peakPercent]),
    );

    const failing = observeWith(fleet, { 'p-obs': windowsFor('p-obs', 40) }, () =>
      Promise.reject(new Error('influx is down')),
    );
    const unrecorded = await createOrchestrationActivities({ ...failing, forecaster }).observePair(input);
    expect(unrecorded.forecast).toBeDefined();
    expect(unrecorded.issues).toContain('forecast not recorded: influx is down');
  });
});
