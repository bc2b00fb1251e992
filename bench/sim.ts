/**
 * bench:sim — throughput of the fleet simulator and the metrics path, on the real embedded InfluxDB. Not a test.
 *
 * 1. Simulation: a fresh simulator process (its own port, state folder and InfluxDB database) at 60× with metrics
 *    every simulated minute, seeded with N hosts (one synthetic workload each). It runs for a while; we measure the
 *    Telegraf points written per second, whether writing keeps up with the simulated clock (lag behind it, points
 *    dropped), the simulator's CPU share, and the provider API's latency under that load.
 * 2. Reads: per-host windows (one hour at 1-minute steps, all four resources) through the InfluxDB 1.x MetricsStore,
 *    one host per query and 100 hosts per query.
 *
 * Usage: npm run bench:sim [-- --json] [-- --hosts 10000] [-- --seconds 60] [-- --read-seconds 10]
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load.js';
import { InfluxV1MetricsStore } from '../src/metrics/influxV1Store.js';
import { HttpFleetProvider } from '../src/provider/client.js';
import { SimulatorControl } from '../src/simulator/control.js';
import { spawnSimulator } from '../src/stack/simulator.js';
import { cpuSeconds, percentile, round } from './harness.js';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean' },
    hosts: { type: 'string' },
    seconds: { type: 'string' },
    'read-seconds': { type: 'string' },
  },
});
const HOSTS = Number(args.hosts ?? 10_000);
const RUN_SECONDS = Number(args.seconds ?? 60);
const READ_SECONDS = Number(args['read-seconds'] ?? 10);
const SPEED = 60;
const METRICS_INTERVAL_SECONDS = 60;
const log = (message: string) => {
  if (!args.json) console.log(message);
};

const { config } = loadConfig(undefined, {});
if (config.influx.version !== 1) throw new Error('bench:sim runs against the embedded InfluxDB 1.x (influx.version 1)');
const influxUrl = config.influx.url;
const database = `bench_sim_${randomUUID().slice(0, 8)}`;

async function influxQuery(q: string): Promise<void> {
  const response = await fetch(`${influxUrl}/query`, { method: 'POST', body: new URLSearchParams({ q }) });
  if (!response.ok) throw new Error(`InfluxDB: ${q}: ${await response.text()}`);
}

await influxQuery(`CREATE DATABASE "${database}"`);
const stateDir = mkdtempSync(join(tmpdir(), 'understudy-bench-sim-'));
const { child, url } = await spawnSimulator({
  stateDir,
  speed: SPEED,
  metricsIntervalSeconds: METRICS_INTERVAL_SECONDS,
  influx: { url: influxUrl, database },
  tokenEnv: 'BENCH_SIM_NO_TOKEN',
});
const stopSimulator = async () => {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
};

try {
  const control = new SimulatorControl({ url });
  const provider = new HttpFleetProvider({ url, requestTimeoutMs: 30_000 });
  log(
    `bench:sim: seeding ${HOSTS} hosts into a simulator at ${SPEED}× (metrics every ${METRICS_INTERVAL_SECONDS} simulated s)`,
  );
  const seedStarted = performance.now();
  const seeded = await control.seed({
    prefix: 'bench',
    count: HOSTS,
    regions: ['eu-west', 'us-east', 'ap-south'],
    capacity: { cpuCores: 32, memoryGiB: 128, storageIops: 20_000, networkMbps: 10_000 },
    workload: {
      requirements: { cpuCores: 16, memoryGiB: 64, storageIops: 5_000, networkMbps: 2_000 },
      demand: {
        kind: 'synthetic',
        base: 0.6,
        daily: { amplitude: 0.25 },
        weekly: { amplitude: 0.05 },
        noise: 0.05,
        spikes: { perDay: 1, magnitude: 0.5, durationMinutes: 10 },
        seed: 1,
      },
    },
  });
  const seedSeconds = (performance.now() - seedStarted) / 1000;

  // Let the first write settle, then measure a steady window.
  await new Promise((r) => setTimeout(r, 3_000));
  const before = await control.status();
  const cpuBefore = cpuSeconds(child.pid!);
  const wallBefore = performance.now();
  const apiLatencies: number[] = [];
  const deadline = wallBefore + RUN_SECONDS * 1000;
  const lags: number[] = [];
  while (performance.now() < deadline) {
    const hostId = seeded.hostIds[Math.floor(Math.random() * seeded.hostIds.length)]!;
    const t = performance.now();
    await provider.healthCheck(hostId);
    apiLatencies.push(performance.now() - t);
    if (apiLatencies.length % 20 === 0) {
      const status = await control.status();
      if (status.metrics?.lastWrittenAt)
        lags.push((Date.parse(status.now) - Date.parse(status.metrics.lastWrittenAt)) / 1000);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const after = await control.status();
  const wallSeconds = (performance.now() - wallBefore) / 1000;
  const cpuShare = (cpuSeconds(child.pid!) - cpuBefore) / wallSeconds;
  const simulatedSeconds = (Date.parse(after.now) - Date.parse(before.now)) / 1000;
  const written = (after.metrics?.pointsWritten ?? 0) - (before.metrics?.pointsWritten ?? 0);
  const expectedPoints = (simulatedSeconds / METRICS_INTERVAL_SECONDS) * HOSTS * 4;
  const simulation = {
    hosts: HOSTS,
    speed: SPEED,
    metricsIntervalSimulatedSeconds: METRICS_INTERVAL_SECONDS,
    seedSeconds: round(seedSeconds, 2),
    realSeconds: round(wallSeconds),
    simulatedSeconds: round(simulatedSeconds),
    pointsWritten: written,
    pointsPerSecond: Math.round(written / wallSeconds),
    pointsExpected: Math.round(expectedPoints),
    keptUpPercent: round((100 * written) / expectedPoints),
    pointsDropped: after.metrics?.pointsDropped ?? 0,
    writeErrors: after.metrics?.writeErrors ?? 0,
    maxWriteLagSimulatedSeconds: lags.length > 0 ? Math.max(...lags) : undefined,
    simulatorCpuShareOfOneCore: round(cpuShare, 2),
    healthCheckLatencyMs: {
      p50: round(percentile(apiLatencies, 50)),
      p99: round(percentile(apiLatencies, 99)),
      samples: apiLatencies.length,
    },
  };
  log(
    `simulation: ${HOSTS} hosts for ${simulation.realSeconds} s real = ${simulation.simulatedSeconds} s simulated; ` +
      `${simulation.pointsPerSecond} points/s written (${simulation.keptUpPercent}% of what the clock asked for), ` +
      `${simulation.pointsDropped} dropped, max write lag ${simulation.maxWriteLagSimulatedSeconds ?? '?'} simulated s; ` +
      `simulator CPU ${simulation.simulatorCpuShareOfOneCore} core; health check p50 ${simulation.healthCheckLatencyMs.p50} ms, ` +
      `p99 ${simulation.healthCheckLatencyMs.p99} ms`,
  );

  // ---- reads: stop the simulator first so the read figures are not shared with its writes.
  await stopSimulator();
  const store = new InfluxV1MetricsStore({ url: influxUrl, database });
  const end = await store.latestSampleTime(seeded.hostIds.slice(0, 1));
  if (!end) throw new Error('no metrics were written');
  const windowEnd = new Date(end.getTime() + 1);
  const windowStart = new Date(windowEnd.getTime() - 60 * 60_000);
  const hostsFor = (i: number, n: number) =>
    Array.from({ length: n }, (_, k) => ({
      hostId: seeded.hostIds[(i * n + k) % seeded.hostIds.length]!,
      networkMbps: 10_000,
    }));

  async function measureReads(hostsPerQuery: number, concurrency: number) {
    const latencies: number[] = [];
    let windows = 0;
    let withIssues = 0;
    let queries = 0;
    const stopAt = performance.now() + READ_SECONDS * 1000;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < stopAt) {
          const t = performance.now();
          const result = await store.readUtilisation({
            hosts: hostsFor(queries++, hostsPerQuery),
            start: windowStart,
            end: windowEnd,
            stepSeconds: 60,
          });
          latencies.push(performance.now() - t);
          windows += result.length;
          withIssues += result.filter((w) => w.issues.some((i) => i.kind !== 'gap')).length;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    return {
      hostsPerQuery,
      concurrency,
      queries: latencies.length,
      hostReadsPerSecond: round((latencies.length * hostsPerQuery) / seconds),
      windowsPerSecond: round(windows / seconds),
      latencyMs: { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)) },
      windowsWithIssuesOtherThanGaps: withIssues,
    };
  }
  const single = await measureReads(1, 4);
  const batched = await measureReads(100, 2);
  const reads = { window: '60 min at 60 s steps, 4 resources', single, batched };
  log(
    `reads (1 h window, 60 steps, 4 resources per host): ${single.hostReadsPerSecond} host windows/s one host per query ` +
      `(p50 ${single.latencyMs.p50} ms), ${batched.hostReadsPerSecond} host windows/s at 100 hosts per query ` +
      `(p50 ${batched.latencyMs.p50} ms)`,
  );
  if (args.json) console.log(JSON.stringify({ simulation, reads }, null, 2));
} finally {
  await stopSimulator();
  rmSync(stateDir, { recursive: true, force: true });
  await influxQuery(`DROP DATABASE "${database}"`);
}
