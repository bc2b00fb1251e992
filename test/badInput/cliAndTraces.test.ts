// Bad-input corpus, command line and trace CSVs: each row runs the real `understudy` CLI (or uploads to a real
// simulator process). Each must end with one line naming what is wrong, exit code 1, no stack trace, and change
// nothing: argument errors are refused before anything is contacted (the config points Temporal at a closed
// port, so a command that tried to connect would say "cannot reach" instead), a refused backtest writes no output
// folder, a refused trace is not stored. (test/cli.test.ts holds the first cases; these are new.)
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pairWorkflowId } from '../../src/shared/pair.js';
import { PROJECT_ROOT } from '../../src/stack/index.js';
import { devServerHarness, type DevServerHarness } from '../helpers/temporal.js';
import { expectProviderError, startTestSimulator, type TestSimulator } from '../helpers/simulator.js';

const CLI = join(PROJECT_ROOT, 'bin', 'understudy');
const dir = mkdtempSync(join(tmpdir(), 'understudy-bad-cli-'));
const UNREACHABLE = join(dir, 'unreachable.yaml');
writeFileSync(UNREACHABLE, 'temporal:\n  address: 127.0.0.1:1\n');

function csv(name: string, text: string): string {
  const file = join(dir, `${name}.csv`);
  writeFileSync(file, text);
  return file;
}
const rows = (values: string[], start = Date.UTC(2026, 0, 5)): string =>
  values.map((v, i) => `${new Date(start + i * 300_000).toISOString()},${v}`).join('\n');
const GOOD = csv('good', `timestamp,value\n${rows(Array.from({ length: 400 }, (_, i) => String(40 + (i % 7))))}\n`);

async function understudy(args: string[], config?: string) {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  if (config !== undefined) env.UNDERSTUDY_CONFIG = config;
  return promisify(execFile)(CLI, args, { env, encoding: 'utf8', timeout: 90_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code?: number; stdout: string; stderr: string }) => ({
      code: error.code ?? -1,
      stdout: error.stdout,
      stderr: error.stderr,
    }),
  );
}

/** One line, `understudy: …`, matching `expected`; exit code 1; no stack trace. */
function expectRefusal(result: { code: number; stderr: string }, expected: RegExp): void {
  expect(result.stderr).toMatch(/^understudy: /);
  expect(result.stderr).toMatch(expected);
  expect(result.stderr).not.toMatch(/cannot reach/);
  expect(result.stderr).not.toMatch(/^\s+at /m);
  expect(result.code).toBe(1);
}

// [args, the error must match]
const BAD_ARGUMENTS: [string[], RegExp][] = [
  [['pause'], /name the pair, e\.g\. `understudy pause/],
  [['pause', 'bad id!'], /"bad id!" is not a pair id/],
  [['resume', 'x'.repeat(101)], /is not a pair id .*at most 100 characters/],
  [['status', 'a/b'], /"a\/b" is not a pair id/],
  [['failover', 'p1'], /failover needs --reason/],
  [['failover', 'p1', '--reason', '   '], /failover needs --reason/],
  [['policy', 'p1'], /give at least one key=value/],
  [['policy', 'p1', '=75'], /"=75" is not key=value/],
  [['swap', 'p1', 'p2'], /unexpected argument "p2" after "swap p1"/],
  [['stack', 'sideways'], /"stack" takes "up", "down" or "reset", got "sideways"/],
  [['pause', 'p1', '--reason'], /Option '--reason <value>' argument missing/],
  [['up', '--demo', 'now'], /unexpected argument "now" after "up"/],
  [['rollout', 'frobnicate'], /"rollout" takes start, status, pause, resume or abort, got "frobnicate"/],
  [['rollout', 'start'], /rollout refused: desired configuration is empty/],
  [['rollout', 'start', '--set', 'novalue'], /--set takes KEY=VALUE, got "novalue"/],
  [['rollout', 'start', '--set', 'image=x', '--window', 'nightly'], /--window takes "CRON\/MINUTES\[@ZONE\]"/],
  [['rollout', 'start', '--set', 'image=x', '--on-failure', 'maybe'], /--on-failure takes continue or halt/],
  [['rollout', 'start', '--set', 'image=x', '--max-pairs', '0'], /budget maxPairs must be a whole number >= 1/],
  [['rollout', 'start', '--set', 'image=x', '--max-percent', '150'], /budget maxPercentOfRegion must be in \(0, 100\]/],
  [['rollout', 'start', '--set', 'image=x', '--window', '0 0 30 2 */60'], /day 30 never occurs in feb/],
  [['maintenance', 'h1', 'sideways'], /usage: understudy maintenance HOST on\|off/],
  [['train', '--epochs=-3'], /--epochs must be a positive number, got "-3"/],
  [['train', '--fit-fraction', 'most'], /--fit-fraction must be a positive number, got "most"/],
  [['forecast'], /forecast needs --csv FILE/],
  [['forecast', '--csv', GOOD, '--resource', 'gpu'], /--resource must be one of cpu, mem, diskio, net/],
  [['backtest'], /backtest needs --csv FILE/],
  [['backtest', '--csv', GOOD, '--horizon', '5x'], /--horizon: cannot read "5x"/],
  [['--config', join(dir, 'absent.yaml'), 'status'], /absent\.yaml:\n {2}- cannot read the config file: no such file/],
];

// [what, CSV text, the error must match]
const BAD_TRACES: [string, string, RegExp][] = [
  ['a wrong header', 'time,value\n2026-01-01 00:00:00,1\n', /expected the header "timestamp,value", got "time,value"/],
  ['an empty file', '', /expected the header "timestamp,value", got ""/],
  ['a header only', 'timestamp,value\n', /history is empty/],
  [
    'an unparseable timestamp',
    `timestamp,value\n${rows(['1'])}\nyesterday,2\n`,
    /line 3: unparseable timestamp "yesterday"/,
  ],
  ['a value that is not a number', `timestamp,value\n${rows(['1', 'abc'])}\n`, /line 3: value "abc" is not a number/],
  ['a missing value', `timestamp,value\n${rows(['1', ''])}\n`, /line 3: no value/],
  ['an infinite value', `timestamp,value\n${rows(['1', 'Infinity'])}\n`, /line 3: value "Infinity" is not a number/],
  ['a negative value', `timestamp,value\n${rows(['1', '-2'])}\n`, /negative utilisation -2 at 2026-01-05T00:05:00/],
];

describe('bad input: command-line arguments', () => {
  it.each(BAD_ARGUMENTS)('understudy %j is refused before contacting anything', async (args, expected) => {
    expectRefusal(await understudy(args, UNREACHABLE), expected);
  });
});

describe('bad input: trace CSVs given to the CLI', () => {
  it.each(BAD_TRACES)('backtest refuses %s, naming the file and writing nothing', async (name, text, expected) => {
    const file = csv(name.replace(/\W+/g, '-'), text);
    const out = join(dir, `out-${name.replace(/\W+/g, '-')}`);
    const result = await understudy(['backtest', '--csv', file, '--out', out], UNREACHABLE);
    expectRefusal(result, expected);
    expect(result.stderr).toContain(file);
    expect(existsSync(out)).toBe(false);
  });

  it('forecast refuses timestamps out of order, naming the series', async () => {
    const [first, second, ...rest] = rows(Array.from({ length: 60 }, () => '50')).split('\n');
    const file = csv('unsorted', `timestamp,value\n${[second, first, ...rest].join('\n')}\n`);
    expectRefusal(
      await understudy(['forecast', '--csv', file], UNREACHABLE),
      /series unsorted: timestamps out of order/,
    );
  });
});

describe('bad input: pairs that do not exist, on the real dev server', () => {
  let h: DevServerHarness;
  const missing = `no-such-pair-${Math.random().toString(36).slice(2, 8)}`;
  beforeAll(async () => {
    h = await devServerHarness('bad-cli');
  });
  afterAll(async () => {
    await h?.close();
  });

  it.each([
    ['status', missing],
    ['pause', missing],
    ['swap', missing],
    ['failover', missing, '--reason', 'drill'],
    ['policy', missing, 'thresholdPercent=70'],
  ])('understudy %s <unknown pair> names it, and starts no workflow', async (...args) => {
    expectRefusal(
      await understudy(args),
      new RegExp(`no running pair "${missing}" \\(workflow pair:${missing} not found\\)`),
    );
    await expect(h.client.workflow.getHandle(pairWorkflowId(missing)).describe()).rejects.toBeInstanceOf(
      WorkflowNotFoundError,
    );
  });
});

describe('bad input: trace CSVs uploaded to the simulator', () => {
  let sim: TestSimulator;
  beforeAll(async () => {
    sim = await startTestSimulator();
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it.each([
    [
      'a negative value',
      'timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,-4\n',
      /line 3: value -4 is negative/,
    ],
    ['an empty body', '', /must start with the header "timestamp,value"/],
    ['one data row', 'timestamp,value\n2014-01-01 00:00:00,1\n', /needs at least 2 data rows; found 1/],
    [
      'one timestamp twice',
      'timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:00:00,2\n',
      /at least 2 distinct timestamps/,
    ],
    [
      'three fields on a row',
      'timestamp,value\n2014-01-01 00:00:00,1,2\n2014-01-01 00:05:00,1\n',
      /line 2: expected 2 fields/,
    ],
  ])('refuses %s with a 400 naming it, and stores nothing', async (name, text, expected) => {
    const traceId = `bad-${name.replace(/\W+/g, '-')}`;
    const error = await expectProviderError(sim.control.uploadTrace(traceId, text), 'bad_request', 400);
    expect(error.message).toMatch(expected);
    await expectProviderError(sim.control.traceSummary(traceId), 'not_found', 404);
  });

  it('refuses a trace id that could leave the traces folder', async () => {
    const error = await expectProviderError(
      sim.control.uploadTrace('../escape', 'timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,2\n'),
      'bad_request',
      400,
    );
    expect(error.message).toMatch(/traceId must be 1-100 letters, digits/);
    expect(existsSync(join(sim.stateDir, 'escape.json'))).toBe(false);
  });
});
