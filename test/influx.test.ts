import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { connectInfluxV1 } from '../src/metrics/influxV1.js';
import { testConfig } from './helpers/temporal.js';

describe('the embedded InfluxDB 1.x', () => {
  it('stores points with their own timestamps and returns them in order', async () => {
    const influx = connectInfluxV1(testConfig());
    const host = `test-${randomUUID().slice(0, 8)}`;
    const start = Date.UTC(2014, 1, 14, 14, 30);
    const values = [12.5, 80.25, 99.75];
    await influx.writePoints(
      values.map((value, i) => ({
        measurement: 'mem',
        tags: { host },
        fields: { used_percent: value },
        timestamp: new Date(start + i * 300_000),
      })),
    );
    const rows = await influx.query<{ time: Date; used_percent: number }>(
      `SELECT "used_percent" FROM "mem" WHERE "host" = '${host}' ORDER BY time ASC`,
    );
    expect(rows.map((r) => r.used_percent)).toEqual(values);
    expect(rows.map((r) => r.time.getTime())).toEqual([start, start + 300_000, start + 600_000]);
  });

  it('answers a bad query with an error that names the problem', async () => {
    const influx = connectInfluxV1(testConfig());
    await expect(influx.query('SELECT FROM nowhere')).rejects.toThrow(/error parsing query/);
  });
});
