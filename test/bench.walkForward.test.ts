// bench:policy's forecasts: a step is served by the newest retrain cut at or before it (no model trained on data
// after the decision), and every step goes through the pair's own request and summary code.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createForecaster, type OnnxForecaster } from '../src/forecast/forecaster.js';
import { forecastTrace, forecasterAt, type WalkForward } from '../bench/walkForward.js';
import type { Trace } from '../bench/traces.js';

const STEP_MS = 300_000;
const START = Date.parse('2026-01-05T00:00:00Z');

describe('walk-forward forecasts', () => {
  let dir: string;
  let untrained: OnnxForecaster;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'understudy-walkforward-'));
    untrained = await createForecaster({ artifactsDir: join(dir, 'none'), pollIntervalMs: 0 });
  });
  afterAll(async () => {
    await untrained.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a step from the newest retrain cut at or before it, and from no learned model before the first', () => {
    const [first, second] = [{ name: 'first' }, { name: 'second' }] as unknown as OnnxForecaster[];
    const walkForward = {
      untrained,
      retrains: [
        { cuts: { 'a/cpu': 1_000, 'b/cpu': 5_000 }, forecaster: first },
        { cuts: { 'a/cpu': 2_000 }, forecaster: second },
      ],
    } as unknown as WalkForward;
    expect(forecasterAt(walkForward, 'a/cpu', 999)).toBe(untrained);
    expect(forecasterAt(walkForward, 'a/cpu', 1_000)).toBe(first);
    expect(forecasterAt(walkForward, 'a/cpu', 1_999)).toBe(first);
    expect(forecasterAt(walkForward, 'a/cpu', 2_000)).toBe(second);
    // A trace the second retrain did not cover (it had ended) keeps the first.
    expect(forecasterAt(walkForward, 'b/cpu', 9_000)).toBe(first);
    expect(forecasterAt(walkForward, 'c/cpu', 9_000)).toBe(untrained);
  });

  it('flags an isolated spike but not a sustained shift, and names the model of every step', async () => {
    const days = 3;
    const demand = new Float64Array(days * 288).map((_, i) => 40 + 10 * Math.sin((2 * Math.PI * i) / 288));
    const spikeAt = 2 * 288 + 30;
    demand[spikeAt] = 95;
    const shiftFrom = 2 * 288 + 150;
    for (let i = shiftFrom; i < demand.length; i++) demand[i] = demand[i]! + 35;
    const trace: Trace = { name: 'probe', source: 'synthetic', scaling: 'percent', startMs: START, demand, notes: [] };
    const { steps, failures } = await forecastTrace(trace, () => untrained, {
      historySteps: 576,
      horizonsMinutes: [15, 30, 60],
      plotSteps: 3,
    });
    const forecast = steps.filter((s) => s !== undefined);
    // Only the first step (one sample) may lack a forecast, and then its reason is counted.
    expect(forecast.length).toBeGreaterThanOrEqual(demand.length - 1);
    expect([...failures.values()].reduce((a, b) => a + b, 0)).toBe(demand.length - forecast.length);
    expect(new Set(forecast.map((s) => s.model))).toEqual(new Set(['short_mean', 'seasonal_naive']));
    expect(steps[spikeAt]!.summary.isolatedSpike).toBe(true);
    expect(steps[shiftFrom + 5]!.summary.isolatedSpike).toBeUndefined();
    expect(steps[shiftFrom + 5]!.sustainedShift).toBe(true);
    expect(steps[spikeAt]!.sustainedShift).toBe(false);
    const step = steps[2 * 288]!;
    expect(step.summary.issuedAt).toBe(START + 2 * 288 * STEP_MS);
    expect(step.summary.peaks.map((p) => p.horizonMinutes)).toEqual([15, 30, 60]);
    expect(step.summary.pairPeaks).toEqual(step.summary.peaks);
    for (const peak of step.summary.peaks) expect(peak.upperPercent).toBeGreaterThan(peak.peakPercent);
    expect(Number.isFinite(step.plotted!.yhat)).toBe(true);
  });
});
