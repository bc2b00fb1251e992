// The trainer's own tests (Prophet and LSTM parity with their ONNX exports, data cleaning) run with the venv's
// pytest; CI only runs `npm test`, so this test runs them and fails when any of them fails.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { PROJECT_ROOT, stackPaths } from '../../src/stack/paths.js';

describe('python trainer (pytest)', () => {
  it('passes models/tests: Prophet ONNX parity 1e-6, LSTM ONNX parity 1e-5, cleaning', () => {
    const python = stackPaths(loadConfig(undefined, {}).config).venvPython;
    const run = spawnSync(python, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-p', 'no:warnings', 'tests'], {
      cwd: join(PROJECT_ROOT, 'models'),
      encoding: 'utf8',
      env: { ...process.env, OMP_NUM_THREADS: '1' },
      timeout: 240_000,
    });
    const output = `${run.stdout}\n${run.stderr}`;
    expect(run.error, output).toBeUndefined();
    expect(run.status, output).toBe(0);
    expect(output).toMatch(/\d+ passed/);
    expect(output).not.toMatch(/skipped|failed|error/i);
  }, 300_000);
});
