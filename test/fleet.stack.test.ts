/**
 * The embedded stack runs the fleet simulator at the configured provider URL, and the provider client reaches it
 * with the configured timeout: the path the activities take by default.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HttpFleetProvider } from '../src/provider/client.js';
import { stackPaths } from '../src/stack/index.js';
import { testConfig } from './helpers/temporal.js';

describe('embedded stack: fleet simulator', () => {
  it('is running under its pid file and answers the provider API at the configured URL', async () => {
    const { config } = testConfig();
    const paths = stackPaths(config);
    const pidFile = join(paths.pidsDir, 'simulator.pid');
    expect(existsSync(pidFile)).toBe(true);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(() => process.kill(pid, 0)).not.toThrow();
    const health = (await (await fetch(`${config.provider.url}/health`)).json()) as { ok: boolean; speed: number };
    expect(health).toMatchObject({ ok: true, speed: 60 });
    const provider = new HttpFleetProvider({
      url: config.provider.url,
      requestTimeoutMs: config.provider.requestTimeoutMs,
    });
    const fleet = await provider.describeFleet();
    expect(Number.isNaN(Date.parse(fleet.now))).toBe(false);
    expect(Array.isArray(fleet.hosts)).toBe(true);
    expect(typeof (await provider.invariants()).checkedAt).toBe('string');
  });
});
