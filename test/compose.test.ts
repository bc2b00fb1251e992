import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../src/config/load.js';
import { PROJECT_ROOT } from '../src/stack/index.js';

// Debian's docker-compose validates and renders the file without a Docker engine.
const COMPOSE_FILE = join(PROJECT_ROOT, 'docker-compose.yml');
const SECRETS = {
  POSTGRES_PASSWORD: 'pg-secret',
  UNDERSTUDY_INFLUX_ADMIN_PASSWORD: 'admin-secret',
  UNDERSTUDY_INFLUX_TOKEN: 'token-secret',
};

describe('docker-compose.yml', () => {
  it('is valid and runs Temporal on PostgreSQL, its Web UI, InfluxDB 2.x and a worker per watcher lane', () => {
    const rendered = execFileSync('docker-compose', ['-f', COMPOSE_FILE, 'config'], {
      env: { PATH: process.env.PATH, ...SECRETS },
      encoding: 'utf8',
    });
    const { services } = parse(rendered) as {
      services: Record<string, { image?: string; environment?: Record<string, string> }>;
    };
    expect(Object.keys(services).sort()).toEqual([
      'influxdb',
      'postgresql',
      'temporal',
      'temporal-ui',
      'understudy-worker-a',
      'understudy-worker-b',
    ]);
    expect(services.temporal?.environment?.DB).toBe('postgres12');
    expect(services.influxdb?.image).toMatch(/^influxdb:2\./);
    // One health-watcher lane each: a worker that dies leaves the other lane checking.
    for (const lane of ['a', 'b']) {
      const worker = services[`understudy-worker-${lane}`];
      expect(worker?.environment?.UNDERSTUDY_INFLUX_TOKEN).toBe('token-secret');
      expect(worker?.environment?.UNDERSTUDY_WATCH_LANES).toBe(lane);
    }
    // Worker b leaves the observers to worker a, so its lane is never behind their forecasting.
    expect(services['understudy-worker-a']?.environment?.UNDERSTUDY_OBSERVERS).toBeUndefined();
    expect(services['understudy-worker-b']?.environment?.UNDERSTUDY_OBSERVERS).toBe('0');
  });

  it('refuses to render without its secrets, naming the missing variable', () => {
    const result = spawnSync('docker-compose', ['-f', COMPOSE_FILE, 'config'], {
      env: { PATH: process.env.PATH, POSTGRES_PASSWORD: 'x', UNDERSTUDY_INFLUX_ADMIN_PASSWORD: 'y' },
      encoding: 'utf8',
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('set UNDERSTUDY_INFLUX_TOKEN');
  });

  it("the worker's config file in deploy/ passes Understudy's own validation", () => {
    const loaded = loadConfig(join(PROJECT_ROOT, 'deploy', 'understudy.compose.yaml'), {
      UNDERSTUDY_INFLUX_TOKEN: 'token',
    });
    expect(loaded.config.temporal.address).toBe('temporal:7233');
    expect(loaded.config.influx).toMatchObject({
      version: 2,
      url: 'http://influxdb:8086',
      org: 'understudy',
      bucket: 'understudy',
    });
    expect(loaded.secrets.influxToken).toBe('token');
  });
});
