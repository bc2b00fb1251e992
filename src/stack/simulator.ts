/**
 * The embedded fleet simulator: its own Node process (TypeScript through tsx's loader, so one pid to stop), state
 * under the stack's folder, metrics into the embedded InfluxDB, the API token (if any) from the configured variable.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { UnderstudyConfig } from '../config/schema.js';
import { PROJECT_ROOT, type StackPaths } from './paths.js';
import {
  ServiceError,
  runningPid,
  startDetached,
  stopProcess,
  waitUntilHealthy,
  type ManagedProcess,
} from './process.js';
import type { StartedService } from './temporal.js';

const SIMULATOR_START_TIMEOUT_MS = 30_000;
/** Simulated seconds per real second in the embedded stack: a day of fleet life in 24 minutes. */
export const EMBEDDED_SIMULATOR_SPEED = 60;

export const simulatorProcess = (paths: StackPaths): ManagedProcess => ({
  name: 'simulator',
  pidsDir: paths.pidsDir,
  logsDir: paths.logsDir,
});

export const simulatorStateDir = (paths: StackPaths): string => join(paths.stateDir, 'simulator');

async function healthy(url: string): Promise<boolean> {
  const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) });
  if (!response.ok) return false;
  const body = (await response.json()) as { ok?: boolean; speed?: number };
  return body.ok === true && typeof body.speed === 'number';
}

/** The arguments `src/simulator/main.ts` takes for this configuration (shared with tests that start their own). */
export function simulatorArgs(config: UnderstudyConfig, stateDir: string, port: number): string[] {
  const args = [
    '--import',
    'tsx',
    join(PROJECT_ROOT, 'src', 'simulator', 'main.ts'),
    '--port',
    String(port),
    '--state-dir',
    stateDir,
    '--speed',
    String(EMBEDDED_SIMULATOR_SPEED),
    '--token-env',
    config.provider.tokenEnv,
  ];
  if (config.influx.version === 1) {
    args.push(
      '--influx-url',
      config.influx.url,
      '--influx-database',
      config.influx.database,
      '--influx-username-env',
      config.influx.usernameEnv,
      '--influx-password-env',
      config.influx.passwordEnv,
    );
  }
  return args;
}

export async function startSimulatorService(config: UnderstudyConfig, paths: StackPaths): Promise<StartedService> {
  const proc = simulatorProcess(paths);
  const port = config.embedded.simulatorPort;
  const address = `http://127.0.0.1:${port}`;
  let pid = runningPid(proc);
  const reused = pid !== undefined;
  if (pid === undefined) {
    if (await healthy(address).catch(() => false)) {
      throw new ServiceError(
        `port ${port} already serves a fleet simulator that this stack did not start; ` +
          `stop it or set embedded.simulatorPort to a free port`,
      );
    }
    pid = startDetached(proc, process.execPath, simulatorArgs(config, simulatorStateDir(paths), port), PROJECT_ROOT);
  }
  await waitUntilHealthy(proc, `fleet simulator (${address})`, () => healthy(address), SIMULATOR_START_TIMEOUT_MS, pid);
  return { name: 'simulator', pid, reused, address };
}

export const stopSimulatorService = (paths: StackPaths): Promise<boolean> => stopProcess(simulatorProcess(paths));

export interface SimulatorLaunch {
  stateDir: string;
  speed: number;
  metricsIntervalSeconds?: number;
  startAt?: string;
  influx?: { url: string; database: string };
  /** The variable the simulator reads its API token from; the token itself, if any, goes in `env`. */
  tokenEnv: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * Starts a simulator of its own on a free port (tests, benchmarks) and resolves with the URL it reports once it
 * listens; a simulator that exits or stays silent during start-up rejects with what it printed.
 */
export function spawnSimulator(launch: SimulatorLaunch): Promise<{ child: ChildProcess; url: string }> {
  const args = [
    '--import',
    'tsx',
    join(PROJECT_ROOT, 'src', 'simulator', 'main.ts'),
    '--port',
    '0',
    '--state-dir',
    launch.stateDir,
    '--speed',
    String(launch.speed),
    '--metrics-interval-seconds',
    String(launch.metricsIntervalSeconds ?? 60),
    '--token-env',
    launch.tokenEnv,
  ];
  if (launch.startAt) args.push('--start-at', launch.startAt);
  if (launch.influx) args.push('--influx-url', launch.influx.url, '--influx-database', launch.influx.database);
  const child = spawn(process.execPath, args, {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...launch.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`simulator did not start within ${SIMULATOR_START_TIMEOUT_MS} ms:\n${output}`));
    }, SIMULATOR_START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve({ child, url: match[1] });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`simulator exited with ${code} during start-up:\n${output}`));
    });
  });
}
