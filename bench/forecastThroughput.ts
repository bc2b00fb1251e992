/**
 * bench:forecast-throughput — host forecasts per second through the Forecaster (validation, cleaning, model
 * choice, one ONNX run per model, result assembly) at batch sizes 1, 100 and 10,000, and the share of that time
 * spent inside onnxruntime. Two populations: hosts the trainer never saw (served by the global LSTM) and known
 * series (served by the Prophet graph). Each request carries two days of 5-minute history. Not a test.
 * Usage: npm run bench:forecast-throughput [-- --json] [-- --repeats 3]
 */
import { parseArgs } from 'node:util';
import { createForecaster } from '../src/forecast/forecaster.js';
import { ARTIFACTS_DIR } from '../src/forecast/trainer.js';
import type { ForecastRequest } from '../src/forecast/types.js';

const { values: args } = parseArgs({ options: { json: { type: 'boolean' }, repeats: { type: 'string' } } });
const repeats = Number(args.repeats ?? 3);
const BATCHES = [1, 100, 10_000];
const HISTORY = 576;

// Each population forced to its model, so the figures measure that graph whatever the selector would pick.
const forecaster = await createForecaster({ artifactsDir: ARTIFACTS_DIR, pollIntervalMs: 0, preferModel: 'lstm' });
const prophetFirst = await createForecaster({ artifactsDir: ARTIFACTS_DIR, pollIntervalMs: 0, preferModel: 'prophet' });
const loadedProphet = forecaster.registry.prophet;
const loadedLstm = forecaster.registry.lstm;
if (!loadedProphet || !loadedLstm) {
  throw new Error(`the committed models did not load: ${[...forecaster.registry.problems.values()].join('; ')}`);
}
const prophet = loadedProphet;
const lstm = loadedLstm;
const known = [...prophet.seriesIndex.keys()];

function requests(n: number, population: 'lstm' | 'prophet'): ForecastRequest[] {
  return Array.from({ length: n }, (_, i) => {
    const seriesId = population === 'prophet' ? known[i % known.length]! : `bench-host-${i}/cpu`;
    // Known series: history ending where their fit ended, so Prophet is not stale; others: any recent day.
    const end = population === 'prophet' ? prophet.trainEnd.get(seriesId)! : Date.UTC(2026, 10, 20, 12);
    const timestamps = Array.from({ length: HISTORY }, (_, k) => end - (HISTORY - 1 - k) * 300_000);
    const phase = (i % 17) / 17;
    return {
      seriesId,
      hostId: `bench-host-${i}`,
      resource: 'cpu',
      history: {
        timestamps,
        values: timestamps.map((t) => 40 + 25 * Math.sin(2 * Math.PI * (t / 86_400_000 + phase)) + (i % 7)),
      },
      horizonMinutes: 60,
      now: end + 60_000,
    };
  });
}

const rows: {
  population: string;
  batch: number;
  forecastsPerSecond: number;
  msPerBatch: number;
  onnxShare: number;
  model: string;
}[] = [];
for (const population of ['lstm', 'prophet'] as const) {
  const engine = population === 'lstm' ? lstm : prophetFirst.registry.prophet!;
  const subject = population === 'lstm' ? forecaster : prophetFirst;
  for (const batch of BATCHES) {
    const reqs = requests(batch, population);
    await subject.forecastMany(reqs.slice(0, Math.min(batch, 100))); // warm-up
    const times: { ms: number; onnx: number }[] = [];
    let model = '';
    for (let r = 0; r < repeats; r++) {
      const before = engine.stats.onnxMs;
      const t0 = performance.now();
      const out = await subject.forecastMany(reqs);
      const ms = performance.now() - t0;
      times.push({ ms, onnx: engine.stats.onnxMs - before });
      const first = out[0];
      model = first && 'model' in first ? first.model : 'error';
    }
    times.sort((a, b) => a.ms - b.ms);
    const mid = times[times.length >> 1]!;
    rows.push({
      population,
      batch,
      model,
      msPerBatch: mid.ms,
      forecastsPerSecond: (batch * 1000) / mid.ms,
      onnxShare: mid.onnx / mid.ms,
    });
  }
}
await forecaster.close();
await prophetFirst.close();

if (args.json) {
  process.stdout.write(`${JSON.stringify({ historySteps: HISTORY, horizonMinutes: 60, repeats, rows }, null, 2)}\n`);
} else {
  console.log(`host forecasts through the Forecaster (history ${HISTORY} steps, horizon 60 min, median of ${repeats})`);
  console.log(
    `${'population'.padEnd(12)}${'model'.padEnd(9)}${'batch'.padStart(7)}${'ms/batch'.padStart(11)}${'forecasts/s'.padStart(13)}${'ONNX share'.padStart(12)}`,
  );
  for (const r of rows) {
    console.log(
      `${r.population.padEnd(12)}${r.model.padEnd(9)}${String(r.batch).padStart(7)}${r.msPerBatch.toFixed(1).padStart(11)}` +
        `${r.forecastsPerSecond.toFixed(0).padStart(13)}${`${(100 * r.onnxShare).toFixed(0)}%`.padStart(12)}`,
    );
  }
}
