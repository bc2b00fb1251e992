/**
 * The real metrics agent: Telegraf, built from its Go module by setup, reports this machine's own utilisation into
 * the embedded InfluxDB, and the metrics store reads what it wrote unchanged — CPU and memory as percentages, the
 * disk and network counters as rates.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InfluxV1MetricsStore } from '../src/metrics/influxV1Store.js';
import { stackPaths } from '../src/stack/index.js';
import { pollUntil } from './helpers/poll.js';
import { INFLUX_URL, createTestDatabase } from './helpers/simulator.js';
import { testConfig } from './helpers/temporal.js';

describe('Telegraf into InfluxDB, read by the metrics store', () => {
  const hostId = `telegraf-${randomUUID().slice(0, 8)}`;
  let database: { name: string; drop(): Promise<void> };
  let store: InfluxV1MetricsStore;
  let agent: ChildProcess;
  let dir: string;
  let output = '';

  beforeAll(async () => {
    database = await createTestDatabase('telegraf');
    store = new InfluxV1MetricsStore({ url: INFLUX_URL, database: database.name });
    dir = mkdtempSync(join(tmpdir(), 'understudy-telegraf-'));
    const config = join(dir, 'telegraf.conf');
    writeFileSync(
      config,
      [
        '[agent]',
        '  interval = "1s"',
        '  flush_interval = "1s"',
        '  round_interval = true',
        `  hostname = "${hostId}"`,
        '[[inputs.cpu]]',
        '  percpu = false',
        '  totalcpu = true',
        '[[inputs.mem]]',
        '[[inputs.diskio]]',
        '[[inputs.net]]',
        '[[outputs.influxdb]]',
        `  urls = ["${INFLUX_URL}"]`,
        `  database = "${database.name}"`,
        '  skip_database_creation = true',
        '',
      ].join('\n'),
    );
    agent = spawn(stackPaths(testConfig().config).telegrafBin, ['--config', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    agent.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    agent.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  });
  afterAll(async () => {
    agent?.kill('SIGTERM');
    await database?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('writes cpu, mem, diskio and net under the host tag, and the store reads them back unchanged', async () => {
    // Six seconds of one-second samples (the first CPU sample has no interval to measure over).
    await pollUntil(
      async () => {
        const [result] = await store.query([
          `SELECT count("usage_idle") FROM "cpu" WHERE "host" = '${hostId}' AND "cpu" = 'cpu-total'`,
        ]);
        return Number(result?.series?.[0]?.values[0]?.[1] ?? 0);
      },
      (count) => count >= 6,
      `six CPU samples from Telegraf (its output: ${output.slice(-500)})`,
      60_000,
    );
    const [cpu, mem] = await store.query([
      `SELECT "usage_idle" FROM "cpu" WHERE "host" = '${hostId}' AND "cpu" = 'cpu-total'`,
      `SELECT "used_percent" FROM "mem" WHERE "host" = '${hostId}'`,
    ]);
    const raw = (series: typeof cpu) =>
      new Map((series?.series?.[0]?.values ?? []).map((row) => [row[0] as number, Number(row[1])]));
    const idle = raw(cpu);
    const used = raw(mem);
    const times = [...idle.keys()].sort((a, b) => a - b);
    const start = new Date(times[0]!);
    const end = new Date(times[times.length - 1]! + 1_000);
    const windows = await store.readUtilisation({
      hosts: [{ hostId, networkMbps: 1_000 }],
      start,
      end,
      stepSeconds: 1,
    });
    const window = (resource: string) => windows.find((w) => w.resource === resource)!;
    const stepTime = (i: number) => start.getTime() + i * 1_000;
    // One sample a step: the store's CPU is 100 − Telegraf's usage_idle, its memory Telegraf's used_percent (to the
    // thousandth the store rounds to).
    window('cpu').values.forEach((value, i) => {
      if (idle.has(stepTime(i))) expect(value).toBeCloseTo(100 - idle.get(stepTime(i))!, 3);
    });
    window('memory').values.forEach((value, i) => {
      if (used.has(stepTime(i))) expect(value).toBeCloseTo(used.get(stepTime(i))!, 3);
    });
    expect(window('cpu').values.filter((v) => v !== null).length).toBeGreaterThanOrEqual(5);
    expect(window('memory').values.filter((v) => v !== null).length).toBeGreaterThanOrEqual(5);
    // The counters become rates: present, and percentages.
    for (const resource of ['storage', 'network']) {
      const values = window(resource).values.filter((v): v is number => v !== null);
      expect(values.length, `${resource}: ${JSON.stringify(window(resource).issues)}`).toBeGreaterThan(0);
      for (const v of values) expect(v).toBeGreaterThanOrEqual(0);
    }
    expect(await store.latestSampleTime([hostId])).toEqual(new Date(times[times.length - 1]!));
  });
});
