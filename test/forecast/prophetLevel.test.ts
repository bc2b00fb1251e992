// Prophet's served forecast takes its level from the series' last steps, as the trainer's validation scores it
// (models/understudy_trainer/prophet_onnx.py level_shifts); a model trained before that is served unshifted.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openProphet, type ProphetEngine } from '../../src/forecast/engines.js';
import { ModelArtifactError } from '../../src/forecast/onnxModel.js';
import { STEP_MS } from '../../src/forecast/series.js';
import { PROJECT_ROOT } from '../../src/stack/paths.js';

const SHIPPED = join(PROJECT_ROOT, 'models', 'artifacts', 'prophet-v1');
const ORIGIN = Date.UTC(2014, 3, 16, 12);
const temps: string[] = [];

/** A copy of the shipped Prophet whose manifest's `level_correction` is `level` (left out when undefined). */
async function prophetWithLevel(level: unknown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'understudy-prophet-level-'));
  temps.push(dir);
  await cp(SHIPPED, join(dir, 'prophet-v1'), { recursive: true });
  const path = join(dir, 'prophet-v1', 'manifest.json');
  const manifest = JSON.parse(await readFile(path, 'utf8')) as { parameters: Record<string, unknown> };
  if (level === undefined) delete manifest.parameters.level_correction;
  else manifest.parameters.level_correction = level;
  await writeFile(path, JSON.stringify(manifest));
  return join(dir, 'prophet-v1');
}

/** The fitted curve at the `count` steps ending at `end`. */
async function curve(engine: ProphetEngine, end: number, count: number): Promise<Float64Array> {
  const [out] = await engine.score([
    { series: 0, timestamps: Array.from({ length: count }, (_, k) => end - (count - 1 - k) * STEP_MS) },
  ]);
  return out!.yhat;
}

afterAll(async () => {
  await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
});

describe('Prophet level correction', () => {
  it('shifts the forecast and its interval by the mean residual of the last steps', async () => {
    const engine = await openProphet(await prophetWithLevel({ steps: 6 }));
    try {
      expect(engine.levelSteps).toBe(6);
      const past = await curve(engine, ORIGIN, 6);
      // The last six actuals run 4 to 6 points above the curve (mean 5); one older step is far off and not read.
      const offsets = [4, 5, 6, 4, 5, 6];
      const recent = [1_000, ...Array.from(past, (v, k) => v + offsets[k]!)];
      const [shifted] = await engine.forecast([{ series: 0, origin: ORIGIN, steps: 12, recent }]);
      const [plain] = await engine.score([
        { series: 0, timestamps: Array.from({ length: 12 }, (_, h) => ORIGIN + (h + 1) * STEP_MS) },
      ]);
      expect(shifted!.yhat).toHaveLength(12);
      for (let h = 0; h < 12; h++) {
        expect(shifted!.yhat[h]).toBeCloseTo(plain!.yhat[h]! + 5, 9);
        expect(shifted!.lower[h]).toBeCloseTo(plain!.lower[h]! + 5, 9);
        expect(shifted!.upper[h]).toBeCloseTo(plain!.upper[h]! + 5, 9);
      }
      // A missing actual is left out of the mean; none known leaves the curve as it is.
      const gap = Array.from(past, (v, k) => (k === 2 ? Number.NaN : v - 3));
      const [withGap] = await engine.forecast([{ series: 0, origin: ORIGIN, steps: 3, recent: gap }]);
      expect(withGap!.yhat[0]).toBeCloseTo(plain!.yhat[0]! - 3, 9);
      const [unknown] = await engine.forecast([
        { series: 0, origin: ORIGIN, steps: 3, recent: new Array<number>(6).fill(Number.NaN) },
      ]);
      expect(unknown!.yhat[0]).toBeCloseTo(plain!.yhat[0]!, 9);
    } finally {
      await engine.release();
    }
  });

  it('serves a model trained without the correction unshifted', async () => {
    const engine = await openProphet(await prophetWithLevel(undefined));
    try {
      expect(engine.levelSteps).toBe(0);
      const [plain] = await engine.score([{ series: 0, timestamps: [ORIGIN + STEP_MS] }]);
      const [served] = await engine.forecast([{ series: 0, origin: ORIGIN, steps: 1, recent: [500, 500] }]);
      expect(served!.yhat[0]).toBeCloseTo(plain!.yhat[0]!, 9);
    } finally {
      await engine.release();
    }
  });

  it.each([[{ steps: -1 }], [{ steps: 2.5 }], [{ steps: '6' }], [{ steps: 289 }], [{}]])(
    'refuses a manifest whose level_correction is %j, naming the field',
    async (level) => {
      const dir = await prophetWithLevel(level);
      const opened = openProphet(dir);
      await expect(opened).rejects.toThrow(ModelArtifactError);
      await expect(opened).rejects.toThrow(/parameters\.level_correction\.steps must be a whole number/);
    },
  );
});
