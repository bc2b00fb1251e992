/**
 * Test plumbing for the fleet simulator: each test gets its own simulator process (a free port, its own state
 * folder) and, when it wants metrics, its own InfluxDB database on the embedded server, so tests run in parallel.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { HttpFleetProvider, ProviderError } from '../../src/provider/client.js';
import type { Operation, OperationKind, ProviderErrorCode } from '../../src/provider/types.js';
import { SimulatorControl } from '../../src/simulator/control.js';
import { spawnSimulator } from '../../src/stack/simulator.js';
import { testConfig } from './temporal.js';

export const INFLUX_URL = testConfig().config.influx.version === 1 ? testConfig().config.influx.url : '';

export interface SimulatorProcessOptions {
  speed?: number;
  metricsIntervalSeconds?: number;
  startAt?: string;
  influxDatabase?: string;
  token?: string;
}

export interface TestSimulator {
  url: string;
  stateDir: string;
  provider: HttpFleetProvider;
  control: SimulatorControl;
  process: ChildProcess;
  /** Stops the process (SIGTERM, or SIGKILL to lose whatever was not yet on disk) and starts it again on the same state. */
  restart(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  stop(): Promise<void>;
}

function launch(stateDir: string, options: SimulatorProcessOptions): Promise<{ child: ChildProcess; url: string }> {
  return spawnSimulator({
    stateDir,
    speed: options.speed ?? 1,
    metricsIntervalSeconds: options.metricsIntervalSeconds,
    startAt: options.startAt,
    influx: options.influxDatabase ? { url: INFLUX_URL, database: options.influxDatabase } : undefined,
    tokenEnv: 'TEST_SIMULATOR_TOKEN',
    env: { TEST_SIMULATOR_TOKEN: options.token ?? '' },
  });
}

async function stopChild(child: ChildProcess, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  await exited;
}

export async function startTestSimulator(options: SimulatorProcessOptions = {}): Promise<TestSimulator> {
  const stateDir = mkdtempSync(join(tmpdir(), 'understudy-sim-'));
  let { child, url } = await launch(stateDir, options);
  const sim: TestSimulator = {
    url,
    stateDir,
    provider: new HttpFleetProvider({ url, ...(options.token ? { token: options.token } : {}) }),
    control: new SimulatorControl({ url, ...(options.token ? { token: options.token } : {}) }),
    process: child,
    async restart(signal = 'SIGTERM') {
      await stopChild(child, signal);
      ({ child, url } = await launch(stateDir, options));
      sim.url = url;
      sim.process = child;
      sim.provider = new HttpFleetProvider({ url, ...(options.token ? { token: options.token } : {}) });
      sim.control = new SimulatorControl({ url, ...(options.token ? { token: options.token } : {}) });
    },
    async stop() {
      await stopChild(child, 'SIGTERM');
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return sim;
}

/** A fresh InfluxDB database on the embedded server; drop it when done. */
export async function createTestDatabase(prefix: string): Promise<{ name: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomUUID().slice(0, 8)}`;
  const run = async (q: string) => {
    const response = await fetch(`${INFLUX_URL}/query`, { method: 'POST', body: new URLSearchParams({ q }) });
    if (!response.ok) throw new Error(`InfluxDB: ${q} failed: ${await response.text()}`);
  };
  await run(`CREATE DATABASE "${name}"`);
  return { name, drop: () => run(`DROP DATABASE "${name}"`) };
}

/** Expects `promise` to reject with a ProviderError of `code` (and HTTP `status`), returning it. */
export async function expectProviderError(
  promise: Promise<unknown>,
  code: ProviderErrorCode,
  status?: number,
): Promise<ProviderError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected a ProviderError ${code}`).toBeInstanceOf(ProviderError);
  const providerError = error as ProviderError;
  expect({ code: providerError.code, message: providerError.message }).toMatchObject({ code });
  if (status !== undefined) expect(providerError.status).toBe(status);
  return providerError;
}

/** Advances the simulated clock past the operation's end and returns it finished (the clock runs slowly in tests). */
export async function finish<K extends OperationKind>(
  sim: TestSimulator,
  operation: Operation<K>,
): Promise<Operation<K>> {
  const remainingMs = Date.parse(operation.expectedFinishAt) - Date.parse((await sim.control.status()).now);
  if (remainingMs >= 0) await sim.control.advance(remainingMs / 1000 + 0.001);
  return sim.provider.waitForOperation(operation, { timeoutMs: 10_000, pollIntervalMs: 20 });
}

export const SIZE = { cpuCores: 16, memoryGiB: 64, storageIops: 20_000, networkMbps: 10_000 };
export const uniqueKey = (label: string): string => `${label}-${randomUUID()}`;
