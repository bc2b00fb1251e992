/**
 * The InfluxDB 2.x MetricsStore against a real server speaking the v2 API (InfluxDB 1.8.10 built from its Go
 * module): the simulator writes Telegraf metrics into it, the v2 adapter reads them through Flux and must agree with
 * the 1.x adapter reading the same data; forecasts and anomalies round-trip through the v2 write API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InfluxV1MetricsStore } from '../src/metrics/influxV1Store.js';
import { InfluxV2MetricsStore } from '../src/metrics/influxV2Store.js';
import { HttpFleetProvider } from '../src/provider/client.js';
import { SimulatorControl } from '../src/simulator/control.js';
import { startSimulator, type RunningSimulator } from '../src/simulator/server.js';
import { startInfluxV2Server, type InfluxV2Server } from './helpers/influxV2Server.js';
import { SIZE, uniqueKey } from './helpers/simulator.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const START = Date.parse('2026-07-01T00:00:00Z');
const MINUTE = 60_000;

describe('metrics: the InfluxDB 2.x adapter on a server that speaks the v2 API', () => {
  let server: InfluxV2Server;
  let sim: RunningSimulator;
  let stateDir: string;
  let v1: InfluxV1MetricsStore;
  let v2: InfluxV2MetricsStore;

  beforeAll(async () => {
    server = await startInfluxV2Server('understudy_v2');
    stateDir = mkdtempSync(join(tmpdir(), 'understudy-sim-v2-'));
    // In-process here: what is under test is the v2 read path, and the HTTP simulator has its own tests.
    sim = await startSimulator({
      port: 0,
      stateDir,
      speed: 1,
      startAt: new Date(START - 30_000),
      influx: { url: server.url, database: server.database },
    });
    const provider = new HttpFleetProvider({ url: sim.url });
    const control = new SimulatorControl({ url: sim.url });
    await control.setDelays({ provisionSeconds: 0 });
    for (const hostId of ['v2-a', 'v2-b']) {
      await provider.provisionHost({
        idempotencyKey: uniqueKey('p'),
        hostId,
        region: 'eu',
        zone: 'eu-a',
        capacity: SIZE,
        role: 'primary',
      });
      await control.advance(0.001);
      await control.createWorkload({
        workloadId: `${hostId}-w`,
        hostId,
        requirements: { cpuCores: 4, memoryGiB: 8, storageIops: 4000, networkMbps: 2000 },
        demand: { kind: 'synthetic', base: 0.5, daily: { amplitude: 0.3 }, noise: 0.05 },
      });
    }
    await control.advance(30 * 60 + 40);
    await sim.writer!.drain();
    v1 = new InfluxV1MetricsStore({ url: server.url, database: server.database });
    v2 = new InfluxV2MetricsStore({ url: server.url, org: 'understudy', bucket: server.bucket });
    // A fresh machine builds influxd 1.8 first (minutes; `npm run setup` does it ahead of time).
  }, 600_000);
  afterAll(async () => {
    await sim?.close();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
    await server?.stop();
  });

  it('reads the same utilisation windows through Flux as the 1.x adapter through InfluxQL', async () => {
    const query = {
      hosts: [
        { hostId: 'v2-a', networkMbps: SIZE.networkMbps },
        { hostId: 'v2-b', networkMbps: SIZE.networkMbps },
        { hostId: 'v2-none' },
      ],
      start: new Date(START),
      end: new Date(START + 30 * MINUTE),
      stepSeconds: 120,
    };
    const [viaV2, viaV1] = await Promise.all([v2.readUtilisation(query), v1.readUtilisation(query)]);
    expect(viaV2).toHaveLength(12);
    expect(viaV2).toEqual(viaV1);
    const cpu = viaV2.find((w) => w.hostId === 'v2-a' && w.resource === 'cpu')!;
    expect(cpu.values.every((v) => v !== null && v > 2 && v < 100)).toBe(true);
    expect(viaV2.find((w) => w.hostId === 'v2-none')?.issues.map((i) => i.kind)).toEqual(['no-data']);
    expect(await v2.latestSampleTime(['v2-a', 'v2-b'])).toEqual(new Date(START + 30 * MINUTE));
    expect(await v2.latestSampleTime(['v2-a'], new Date(START + 29 * MINUTE))).toEqual(new Date(START + 30 * MINUTE));
    expect(await v2.latestSampleTime(['v2-a', 'v2-b'], new Date(START + 30 * MINUTE))).toBeUndefined();
  });

  it('writes forecasts and anomaly events through the v2 write API and reads them back', async () => {
    const issuedAt = new Date(START + 30 * MINUTE);
    await v2.writeForecasts([
      {
        hostId: 'v2-a',
        resource: 'memory',
        time: new Date(issuedAt.getTime() + 5 * MINUTE),
        issuedAt,
        model: 'lstm',
        modelVersion: '7',
        horizonMinutes: 60,
        yhat: 41.5,
        yhatLower: 38,
        yhatUpper: 45,
      },
      {
        hostId: 'v2-a',
        resource: 'memory',
        time: new Date(issuedAt.getTime() + 10 * MINUTE),
        issuedAt,
        model: 'lstm',
        modelVersion: '7',
        horizonMinutes: 60,
        yhat: 42,
      },
    ]);
    await v2.writeAnomalies([
      {
        hostId: 'v2-b',
        resource: 'cpu',
        time: new Date(START + 10 * MINUTE),
        kind: 'sustained-shift',
        actual: 70,
        expected: 40,
        deviation: 25,
      },
    ]);
    const forecasts = await v2.readForecasts({
      hostIds: ['v2-a'],
      start: issuedAt,
      end: new Date(issuedAt.getTime() + 60 * MINUTE),
    });
    expect(forecasts).toEqual([
      expect.objectContaining({
        resource: 'memory',
        model: 'lstm',
        modelVersion: '7',
        horizonMinutes: 60,
        yhat: 41.5,
        yhatLower: 38,
        yhatUpper: 45,
        issuedAt,
      }),
      expect.objectContaining({ yhat: 42 }),
    ]);
    expect(forecasts[1]?.yhatLower).toBeUndefined();
    // The 1.x adapter sees the same points: one schema, two APIs.
    expect(
      await v1.readForecasts({ hostIds: ['v2-a'], start: issuedAt, end: new Date(issuedAt.getTime() + 60 * MINUTE) }),
    ).toEqual(forecasts);
    const anomalies = await v2.readAnomalies({
      hostIds: ['v2-b'],
      resource: 'cpu',
      start: new Date(START),
      end: issuedAt,
    });
    expect(anomalies).toEqual([
      expect.objectContaining({ kind: 'sustained-shift', actual: 70, expected: 40, deviation: 25 }),
    ]);
  });

  it("writes a pair's recorded demand through the v2 API and reads the same points as the 1.x adapter", async () => {
    const points = [0, 5, 10].map((minute) => ({
      pairId: 'pair-v2',
      resource: 'storage' as const,
      time: new Date(START + minute * MINUTE),
      demand: 1000 + minute,
      primaryHostId: minute < 10 ? 'v2-a' : 'v2-b',
    }));
    await v2.writePairDemand(points);
    await v2.writePairDemand([{ ...points[0]!, pairId: 'pair-v2-other', demand: 1 }]);
    const window = { start: new Date(START), end: new Date(START + 15 * MINUTE) };
    const read = await v2.readPairDemand({ pairIds: ['pair-v2'], ...window });
    expect(read).toEqual(points);
    expect(await v1.readPairDemand({ pairIds: ['pair-v2'], ...window })).toEqual(read);
  });

  it('records scaling decisions through the v2 API and reads the same ones as the 1.x adapter', async () => {
    const decisions = [
      {
        pairId: 'pair-v2',
        hostId: 'v2-a',
        time: new Date(START),
        action: 'none',
        executed: false,
        reason: 'cpu peaks at 41% (threshold 80%): "no" action',
        issuedAt: new Date(START - MINUTE),
        decidedAfterMs: 12,
      },
      {
        pairId: 'pair-v2',
        hostId: 'v2-a',
        time: new Date(START + 5 * MINUTE),
        action: 'activate-shadow-and-migrate',
        executed: true,
        reason: 'cpu forecast may reach 86%',
        issuedAt: new Date(START + 4 * MINUTE),
        bindingResource: 'cpu' as const,
        peakPercent: 86.5,
        actualPercent: 71.25,
        model: 'prophet',
        modelVersion: '2',
      },
    ];
    await v2.writeDecisions(decisions);
    await v2.writeDecisions([{ ...decisions[0]!, pairId: 'pair-v2-other' }]);
    const window = { start: new Date(START), end: new Date(START + 15 * MINUTE) };
    const read = await v2.readDecisions({ pairIds: ['pair-v2'], ...window });
    expect(read).toEqual(decisions);
    expect(await v1.readDecisions({ pairIds: ['pair-v2'], ...window })).toEqual(read);
  });

  it('reports a bad query range and an unreachable server clearly', async () => {
    await expect(
      v2.readUtilisation({
        hosts: [{ hostId: 'v2-a' }],
        start: new Date(START),
        end: new Date(START - 1),
        stepSeconds: 60,
      }),
    ).rejects.toThrow(/must be after start/);
    const nowhere = new InfluxV2MetricsStore({ url: 'http://127.0.0.1:1', org: 'o', bucket: 'b', timeoutMs: 2000 });
    await expect(nowhere.latestSampleTime(['x'])).rejects.toThrow(/InfluxDB \(v2 API\) query failed/);
  });
});
