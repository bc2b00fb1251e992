import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { stackPaths, stackReset } from '../src/stack/index.js';

describe('stack reset', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("deletes the services' stored data and keeps the installed binaries and venv", async () => {
    // A state folder of its own, with no pid files: nothing runs from it, so the reset stops nothing real.
    const stateDir = mkdtempSync(join(tmpdir(), 'understudy-reset-'));
    dirs.push(stateDir);
    const { config } = loadConfig(undefined, {});
    const isolated = { ...config, embedded: { ...config.embedded, stateDir } };
    const saved = process.env.UNDERSTUDY_STATE_DIR;
    delete process.env.UNDERSTUDY_STATE_DIR;
    try {
      const paths = stackPaths(isolated);
      expect(paths.stateDir).toBe(stateDir);
      const file = (path: string) => {
        mkdirSync(join(path, '..'), { recursive: true });
        writeFileSync(path, 'x');
      };
      const data = [
        paths.temporalDb,
        `${paths.temporalDb}-wal`,
        join(paths.influxDir, 'data', 'understudy', 'shard'),
        join(paths.influxDir, 'meta', 'meta.db'),
        join(stateDir, 'simulator', 'state.json'),
        join(paths.trainedModelsDir, 'prophet-v2', 'manifest.json'),
      ];
      const kept = [paths.temporalBin, paths.venvPython, paths.influxConfig];
      for (const path of [...data, ...kept]) file(path);

      const removed = await stackReset(isolated);

      for (const path of data) expect(existsSync(path), path).toBe(false);
      for (const path of kept) expect(existsSync(path), path).toBe(true);
      expect(removed).toContain(paths.temporalDb);
      expect(removed).toContain(join(stateDir, 'simulator'));
      expect(removed).toContain(paths.trainedModelsDir);
      // Nothing left to remove: a second reset removes nothing and does not fail.
      expect(await stackReset(isolated)).toEqual([]);
    } finally {
      if (saved !== undefined) process.env.UNDERSTUDY_STATE_DIR = saved;
    }
  });
});
