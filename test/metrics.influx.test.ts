/**
 * The metrics path end to end on the real InfluxDB: the simulator writes Telegraf's schema on its simulated clock,
 * the InfluxDB 1.x MetricsStore reads it back as utilisation in percent of capacity, reporting gaps, counter resets
 * and invalid samples, and forecasts and anomalies go to their own measurements beside the actuals.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InfluxV1MetricsStore } from '../src/metrics/influxV1Store.js';
import type { UtilisationWindow } from '../src/metrics/types.js';
import {
  INFLUX_URL,
  SIZE,
  createTestDatabase,
  finish,
  startTestSimulator,
  uniqueKey,
  type TestSimulator,
} from './helpers/simulator.js';

const START = Date.parse('2026-06-01T00:00:00Z');
const MINUTE = 60_000;
const requirements = { cpuCores: 4, memoryGiB: 8, storageIops: 4000, networkMbps: 2000 };

/** Expected utilisation (percent of allocation) of a SIZE host running one workload at constant demand 0.5. */
const EXPECTED = {
  cpu: 2 + (100 * 4 * 0.5) / 16,
  memory: 8 + (100 * 8 * 0.75) / 64,
  storage: 1 + (100 * 4000 * 0.5) / 20_000,
  network: 0.5 + (100 * 2000 * 0.5) / 10_000,
};

describe('metrics: Telegraf schema written by the simulator, read by the InfluxDB 1.x MetricsStore', () => {
  let sim: TestSimulator;
  let db: { name: string; drop(): Promise<void> };
  let store: InfluxV1MetricsStore;
  const window = (windows: UtilisationWindow[], hostId: string, resource: string) =>
    windows.find((w) => w.hostId === hostId && w.resource === resource)!;

  async function metricsFlushed(): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const { metrics } = await sim.control.status();
      if (
        metrics &&
        metrics.queuedLines === 0 &&
        metrics.pointsWritten + metrics.pointsDropped === metrics.pointsQueued
      ) {
        expect(metrics.pointsDropped).toBe(0);
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('metrics were not flushed to InfluxDB');
  }

  beforeAll(async () => {
    db = await createTestDatabase('metrics_test');
    sim = await startTestSimulator({
      speed: 1,
      startAt: new Date(START - 30_000).toISOString(),
      influxDatabase: db.name,
    });
    store = new InfluxV1MetricsStore({ url: INFLUX_URL, database: db.name });
    await sim.control.setDelays({ provisionSeconds: 0.5 });
    for (const hostId of ['m-1', 'm-2', 'm-3']) {
      await finish(
        sim,
        await sim.provider.provisionHost({
          idempotencyKey: uniqueKey('p'),
          hostId,
          region: 'eu',
          zone: 'eu-a',
          capacity: SIZE,
          role: 'primary',
        }),
      );
      await sim.control.createWorkload({
        workloadId: `${hostId}-w`,
        hostId,
        requirements,
        demand: { kind: 'synthetic', base: 0.5 },
      });
    }
    // One hour of fleet life; m-2 is down from minute 20:10 to 30:10 and comes back rebooted.
    const advanceTo = async (ms: number) => {
      const now = Date.parse((await sim.control.status()).now);
      await sim.control.advance((ms - now) / 1000);
    };
    await advanceTo(START + 20 * MINUTE + 10_000);
    await sim.control.failHost('m-2');
    await advanceTo(START + 30 * MINUTE + 10_000);
    await sim.control.recoverHost('m-2');
    await advanceTo(START + 60 * MINUTE + 10_000);
    await metricsFlushed();
  });
  afterAll(async () => {
    await sim?.stop();
    await db?.drop();
  });

  it('writes exactly Telegraf default schema, stamped with the simulated clock', async () => {
    const [cpu, mem, diskio, net, tags] = await store.query([
      `SHOW FIELD KEYS FROM "cpu"`,
      `SHOW FIELD KEYS FROM "mem"`,
      `SHOW FIELD KEYS FROM "diskio"`,
      `SHOW FIELD KEYS FROM "net"`,
      `SELECT "usage_idle", "cpu", "host" FROM "cpu" WHERE "host" = 'm-1' ORDER BY time ASC LIMIT 2`,
    ]);
    const fields = (r: typeof cpu) =>
      Object.fromEntries((r?.series?.[0]?.values ?? []).map(([k, t]) => [k as string, t as string]));
    expect(fields(cpu)).toMatchObject({ usage_idle: 'float' });
    expect(fields(mem)).toMatchObject({ used_percent: 'float' });
    expect(fields(diskio)).toMatchObject({ io_time: 'integer', read_bytes: 'integer', write_bytes: 'integer' });
    expect(fields(net)).toMatchObject({ bytes_recv: 'integer', bytes_sent: 'integer' });
    const rows = tags?.series?.[0]?.values ?? [];
    expect(rows[0]?.[0]).toBe(START); // the first simulated minute, not the wall clock
    expect(rows[1]?.[0]).toBe(START + MINUTE);
    expect(rows[0]?.[2]).toBe('cpu-total');
    expect(await store.latestSampleTime(['m-1', 'm-2'])).toEqual(new Date(START + 60 * MINUTE));
    // Bounded: only what came after the given time, nothing when no sample did.
    expect(await store.latestSampleTime(['m-1'], new Date(START + 59 * MINUTE))).toEqual(new Date(START + 60 * MINUTE));
    expect(await store.latestSampleTime(['m-1', 'm-2'], new Date(START + 60 * MINUTE))).toBeUndefined();
  });

  it('reads many hosts in one query as percent of capacity, counters turned into rates', async () => {
    const windows = await store.readUtilisation({
      hosts: [
        { hostId: 'm-1', networkMbps: SIZE.networkMbps },
        { hostId: 'm-3', networkMbps: SIZE.networkMbps },
      ],
      start: new Date(START),
      end: new Date(START + 60 * MINUTE),
      stepSeconds: 300,
    });
    expect(windows).toHaveLength(8);
    for (const hostId of ['m-1', 'm-3']) {
      for (const resource of ['cpu', 'memory', 'storage', 'network'] as const) {
        const w = window(windows, hostId, resource);
        expect(w.values).toHaveLength(12);
        // The first step's counters have no earlier sample to difference against, so it is a reported gap.
        const values = resource === 'storage' || resource === 'network' ? w.values.slice(1) : w.values;
        for (const v of values) expect(v, `${hostId} ${resource}`).toBeCloseTo(EXPECTED[resource], 1);
      }
    }
    // What the simulator itself says about the host now agrees.
    const live = await sim.control.utilisation('m-1');
    expect(live.cpu).toBeCloseTo(EXPECTED.cpu, 5);
  });

  it('reports a dead host as a gap and its reboot as a counter reset, never as zeros', async () => {
    const windows = await store.readUtilisation({
      hosts: [{ hostId: 'm-2', networkMbps: SIZE.networkMbps }],
      start: new Date(START + 10 * MINUTE),
      end: new Date(START + 40 * MINUTE),
      stepSeconds: 60,
    });
    const cpu = window(windows, 'm-2', 'cpu');
    // Samples at minutes 10..20 and 31..39; minutes 21..30 are missing.
    expect(cpu.values.slice(0, 11).every((v) => v !== null && Math.abs(v - EXPECTED.cpu) < 0.1)).toBe(true);
    expect(cpu.values.slice(11, 21)).toEqual(new Array(10).fill(null));
    expect(cpu.values[21]).toBeCloseTo(EXPECTED.cpu, 1);
    expect(cpu.issues).toEqual([
      expect.objectContaining({
        kind: 'gap',
        from: new Date(START + 21 * MINUTE).toISOString(),
        to: new Date(START + 31 * MINUTE).toISOString(),
        count: 10,
      }),
    ]);
    const storage = window(windows, 'm-2', 'storage');
    expect(storage.values.some((v) => v === 0)).toBe(false);
    expect(storage.issues.map((i) => i.kind)).toContain('counter-reset');
    const reset = storage.issues.find((i) => i.kind === 'counter-reset')!;
    expect(reset.from).toBe(new Date(START + 31 * MINUTE).toISOString());
    expect(storage.values[21]).toBeNull(); // the interval across the reboot has no rate
    expect(storage.values[22]).toBeCloseTo(EXPECTED.storage, 1);
  });

  it('drops and reports invalid samples, hosts without data and network without a link speed', async () => {
    const base = START + 90 * MINUTE;
    await store.write(
      [
        `cpu,cpu=cpu-total,host=bad-1 usage_idle=50 ${base}`,
        `cpu,cpu=cpu-total,host=bad-1 usage_idle=-35 ${base + MINUTE}`,
        `cpu,cpu=cpu-total,host=bad-1 usage_idle=40 ${base + 2 * MINUTE}`,
      ],
      'ms',
    );
    const windows = await store.readUtilisation({
      hosts: [{ hostId: 'bad-1' }, { hostId: 'never-existed' }],
      resources: ['cpu', 'network'],
      start: new Date(base),
      end: new Date(base + 3 * MINUTE),
      stepSeconds: 60,
    });
    const cpu = window(windows, 'bad-1', 'cpu');
    expect(cpu.values).toEqual([50, null, 60]);
    expect(cpu.issues.map((i) => i.kind).sort()).toEqual(['gap', 'invalid-value']);
    expect(cpu.issues.find((i) => i.kind === 'invalid-value')?.detail).toMatch(/135% is outside 0-100/);
    expect(window(windows, 'never-existed', 'cpu').issues.map((i) => i.kind)).toEqual(['no-data']);
    const net = await store.readUtilisation({
      hosts: [{ hostId: 'm-1' }],
      resources: ['network'],
      start: new Date(START + 10 * MINUTE),
      end: new Date(START + 20 * MINUTE),
      stepSeconds: 60,
    });
    expect(net[0]?.values.every((v) => v === null)).toBe(true);
    expect(net[0]?.issues.map((i) => i.kind)).toContain('unknown-capacity');
    await expect(
      store.readUtilisation({
        hosts: [{ hostId: 'm-1' }],
        start: new Date(START),
        end: new Date(START),
        stepSeconds: 60,
      }),
    ).rejects.toThrow(/must be after start/);
  });

  it('writes forecasts and anomaly events to their own measurements beside the actuals', async () => {
    const issuedAt = new Date(START + 60 * MINUTE);
    await store.writeForecasts(
      [1, 2, 3].map((i) => ({
        hostId: 'm-1',
        resource: 'cpu' as const,
        time: new Date(issuedAt.getTime() + i * 5 * MINUTE),
        issuedAt,
        model: 'prophet',
        modelVersion: '3',
        horizonMinutes: 15,
        yhat: 14 + i,
        yhatLower: 12 + i,
        yhatUpper: 16 + i,
      })),
    );
    await store.writeAnomalies([
      {
        hostId: 'm-1',
        resource: 'cpu',
        time: new Date(START + 30 * MINUTE),
        kind: 'spike',
        actual: 95,
        expected: 14.5,
        deviation: 78,
        detail: 'isolated spike, "ignored" by scaling',
      },
    ]);
    const forecasts = await store.readForecasts({
      hostIds: ['m-1'],
      resource: 'cpu',
      start: issuedAt,
      end: new Date(issuedAt.getTime() + 20 * MINUTE),
    });
    expect(forecasts.map((f) => f.yhat)).toEqual([15, 16, 17]);
    expect(forecasts[0]).toMatchObject({
      model: 'prophet',
      modelVersion: '3',
      horizonMinutes: 15,
      yhatLower: 13,
      yhatUpper: 17,
      issuedAt,
    });
    const anomalies = await store.readAnomalies({ hostIds: ['m-1'], start: new Date(START), end: issuedAt });
    expect(anomalies).toEqual([
      expect.objectContaining({ kind: 'spike', actual: 95, detail: 'isolated spike, "ignored" by scaling' }),
    ]);
    // A pair's recorded demand: keyed by pair, resource and step, so writing a step again overwrites it.
    const pairPoint = (minute: number, demand: number, primaryHostId: string) => ({
      pairId: 'pair-m',
      resource: 'memory' as const,
      time: new Date(START + minute * MINUTE),
      demand,
      primaryHostId,
    });
    await store.writePairDemand([pairPoint(0, 20, 'm-1'), pairPoint(5, 21.5, 'm-1')]);
    await store.writePairDemand([pairPoint(5, 22, 'm-1'), pairPoint(10, 23, 'm "2"')]);
    await store.writePairDemand([{ ...pairPoint(0, 99, 'x'), pairId: 'pair-other' }]);
    expect(
      await store.readPairDemand({ pairIds: ['pair-m'], start: new Date(START), end: new Date(START + 10 * MINUTE) }),
    ).toEqual([pairPoint(0, 20, 'm-1'), pairPoint(5, 22, 'm-1')]);
    expect(
      (await store.readPairDemand({ pairIds: ['pair-m'], start: new Date(START), end: issuedAt })).map(
        (p) => p.primaryHostId,
      ),
    ).toEqual(['m-1', 'm-1', 'm "2"']);
    const [measurements] = await store.query(['SHOW MEASUREMENTS']);
    const names = (measurements?.series?.[0]?.values ?? []).map(([n]) => n);
    expect(names).toEqual(
      expect.arrayContaining([
        'cpu',
        'mem',
        'diskio',
        'net',
        'understudy_forecast',
        'understudy_anomaly',
        'understudy_pair_demand',
      ]),
    );
  });
});
