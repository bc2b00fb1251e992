/** Brings the embedded stack up (reusing what already runs) and down, for the CLI, `npm start` and the tests. */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { UnderstudyConfig } from '../config/schema.js';
import { ServiceError } from './process.js';
import { influxdInstalled, startInflux, stopInflux } from './influx.js';
import { stackPaths } from './paths.js';
import { simulatorStateDir, startSimulatorService, stopSimulatorService } from './simulator.js';
import { startTemporal, stopTemporal, webUiUrl, type StartedService } from './temporal.js';
import { kubernetesBedDown, kubernetesBedUp, kubernetesBinDir, missingBedBinaries } from './kubernetesBed.js';

/** The embedded Kubernetes test bed runs when the provider is Kubernetes and no kubeconfig names another cluster. */
const runsKubernetesBed = (config: UnderstudyConfig): boolean =>
  config.provider.kind === 'kubernetes' && config.provider.kubeconfig === undefined;

const bedOptions = (config: UnderstudyConfig) => {
  const { stateDir } = stackPaths(config);
  return { dir: join(stateDir, 'kubernetes'), binDir: kubernetesBinDir(stateDir) };
};

export { ServiceError } from './process.js';
export { stackPaths, PROJECT_ROOT } from './paths.js';
export { webUiUrl, ensureSearchAttributes, type StartedService } from './temporal.js';

export interface Stack {
  services: StartedService[];
  webUi: string;
}

export async function stackUp(config: UnderstudyConfig): Promise<Stack> {
  const paths = stackPaths(config);
  // Every binary is checked before anything starts, so a missing one never leaves half a stack running.
  const missing = [
    ...(existsSync(paths.temporalBin) ? [] : [`the Temporal CLI (${paths.temporalBin})`]),
    ...(influxdInstalled() ? [] : ['influxd (InfluxDB 1.x)']),
    ...(runsKubernetesBed(config) && missingBedBinaries(bedOptions(config).binDir).length > 0
      ? ['the Kubernetes test bed (`bash scripts/install-kubernetes.sh`)']
      : []),
  ];
  if (missing.length > 0) throw new ServiceError(`not installed: ${missing.join(', ')}; run \`npm run setup\``);
  // Started one after the other: on two cores, parallel cold starts only slow each other down.
  const influx = await startInflux(config, paths);
  const temporal = await startTemporal(config, paths);
  const simulator = await startSimulatorService(config, paths); // after InfluxDB: it writes metrics there
  const services = [temporal, influx, simulator];
  if (runsKubernetesBed(config)) {
    const bed = await kubernetesBedUp(bedOptions(config));
    services.push({ name: 'kubernetes', pid: bed.pid, reused: bed.reused, address: bed.server });
  }
  return { services, webUi: webUiUrl(config) };
}

/** Stops the embedded services, or only those named (e.g. the ones a command started itself). */
export async function stackDown(config: UnderstudyConfig, only?: readonly string[]): Promise<string[]> {
  const paths = stackPaths(config);
  const wanted = (name: string): boolean => only === undefined || only.includes(name);
  const stopped: string[] = [];
  if (wanted('simulator') && (await stopSimulatorService(paths))) stopped.push('simulator');
  if (wanted('temporal') && (await stopTemporal(paths))) stopped.push('temporal');
  if (wanted('influxd') && (await stopInflux(paths))) stopped.push('influxd');
  // Stopped whatever the configuration says now: a bed an earlier configuration started must not outlive `down`.
  if (wanted('kubernetes') && (await kubernetesBedDown(bedOptions(config))).length > 0) stopped.push('kubernetes');
  return stopped;
}

/**
 * Stops the embedded services and deletes what they stored — Temporal's workflows and schedules, InfluxDB's
 * metrics, the simulator's fleet, the Kubernetes bed's cluster and the models trained on those metrics — so the next
 * `up` (and the demo) starts from nothing. Installed binaries, the Python venv and the shipped models stay. Returns
 * the paths removed.
 */
export async function stackReset(config: UnderstudyConfig): Promise<string[]> {
  const paths = stackPaths(config);
  await stackDown(config);
  const data = [
    paths.temporalDb,
    `${paths.temporalDb}-wal`,
    `${paths.temporalDb}-shm`,
    ...['data', 'meta', 'wal'].map((dir) => join(paths.influxDir, dir)),
    simulatorStateDir(paths),
    paths.trainedModelsDir,
    join(bedOptions(config).dir, 'etcd-data'),
  ];
  const removed = data.filter((path) => existsSync(path));
  for (const path of removed) rmSync(path, { recursive: true, force: true });
  return removed;
}
