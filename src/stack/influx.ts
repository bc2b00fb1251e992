/**
 * The embedded InfluxDB: Debian's influxd (1.x) with a project-local config and data folder, on ports of its own
 * so it never meets a user's InfluxDB on 8086/8088.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { UnderstudyConfig } from '../config/schema.js';
import type { StackPaths } from './paths.js';
import {
  ServiceError,
  runningPid,
  startDetached,
  stopProcess,
  waitUntilHealthy,
  type ManagedProcess,
} from './process.js';
import type { StartedService } from './temporal.js';

const INFLUX_START_TIMEOUT_MS = 30_000;

export const influxProcess = (paths: StackPaths): ManagedProcess => ({
  name: 'influxd',
  pidsDir: paths.pidsDir,
  logsDir: paths.logsDir,
});

export function influxdInstalled(): boolean {
  try {
    influxdBinary();
    return true;
  } catch {
    return false;
  }
}

function influxdBinary(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v influxd'], { encoding: 'utf8' }).trim();
  } catch {
    throw new ServiceError(
      "influxd (InfluxDB 1.x) is not installed; run `npm run setup` (it installs Debian's influxdb package)",
    );
  }
}

/** influxd's TOML config: everything under the state folder, loopback only, no phoning home. */
function renderInfluxConfig(config: UnderstudyConfig, paths: StackPaths): string {
  const dir = paths.influxDir;
  // The RPC (backup) port sits beside the HTTP port so that two checkouts with different ports never collide.
  const rpcPort = config.embedded.influxPort + 2;
  return `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"

[meta]
  dir = "${join(dir, 'meta')}"

[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  query-log-enabled = false
  cache-max-memory-size = 1073741824

[http]
  enabled = true
  bind-address = "127.0.0.1:${config.embedded.influxPort}"
  log-enabled = false

[monitor]
  store-enabled = false

[logging]
  level = "warn"

[continuous_queries]
  enabled = false
`;
}

const pingUrl = (config: UnderstudyConfig): string => `http://127.0.0.1:${config.embedded.influxPort}/ping`;

async function pings(config: UnderstudyConfig): Promise<boolean> {
  const response = await fetch(pingUrl(config), { signal: AbortSignal.timeout(1_000) });
  return response.status === 204 && response.headers.get('x-influxdb-version') !== null;
}

async function createDatabase(config: UnderstudyConfig, database: string): Promise<void> {
  const url = `http://127.0.0.1:${config.embedded.influxPort}/query`;
  const body = new URLSearchParams({ q: `CREATE DATABASE "${database.replaceAll('"', '\\"')}"` });
  const response = await fetch(url, { method: 'POST', body, signal: AbortSignal.timeout(5_000) });
  if (!response.ok) throw new ServiceError(`InfluxDB refused to create database ${database}: ${await response.text()}`);
}

export async function startInflux(config: UnderstudyConfig, paths: StackPaths): Promise<StartedService> {
  const proc = influxProcess(paths);
  const address = `http://127.0.0.1:${config.embedded.influxPort}`;
  let pid = runningPid(proc);
  const reused = pid !== undefined;
  if (pid === undefined) {
    if (await pings(config).catch(() => false)) {
      throw new ServiceError(
        `port ${config.embedded.influxPort} already serves an InfluxDB that Understudy did not start; ` +
          `stop it or set embedded.influxPort to a free port`,
      );
    }
    const binary = influxdBinary();
    mkdirSync(paths.influxDir, { recursive: true });
    writeFileSync(paths.influxConfig, renderInfluxConfig(config, paths));
    pid = startDetached(proc, binary, ['-config', paths.influxConfig], paths.stateDir);
  }
  await waitUntilHealthy(proc, `InfluxDB (${address})`, () => pings(config), INFLUX_START_TIMEOUT_MS, pid);
  if (config.influx.version === 1) await createDatabase(config, config.influx.database);
  return { name: 'influxd', pid, reused, address };
}

export const stopInflux = (paths: StackPaths): Promise<boolean> => stopProcess(influxProcess(paths));
