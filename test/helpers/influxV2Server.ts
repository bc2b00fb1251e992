/**
 * A private InfluxDB 1.8.10 for one test file: it serves the v2 HTTP API (Flux queries, bucket writes) that the
 * embedded Debian influxd 1.6 lacks. Built from its Go module by scripts/install-influxd-v2api.sh (seconds when
 * Go's cache is warm), started on free ports with its own data folder, stopped and removed afterwards.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROJECT_ROOT, stackPaths } from '../../src/stack/index.js';
import { freePort } from './ports.js';
import { testConfig } from './temporal.js';

const START_TIMEOUT_MS = 60_000;

export interface InfluxV2Server {
  url: string;
  /** A database on it, reachable as the v2 bucket `<database>/autogen`. */
  database: string;
  bucket: string;
  stop(): Promise<void>;
}

export async function startInfluxV2Server(database: string): Promise<InfluxV2Server> {
  execFileSync('bash', [join(PROJECT_ROOT, 'scripts', 'install-influxd-v2api.sh')], { stdio: 'inherit' });
  const binary = join(stackPaths(testConfig().config).stateDir, 'influxd-v2api', 'bin', 'influxd');
  const dir = mkdtempSync(join(tmpdir(), 'understudy-influxd18-'));
  const [httpPort, rpcPort] = [await freePort(), await freePort()];
  writeFileSync(
    join(dir, 'influxdb.conf'),
    `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${join(dir, 'meta')}"
[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:${httpPort}"
  flux-enabled = true
  log-enabled = false
[monitor]
  store-enabled = false
[logging]
  level = "warn"
`,
  );
  const child: ChildProcess = spawn(binary, ['-config', join(dir, 'influxdb.conf')], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${httpPort}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const ok = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) })
      .then((r) => r.status === 204)
      .catch(() => false);
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`influxd 1.8 did not start on ${url}`);
    }
    await sleep(100);
  }
  const created = await fetch(`${url}/query`, {
    method: 'POST',
    body: new URLSearchParams({ q: `CREATE DATABASE "${database}"` }),
  });
  if (!created.ok) throw new Error(`influxd 1.8 refused CREATE DATABASE: ${await created.text()}`);
  return { url, database, bucket: `${database}/autogen`, stop };
}
