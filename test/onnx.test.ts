import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadOnnxModel, ModelArtifactError } from '../src/forecast/onnxModel.js';
import { PROJECT_ROOT, stackPaths } from '../src/stack/index.js';
import { BASELINES_MODEL_DIR } from '../src/worker.js';
import { testConfig } from './helpers/temporal.js';

function copyOfBaselines(): string {
  const dir = mkdtempSync(join(tmpdir(), 'understudy-model-'));
  for (const file of ['model.onnx', 'manifest.json']) copyFileSync(join(BASELINES_MODEL_DIR, file), join(dir, file));
  return dir;
}

describe('ONNX models in onnxruntime-node', () => {
  it('scores a batch of series with the committed baselines model', async () => {
    const model = await loadOnnxModel(BASELINES_MODEL_DIR);
    const steps = model.inputSteps;
    expect(steps).toBe(288); // one day of 5-minute samples
    const rows = [0, 1, 2].map((shift) =>
      Float32Array.from({ length: steps }, (_, i) => ((i * 7 + shift * 13) % 97) + 0.5),
    );
    const out = await model.score(rows);
    rows.forEach((row, r) => {
      // Seasonal naive: the value one season (one day) before each forecast step.
      expect(Array.from(out.seasonal_naive![r]!)).toEqual(Array.from(row.subarray(0, 12)));
      // Short mean: the mean of the last 30 minutes (6 steps), held flat.
      const recent = row.subarray(steps - 6);
      const mean = recent.reduce((a, b) => a + b, 0) / recent.length;
      for (const v of out.short_mean![r]!) expect(v).toBeCloseTo(mean, 4);
    });
    await model.release();
  });

  it('refuses a row of the wrong length, naming the expected width', async () => {
    const model = await loadOnnxModel(BASELINES_MODEL_DIR);
    await expect(model.score([new Float32Array(10)])).rejects.toThrow(/row 0 has 10 steps; .* takes exactly 288/);
    await model.release();
  });

  it('refuses a truncated model file: the sha256 no longer matches', async () => {
    const dir = copyOfBaselines();
    const bytes = readFileSync(join(dir, 'model.onnx'));
    writeFileSync(join(dir, 'model.onnx'), bytes.subarray(0, bytes.length / 2));
    const error = await loadOnnxModel(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelArtifactError);
    expect((error as Error).message).toMatch(/model\.onnx: sha256 [0-9a-f]{64} does not match the manifest's/);
  });

  it('refuses a manifest whose outputs do not match the graph', async () => {
    const dir = copyOfBaselines();
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { outputs: { name: string }[] };
    manifest.outputs[0]!.name = 'prophet_yhat';
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
    await expect(loadOnnxModel(dir)).rejects.toThrow(
      /the manifest names input history and outputs prophet_yhat, short_mean, the graph has/,
    );
  });

  it('refuses a corrupt model whose manifest was updated to match it', async () => {
    const dir = copyOfBaselines();
    const garbage = Buffer.from('this is not an onnx graph');
    writeFileSync(join(dir, 'model.onnx'), garbage);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { sha256: string };
    manifest.sha256 = (await import('node:crypto')).createHash('sha256').update(garbage).digest('hex');
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
    await expect(loadOnnxModel(dir)).rejects.toThrow(/model\.onnx: onnxruntime cannot load it/);
  });

  it('the committed artifact is exactly what the trainer venv builds from models/baselines.py', () => {
    const out = mkdtempSync(join(tmpdir(), 'understudy-baselines-'));
    const python = stackPaths(testConfig().config).venvPython;
    execFileSync(python, [join(PROJECT_ROOT, 'models', 'baselines.py'), '--out', out], { stdio: 'pipe' });
    expect(readFileSync(join(out, 'model.onnx')).equals(readFileSync(join(BASELINES_MODEL_DIR, 'model.onnx')))).toBe(
      true,
    );
    expect(readFileSync(join(out, 'manifest.json'), 'utf8')).toBe(
      readFileSync(join(BASELINES_MODEL_DIR, 'manifest.json'), 'utf8'),
    );
  });
});
