// Secrets stay secret: a worker built from a configuration file and the environment (as `npm run worker` builds it)
// runs a pair on the real dev server, InfluxDB and a simulator that requires a token, with distinctive secret values
// in the environment. Its logs (at DEBUG), the CLI's output, and the workflow histories (payloads decoded) must not
// contain any of them, plain or base64. The pair's health checks only pass if the worker sends the provider token.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { forceSwapSignal, pairWorkflowId } from '../src/shared/pair.js';
import { PROJECT_ROOT } from '../src/stack/paths.js';
import { createPairFixture, isObserved, type PairFixture } from './helpers/pair.js';
import { pollUntil } from './helpers/poll.js';
import { INFLUX_URL } from './helpers/simulator.js';

const tag = randomUUID().slice(0, 12);
const SECRETS = {
  SECRET_TEST_PROVIDER_TOKEN: `provider-token-${tag}`,
  SECRET_TEST_INFLUX_USERNAME: `influx-user-${tag}`,
  SECRET_TEST_INFLUX_PASSWORD: `influx-pass-${tag}`,
  SECRET_TEST_TEMPORAL_API_KEY: `temporal-key-${tag}`,
};
/** Every form a secret could leak in: as is, base64 (payloads, JSON of buffers), and the Basic auth header. */
const LEAK_FORMS = [
  ...Object.values(SECRETS),
  ...Object.values(SECRETS).map((s) => Buffer.from(s).toString('base64')),
  Buffer.from(`${SECRETS.SECRET_TEST_INFLUX_USERNAME}:${SECRETS.SECRET_TEST_INFLUX_PASSWORD}`).toString('base64'),
];

/** Every string in a value, with byte arrays (history payloads) decoded as UTF-8. */
function textOf(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (value instanceof Uint8Array) out.push(Buffer.from(value).toString('utf8'));
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) textOf(v, out);
  return out;
}

const expectNoSecret = (where: string, text: string): void => {
  for (const form of LEAK_FORMS) expect(text.includes(form), `${where} contains the secret ${form}`).toBe(false);
};

describe('secrets never reach logs, CLI output or workflow histories', () => {
  let f: PairFixture;
  let worker: ChildProcess;
  let workerLog = '';
  let env: NodeJS.ProcessEnv;
  const cliOutput: string[] = [];

  const cli = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) =>
    promisify(execFile)(join(PROJECT_ROOT, 'bin', 'understudy'), args, {
      env: { ...env, ...extraEnv },
      encoding: 'utf8',
      timeout: 90_000,
    }).then(
      ({ stdout, stderr }) => ({ code: 0, text: stdout + stderr }),
      (error: { code?: number; stdout: string; stderr: string }) => ({
        code: error.code ?? -1,
        text: error.stdout + error.stderr,
      }),
    );

  beforeAll(async () => {
    f = await createPairFixture('secrets', {
      simulator: { token: SECRETS.SECRET_TEST_PROVIDER_TOKEN },
      historyHours: 5,
    });
    const config = join(mkdtempSync(join(tmpdir(), 'understudy-secrets-')), 'understudy.yaml');
    writeFileSync(
      config,
      [
        'influx:',
        '  version: 1',
        `  url: ${INFLUX_URL}`,
        `  database: ${f.database}`,
        '  usernameEnv: SECRET_TEST_INFLUX_USERNAME',
        '  passwordEnv: SECRET_TEST_INFLUX_PASSWORD',
        'provider:',
        `  url: ${f.sim.url}`,
        '  tokenEnv: SECRET_TEST_PROVIDER_TOKEN',
        'temporal:',
        '  apiKeyEnv: SECRET_TEST_TEMPORAL_API_KEY',
        '',
      ].join('\n'),
    );
    // The Temporal API key stays out of the worker's environment: with it the client would insist on TLS, which
    // the dev server does not speak. The CLI case below sets it.
    const workerSecrets = Object.fromEntries(
      Object.entries(SECRETS).filter(([name]) => name !== 'SECRET_TEST_TEMPORAL_API_KEY'),
    );
    env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      UNDERSTUDY_CONFIG: config,
      UNDERSTUDY_LOG_LEVEL: 'DEBUG',
      ...workerSecrets,
    };
    worker = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(PROJECT_ROOT, 'test', 'helpers', 'configuredWorker.ts'),
        f.taskQueue,
        inject('workflowBundlePath'),
      ],
      { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        workerLog += chunk.toString();
        if (workerLog.includes('worker ready')) resolve();
      };
      worker.stdout?.on('data', onData);
      worker.stderr?.on('data', onData);
      worker.once('exit', (code) => reject(new Error(`worker exited with ${code}:\n${workerLog}`)));
    });
    await f.startPair();
  }, 180_000);

  afterAll(async () => {
    if (worker && worker.exitCode === null) {
      const exited = new Promise((r) => worker.once('exit', r));
      worker.kill('SIGTERM');
      await exited;
    }
    await f?.close();
  });

  it('the worker reads the provider token and the InfluxDB credentials from the environment and uses them', async () => {
    // Health checks and the fleet view need the token (the simulator answers 401 without it); forecasts need
    // the metrics read through the store built with the credentials.
    await f.waitForState((s) => s.health.watch !== undefined && isObserved(s), 'watched and observed', 90_000);
    // The observer read the pair's metrics, forecast and recorded its decision through the same store.
    await pollUntil(
      () => f.decisions(),
      (decisions) => decisions.length > 0,
      'a decision recorded for the pair',
    );
    // The watchers' batched checks reach the simulator only with the token: it counts the checks it answered.
    await pollUntil(
      async () => (await f.sim.control.healthCheckGaps()).worstHosts.find((h) => h.hostId === f.primary.hostId),
      (host) => host !== undefined && host.checks >= 2,
      'two answered health checks of the primary',
    );
    await f.client.workflow.getHandle(pairWorkflowId(f.pairId)).signal(forceSwapSignal, { reason: 'secret check' });
    await f.waitForState((s) => s.counters.swaps === 1 && s.phase === 'steady', 'a swap through the provider', 90_000);
  });

  it('the CLI never prints them, including when the Temporal API key makes a connection fail', async () => {
    for (const args of [
      ['status'],
      ['status', f.pairId],
      ['pause', f.pairId, '--reason', 'audit'],
      ['resume', f.pairId],
    ]) {
      const { code, text } = await cli(args);
      expect(code, text).toBe(0);
      cliOutput.push(text);
    }
    expect(cliOutput.join('\n')).toContain(f.pairId);
    const withKey = await cli(['status'], { SECRET_TEST_TEMPORAL_API_KEY: SECRETS.SECRET_TEST_TEMPORAL_API_KEY });
    expect(withKey.code).toBe(2);
    expect(withKey.text).toMatch(/^understudy: cannot reach Temporal at 127\.0\.0\.1:17233: /m);
    cliOutput.push(withKey.text);
    const debug = await cli(['status'], {
      SECRET_TEST_TEMPORAL_API_KEY: SECRETS.SECRET_TEST_TEMPORAL_API_KEY,
      UNDERSTUDY_DEBUG: '1',
    });
    cliOutput.push(debug.text);
    expectNoSecret('the CLI output', cliOutput.join('\n'));
  });

  it('neither the worker log nor any workflow history contains a secret', async () => {
    const state = await f.state();
    const ids = [pairWorkflowId(f.pairId), ...state.recentActions.flatMap((a) => (a.workflowId ? [a.workflowId] : []))];
    expect(ids.length).toBeGreaterThan(1); // the pair and its swap child
    const histories: string[] = [];
    for (const id of ids) histories.push(textOf(await f.client.workflow.getHandle(id).fetchHistory()).join('\n'));
    const text = histories.join('\n');
    // Payloads were decoded: the hosts and the swap's reason are there.
    expect(text).toContain(f.primary.hostId);
    expect(text).toContain('secret check');
    expectNoSecret('a workflow history', text);

    // The log is not empty: DEBUG lines of the SDK and the worker's own are there to search.
    expect(workerLog).toContain('worker ready');
    expect(workerLog.length).toBeGreaterThan(1_000);
    expectNoSecret('the worker log', workerLog);
  });
});
