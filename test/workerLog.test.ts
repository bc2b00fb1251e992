// `understudy up` keeps the console for its own lines: the SDK's log goes to the worker's log file, and only errors
// also reach the console, once pointing at the file.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { fileLogger } from '../src/worker.js';

const dir = mkdtempSync(join(tmpdir(), 'understudy-worker-log-'));
afterEach(() => vi.restoreAllMocks());

it('writes warnings to the log file only, and errors to both', () => {
  const file = join(dir, 'nested', 'worker.log');
  const consoleError = vi.spyOn(console, 'error').mockImplementation(() => undefined);
  const consoleLog = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  const consoleWarn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
  const logger = fileLogger(file, 'WARN');
  logger.info('below the level');
  logger.warn('Workflow task duration exceeded 5 seconds', { workflowId: 'pair:a', attempt: 2n });
  logger.error('worker failed');
  logger.error('worker failed again');

  const lines = readFileSync(file, 'utf8').trim().split('\n');
  expect(lines).toHaveLength(3);
  expect(lines[0]).toMatch(
    /^\d{4}-\d\d-\d\dT[\d:.]+Z \[WARN\] Workflow task duration exceeded 5 seconds {"workflowId":"pair:a","attempt":"2"}$/,
  );
  expect(lines[1]).toMatch(/\[ERROR\] worker failed$/);
  expect(consoleLog).not.toHaveBeenCalled();
  expect(consoleWarn).not.toHaveBeenCalled();
  expect(consoleError.mock.calls.map((c): unknown => c[0])).toEqual([
    `worker: worker failed (details in ${file})`,
    'worker: worker failed again',
  ]);
  rmSync(dir, { recursive: true, force: true });
});
