/** Where the embedded stack keeps its binaries, data, logs and process ids: one ignored folder in the project. */
import { fileURLToPath } from 'node:url';
import { isAbsolute, join, resolve } from 'node:path';
import type { UnderstudyConfig } from '../config/schema.js';

export const PROJECT_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** The NAB CloudWatch traces the repository ships (`data/nab/SOURCES.md`): `understudy train`'s default data. */
export const NAB_DIR = join(PROJECT_ROOT, 'data', 'nab');

export interface StackPaths {
  stateDir: string;
  temporalBin: string;
  /** The real metrics agent, built by setup with only the plugins Understudy reads. */
  telegrafBin: string;
  testServerLauncher: string;
  temporalDb: string;
  influxDir: string;
  influxConfig: string;
  logsDir: string;
  pidsDir: string;
  venvPython: string;
  /** Model versions trained on this machine (retrains, `understudy train`); the shipped ones stay in models/. */
  trainedModelsDir: string;
}

export function stackPaths(config: UnderstudyConfig): StackPaths {
  const configured = process.env.UNDERSTUDY_STATE_DIR ?? config.embedded.stateDir;
  const stateDir = isAbsolute(configured) ? configured : join(PROJECT_ROOT, configured);
  return {
    stateDir,
    temporalBin: join(stateDir, 'bin', 'temporal'),
    telegrafBin: join(stateDir, 'bin', 'telegraf'),
    testServerLauncher: join(stateDir, 'test-server', 'temporal-test-server'),
    temporalDb: join(stateDir, 'temporal', 'dev.sqlite'),
    influxDir: join(stateDir, 'influxdb'),
    influxConfig: join(stateDir, 'influxdb', 'influxdb.conf'),
    logsDir: join(stateDir, 'logs'),
    pidsDir: join(stateDir, 'pids'),
    venvPython: join(stateDir, 'venv', 'bin', 'python'),
    trainedModelsDir: join(stateDir, 'models'),
  };
}
