// The trace chart (bench:policy --plot, understudy backtest --plot) is drawn with Vega, headless: the SVG must carry
// the series, the reference lines and every strategy's strip.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { writeTracePlot } from '../src/plot/tracePlot.js';

it('writes one SVG with the demand, the forecast band, the threshold and a strip per strategy', async () => {
  const steps = 288;
  const demand = Array.from({ length: steps }, (_, i) => 50 + 40 * Math.sin((2 * Math.PI * i) / steps));
  const flags = (from: number, to: number): Uint8Array =>
    Uint8Array.from({ length: steps }, (_, i) => (i >= from && i < to ? 1 : 0));
  const file = join(mkdtempSync(join(tmpdir(), 'understudy-plot-')), 'trace.svg');
  await writeTracePlot(file, {
    name: 'synthetic-test-trace',
    subtitle: 'seasonal',
    startMs: Date.parse('2026-01-05T00:00:00Z'),
    stepMs: 300_000,
    levels: [
      { value: 80, label: 'threshold 80%' },
      { value: 90, label: 'overload 90%' },
    ],
    unit: '% of one host',
    seriesLabel: 'demand',
    demand,
    forecast: {
      horizonMinutes: 15,
      at: demand.map((_, i) => Date.parse('2026-01-05T00:15:00Z') + i * 300_000),
      yhat: demand,
      lower: demand.map((v) => v - 5),
      upper: demand.map((v) => v + 5),
    },
    timelines: [
      { strategy: 'understudy', extraServing: flags(40, 100), overload: flags(70, 72), scaleOutSteps: [40] },
      { strategy: 'oracle', extraServing: flags(30, 100), overload: flags(0, 0), scaleOutSteps: [30] },
    ],
  });
  const svg = readFileSync(file, 'utf8');
  expect(svg.startsWith('<svg')).toBe(true);
  for (const text of ['synthetic-test-trace', 'threshold 80%', 'overload 90%', 'understudy', 'oracle', 'demand'])
    expect(svg, text).toContain(text);
  // One path per line (demand, forecast) and the interval's area, rectangles for capacity and overload.
  expect((svg.match(/<path/g) ?? []).length).toBeGreaterThan(5);
});
