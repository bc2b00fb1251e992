/**
 * Demand: synthetic profiles (pure logic, checked on their own) and trace replay from the real NAB CloudWatch CSVs,
 * uploaded to a real simulator process, quirks and bad rows included.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NAB_DIR } from '../src/stack/paths.js';
import type { SyntheticDemandProfile } from '../src/provider/types.js';
import { parseTraceCsv, syntheticDemand, traceDemand, TraceParseError } from '../src/simulator/demand.js';
import {
  SIZE,
  expectProviderError,
  finish,
  startTestSimulator,
  uniqueKey,
  type TestSimulator,
} from './helpers/simulator.js';

const NAB = join(NAB_DIR, 'realAWSCloudwatch');
const nab = (file: string) => readFileSync(join(NAB, file), 'utf8');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MONDAY = Date.parse('2026-03-02T00:00:00Z');

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sample = (profile: SyntheticDemandProfile, from: number, to: number, step: number) => {
  const out: number[] = [];
  for (let t = from; t < to; t += step) out.push(syntheticDemand(profile, t, MONDAY));
  return out;
};

describe('synthetic demand profiles', () => {
  it('peaks at the configured hour, day of week and day of month', () => {
    const daily = { kind: 'synthetic' as const, base: 0.5, daily: { amplitude: 0.3, peakHourUtc: 15 } };
    expect(syntheticDemand(daily, MONDAY + 15 * HOUR, MONDAY)).toBeCloseTo(0.8, 6);
    expect(syntheticDemand(daily, MONDAY + 3 * HOUR, MONDAY)).toBeCloseTo(0.2, 6);
    const weekly = { kind: 'synthetic' as const, base: 0.5, weekly: { amplitude: 0.2, peakDay: 3 } };
    // 2026-03-04 is a Wednesday (day 3).
    expect(syntheticDemand(weekly, Date.parse('2026-03-04T00:00:00Z'), MONDAY)).toBeCloseTo(0.7, 6);
    const monthly = { kind: 'synthetic' as const, base: 0.5, monthly: { amplitude: 0.1, peakDayOfMonth: 20 } };
    expect(syntheticDemand(monthly, Date.parse('2026-03-20T00:00:00Z'), MONDAY)).toBeCloseTo(0.6, 6);
  });

  it('follows its trend, noise, spikes and drift, reproducibly', () => {
    const trend = { kind: 'synthetic' as const, base: 0.5, trendPerDay: 0.01 };
    expect(syntheticDemand(trend, MONDAY + 10 * DAY, MONDAY)).toBeCloseTo(0.6, 6);

    const noisy = { kind: 'synthetic' as const, base: 1, noise: 0.1, seed: 7 };
    const values = sample(noisy, MONDAY, MONDAY + 7 * DAY, 60_000);
    const m = mean(values);
    const sd = Math.sqrt(mean(values.map((v) => (v - m) ** 2)));
    expect(m).toBeCloseTo(1, 1);
    expect(sd).toBeGreaterThan(0.08);
    expect(sd).toBeLessThan(0.12);
    expect(sample(noisy, MONDAY, MONDAY + DAY, 60_000)).toEqual(values.slice(0, 1440)); // same seed, same noise

    const spiky = {
      kind: 'synthetic' as const,
      base: 0.3,
      spikes: { perDay: 4, magnitude: 1, durationMinutes: 15 },
      seed: 3,
    };
    const minutes = sample(spiky, MONDAY, MONDAY + 30 * DAY, 60_000);
    const spikeMinutes = minutes.filter((v) => v > 1).length;
    // ~4 spikes a day × 15 minutes × 30 days = 1800 minutes.
    expect(spikeMinutes).toBeGreaterThan(1200);
    expect(spikeMinutes).toBeLessThan(2400);

    const drifting = { kind: 'synthetic' as const, base: 1, driftPerDay: 0.05, seed: 11 };
    const daily = sample(drifting, MONDAY, MONDAY + 120 * DAY, DAY);
    expect(Math.max(...daily) - Math.min(...daily)).toBeGreaterThan(0.05);
    const steps = daily.slice(1).map((v, i) => Math.abs(v - daily[i]!));
    expect(Math.max(...steps)).toBeLessThan(0.3); // slow: no jumps from one day to the next
  });
});

describe('trace parsing (real NAB files)', () => {
  it('de-duplicates the DST export and reports its gap', () => {
    const { summary } = parseTraceCsv('disk', nab('ec2_disk_write_bytes_1ef3de.csv'));
    expect(summary).toMatchObject({
      rows: 4730 - 11,
      duplicatesDropped: 11,
      gaps: 1,
      maxGapMinutes: 61,
      stepSeconds: 300,
      first: '2014-03-01T17:34:00.000Z',
      last: '2014-03-18T03:39:00.000Z',
    });
  });

  it('reads every realAWSCloudwatch file, with the row counts SOURCES.md gives', () => {
    const { summary } = parseTraceCsv('cpu', nab('ec2_cpu_utilization_825cc2.csv'));
    expect(summary).toMatchObject({ rows: 4032, duplicatesDropped: 0, gaps: 2, maxGapMinutes: 10 });
    const { summary: short } = parseTraceCsv('iio', nab('iio_us-east-1_i-a2eb1cd9_NetworkIn.csv'));
    expect(short.rows).toBe(1243);
  });

  it('replays a trace looped from the workload start, normalised to its peak', () => {
    const { trace } = parseTraceCsv(
      't',
      'timestamp,value\n2014-01-01 00:00:00,10\n2014-01-01 00:05:00,20\n2014-01-01 00:10:00,40\n',
    );
    const profile = { kind: 'trace' as const, traceId: 't', peak: 2 };
    expect(traceDemand(profile, trace, MONDAY, MONDAY)).toBeCloseTo(0.5, 6);
    expect(traceDemand(profile, trace, MONDAY + 150_000, MONDAY)).toBeCloseTo(0.75, 6); // halfway to the second sample
    expect(traceDemand(profile, trace, MONDAY + 10 * 60_000, MONDAY)).toBeCloseTo(2, 6);
    expect(traceDemand(profile, trace, MONDAY + 15 * 60_000, MONDAY)).toBeCloseTo(0.5, 6); // looped
  });

  it('rejects bad rows, naming each by line', () => {
    const bad =
      'timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,abc\n2014-02-30 00:10:00,3\n2014-01-01 00:15:00\n';
    const error = (() => {
      try {
        parseTraceCsv('bad', bad);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(TraceParseError);
    const message = (error as TraceParseError).message;
    expect(message).toMatch(/3 bad rows/);
    expect(message).toMatch(/line 3: value "abc" is not a finite number/);
    expect(message).toMatch(/line 4: timestamp "2014-02-30 00:10:00" is not/);
    expect(message).toMatch(/line 5: expected 2 fields/);
    expect(() => parseTraceCsv('h', 'time,val\n2014-01-01 00:00:00,1\n')).toThrow(
      /must start with the header "timestamp,value"/,
    );
  });
});

describe('trace replay in a running simulator', () => {
  let sim: TestSimulator;
  beforeAll(async () => {
    sim = await startTestSimulator({ speed: 1, startAt: '2026-03-02T00:00:00Z' });
    await sim.control.setDelays({ provisionSeconds: 1 });
    await finish(
      sim,
      await sim.provider.provisionHost({
        idempotencyKey: uniqueKey('p'),
        hostId: 'tr-1',
        region: 'eu',
        zone: 'eu-a',
        capacity: SIZE,
        role: 'primary',
      }),
    );
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('drives a workload from an uploaded NAB trace', async () => {
    const csv = nab('ec2_cpu_utilization_53ea38.csv');
    const summary = await sim.control.uploadTrace('nab-53ea38', csv);
    expect(summary).toMatchObject({ traceId: 'nab-53ea38', rows: 4032, stepSeconds: 300 });
    const { trace } = parseTraceCsv('nab-53ea38', csv);
    await sim.control.createWorkload({
      workloadId: 'tr-w',
      hostId: 'tr-1',
      requirements: { cpuCores: 8, memoryGiB: 8, storageIops: 1000, networkMbps: 100 },
      demand: { kind: 'trace', traceId: 'nab-53ea38' },
    });
    await sim.control.advance(25 * 60);
    const u = await sim.control.utilisation('tr-1');
    // The clock runs at 1× in this test, so "now" moves by milliseconds: the trace barely changes in between.
    const at = Date.parse((await sim.control.status()).now);
    const createdAt = Date.parse((await sim.provider.describeFleet()).workloads[0]!.createdAt);
    const expected = traceDemand({ kind: 'trace', traceId: 'nab-53ea38' }, trace, at, createdAt);
    expect(u.cpu).toBeCloseTo(2 + (100 * 8 * expected) / 16, 0);
  });

  it('refuses a CSV with bad rows (400, rows named) and stores nothing; unknown and duplicate traces too', async () => {
    const bad = await expectProviderError(
      sim.control.uploadTrace('broken', 'timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,NaN\n'),
      'bad_request',
      400,
    );
    expect(bad.message).toMatch(/line 3: value "NaN" is not a finite number/);
    expect(bad.details).toMatchObject({ badRows: [{ line: 3 }] });
    await expectProviderError(sim.control.traceSummary('broken'), 'not_found', 404);
    const before = await sim.provider.describeFleet();
    const unknown = await expectProviderError(
      sim.control.createWorkload({
        workloadId: 'tr-missing',
        hostId: 'tr-1',
        requirements: { cpuCores: 1, memoryGiB: 1, storageIops: 100, networkMbps: 10 },
        demand: { kind: 'trace', traceId: 'no-such-trace' },
      }),
      'not_found',
      404,
    );
    expect(unknown.message).toMatch(/trace "no-such-trace" does not exist/);
    expect((await sim.provider.describeFleet()).workloads).toEqual(before.workloads);
    await sim.control.uploadTrace('once', 'timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,2\n');
    await expectProviderError(
      sim.control.uploadTrace('once', 'timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,2\n'),
      'conflict',
      409,
    );
  });
});
