// Training from InfluxDB, as the retraining schedule does in production: Telegraf-schema points (written with the
// simulator's own line format) in a database of the real embedded InfluxDB, the Python trainer reads and trains on
// them, and the manifest records the window it read; the forecaster knows the series by the names it asks for.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createForecaster } from '../../src/forecast/forecaster.js';
import { TrainerError, trainModels } from '../../src/forecast/trainer.js';
import type { HostRecord } from '../../src/simulator/fleet.js';
import { telegrafLines } from '../../src/simulator/telegraf.js';
import { stackPaths } from '../../src/stack/paths.js';
import { createTestDatabase, INFLUX_URL } from '../helpers/simulator.js';
import { testConfig } from '../helpers/temporal.js';

const UNTIL = Date.parse('2026-06-04T00:00:00Z');
const STEP_S = 300;
const DAY_S = 86_400;
/** The trainer's timestamps are naive UTC (`2026-06-01 00:00:00`). */
const utc = (naive: string): number => Date.parse(`${naive.replace(' ', 'T')}Z`);
const NETWORK_MBPS = 1_000;

/** Writes `days` of 5-minute Telegraf points for a host ending at UNTIL: a daily cycle on every resource. */
async function writeHost(database: string, id: string, days: number, level: number): Promise<void> {
  const host = {
    id,
    counters: { ioTimeMs: 0, readBytes: 0, writeBytes: 0, bytesRecv: 0, bytesSent: 0 },
  } as unknown as HostRecord;
  const lines: string[] = [];
  for (let t = UNTIL / 1000 - days * DAY_S; t < UNTIL / 1000; t += STEP_S) {
    const cycle = Math.sin((2 * Math.PI * t) / DAY_S);
    const disk = 10 + 5 * cycle;
    const net = 20 + 10 * cycle;
    // Counters grow by what the next interval's utilisation means: busy ms for disk, bytes for the link.
    host.counters.ioTimeMs += Math.round(disk * 10 * STEP_S);
    host.counters.bytesRecv += Math.round(((net / 100) * NETWORK_MBPS * 1e6 * STEP_S) / 8);
    host.counters.bytesSent += Math.round(((net / 200) * NETWORK_MBPS * 1e6 * STEP_S) / 8);
    lines.push(
      telegrafLines(host, { cpu: level + 15 * cycle, memory: level / 2 + 5 * cycle, storage: 0, network: 0 }, t),
    );
  }
  const response = await fetch(`${INFLUX_URL}/write?db=${database}&precision=s`, {
    method: 'POST',
    body: lines.join(''),
  });
  expect(response.status, await response.text()).toBe(204);
}

describe('trainer on InfluxDB (Telegraf measurements)', () => {
  const python = stackPaths(testConfig().config).venvPython;
  let db: { name: string; drop(): Promise<void> };
  let artifacts: string;

  beforeAll(async () => {
    db = await createTestDatabase('train_influx');
    artifacts = await mkdtemp(join(tmpdir(), 'understudy-train-influx-'));
    await writeHost(db.name, 'train-a', 3, 40);
    await writeHost(db.name, 'train-b', 3, 60);
    // A day of history: too short for Prophet, which leaves it out and says so.
    await writeHost(db.name, 'train-new', 1, 30);
    // Broken samples beside good ones in the same five-minute step: the step is dropped and the series named.
    const broken = `${UNTIL / 1000 - DAY_S + 60}`;
    const response = await fetch(`${INFLUX_URL}/write?db=${db.name}&precision=s`, {
      method: 'POST',
      body: `cpu,cpu=cpu-total,host=train-b usage_idle=150 ${broken}\nmem,host=train-b used_percent=-20 ${broken}\n`,
    });
    expect(response.status).toBe(204);
  }, 60_000);

  afterAll(async () => {
    await db?.drop();
    if (artifacts) await rm(artifacts, { recursive: true, force: true });
  });

  it('trains on every host and resource in the window and records the window in the manifest', async () => {
    const log: string[] = [];
    const summary = await trainModels({
      python,
      onLog: (line) => log.push(line),
      artifactsDir: artifacts,
      epochs: 1,
      influx: {
        url: INFLUX_URL,
        database: db.name,
        until: new Date(UNTIL).toISOString(),
        days: 3,
        hosts: ['train-a', 'train-b', 'train-new'],
        networkMbps: NETWORK_MBPS,
      },
    });
    expect(summary.version).toBe('1');
    expect(summary.series).toBe(8); // Prophet: 2 hosts x cpu, mem, diskio, net
    expect(Object.keys(summary.skipped).sort()).toEqual(['cpu', 'diskio', 'mem', 'net'].map((r) => `train-new/${r}`));
    expect(summary.skipped['train-new/cpu']).toMatch(/series train-new\/cpu: \d+ usable samples, at least 576/);
    for (const resource of ['cpu', 'mem']) {
      expect(log.join('\n')).toContain(
        `influx: series train-b/${resource}: 1 five-minute steps with samples outside 0-100% dropped`,
      );
    }

    const manifest = JSON.parse(await readFile(join(artifacts, 'prophet-v1', 'manifest.json'), 'utf8')) as {
      training_window: {
        source: string;
        database: string;
        start: string;
        end: string;
        series: Record<string, string[]>;
      };
      parameters: { series: { id: string }[] };
    };
    const window = manifest.training_window;
    expect(window).toMatchObject({ source: 'influxdb', url: INFLUX_URL, database: db.name });
    expect(utc(window.end)).toBe(UNTIL);
    expect(utc(window.start)).toBe(UNTIL - 3 * DAY_S * 1000);
    expect(Object.keys(window.series)).toHaveLength(12);
    for (const [id, [first, last]] of Object.entries(window.series)) {
      expect(utc(first!), id).toBeGreaterThanOrEqual(UNTIL - 3 * DAY_S * 1000);
      expect(utc(last!), id).toBeLessThan(UNTIL);
    }
    // Counters became utilisation in percent: the disk's daily cycle between 5% and 15% busy.
    const lstm = JSON.parse(await readFile(join(artifacts, 'lstm-v1', 'manifest.json'), 'utf8')) as {
      backtest_metrics: { selected: Record<string, string> };
    };
    expect(Object.keys(lstm.backtest_metrics.selected)).toContain('train-a/diskio');

    // The forecaster serves the trained series under the names forecastHost asks for.
    const forecaster = await createForecaster({ artifactsDir: artifacts, pollIntervalMs: 0 });
    try {
      const prophet = forecaster.registry.prophet!;
      expect([...prophet.seriesIndex.keys()].sort()).toEqual(
        ['train-a', 'train-b'].flatMap((h) => ['cpu', 'diskio', 'mem', 'net'].map((r) => `${h}/${r}`)),
      );
      const times = Array.from({ length: 288 }, (_, i) => UNTIL - (288 - i) * STEP_S * 1000);
      const r = await forecaster.forecast({
        hostId: 'train-a',
        resource: 'diskio',
        history: {
          timestamps: times,
          values: times.map((t) => 10 + 5 * Math.sin((2 * Math.PI * t) / 1000 / DAY_S)),
        },
        horizonMinutes: 60,
        now: UNTIL,
      });
      expect(r.warnings.filter((w) => /not fitted|no .* model/.test(w))).toEqual([]);
      for (const p of r.points) {
        expect(p.yhat).toBeGreaterThan(3);
        expect(p.yhat).toBeLessThan(17);
      }
    } finally {
      await forecaster.close();
    }
  }, 300_000);

  it('fails with a message naming the database when there is nothing to read', async () => {
    const error = await trainModels({
      python,
      artifactsDir: artifacts,
      epochs: 1,
      influx: { url: INFLUX_URL, database: db.name, until: '2020-01-01T00:00:00Z', days: 2 },
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TrainerError);
    expect((error as Error).message).toContain(`database ${db.name}: no cpu, mem or diskio samples`);
  }, 120_000);
});
