/**
 * The fault campaign's own stack: a Temporal dev server, an InfluxDB and a simulator on ports and a state folder
 * of their own (never the embedded stack others use, since the campaign restarts and stops these), started and
 * stopped through the same code as the embedded stack, and a worker in a child process it can kill.
 */
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { configSchema, type UnderstudyConfig } from '../config/schema.js';
import { HttpFleetProvider } from '../provider/client.js';
import { SimulatorControl } from '../simulator/control.js';
import { startInflux, stopInflux } from '../stack/influx.js';
import { stackPaths, type StackPaths } from '../stack/paths.js';
import { simulatorStateDir, startSimulatorService, stopSimulatorService } from '../stack/simulator.js';
import { startTemporal, stopTemporal } from '../stack/temporal.js';
import { bundleWorkflows } from '../worker.js';
import { spawnWorkerProcess } from '../workerProcess.js';

export interface ChaosStackOptions {
  /** Folder name under the embedded state folder: `chaos` for the campaign, another for a test beside it. */
  name: string;
  temporalPort: number;
  temporalUiPort: number;
  /** InfluxDB's HTTP port; its RPC port is this + 2. */
  influxPort: number;
  simulatorPort: number;
}

export const CAMPAIGN_STACK: ChaosStackOptions = {
  name: 'chaos',
  temporalPort: 27233,
  temporalUiPort: 28233,
  influxPort: 28086,
  simulatorPort: 28090,
};

const CHAOS_DATABASE = 'chaos';

/** The configuration the campaign's services and worker run with: the defaults, moved to the campaign's ports. */
export function chaosConfig(options: ChaosStackOptions): UnderstudyConfig {
  return configSchema.parse({
    temporal: { address: `127.0.0.1:${options.temporalPort}` },
    influx: { version: 1, url: `http://127.0.0.1:${options.influxPort}`, database: CHAOS_DATABASE },
    provider: { url: `http://127.0.0.1:${options.simulatorPort}` },
    embedded: {
      stateDir: `.understudy/${options.name}`,
      temporalPort: options.temporalPort,
      temporalUiPort: options.temporalUiPort,
      influxPort: options.influxPort,
      simulatorPort: options.simulatorPort,
    },
  });
}

/** Binaries from the embedded stack's folder (installed once); data, logs and pid files in the campaign's own. */
export function chaosPaths(options: ChaosStackOptions): StackPaths {
  const installed = stackPaths(configSchema.parse({}));
  const stateDir = join(installed.stateDir, options.name);
  return {
    ...installed,
    stateDir,
    temporalDb: join(stateDir, 'temporal', 'dev.sqlite'),
    influxDir: join(stateDir, 'influxdb'),
    influxConfig: join(stateDir, 'influxdb', 'influxdb.conf'),
    logsDir: join(stateDir, 'logs'),
    pidsDir: join(stateDir, 'pids'),
  };
}

/** A worker that a drill kills and brings back; one that dies on its own is brought back too, and counted. */
export class WorkerSupervisor {
  private child?: ChildProcess;
  private expectingExit = false;
  private starting?: Promise<void>;
  unexpectedExits = 0;

  constructor(
    private readonly launch: () => Promise<ChildProcess>,
    private readonly log: WriteStream,
  ) {}

  async start(): Promise<void> {
    this.starting ??= (async () => {
      const child = await this.launch();
      this.child = child;
      this.expectingExit = false;
      child.once('exit', (code, signal) => {
        if (this.child !== child || this.expectingExit) return;
        this.unexpectedExits += 1;
        this.log.write(`worker exited on its own (${code ?? signal}); starting another\n`);
        this.child = undefined;
        void this.start().catch((error: unknown) => this.log.write(`worker restart failed: ${String(error)}\n`));
      });
    })().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGKILL, as a crash would: no shutdown, no goodbye to the server. */
  async kill(): Promise<void> {
    await this.starting;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.expectingExit = true;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
    this.child = undefined;
  }
}

export interface ChaosStack {
  options: ChaosStackOptions;
  config: UnderstudyConfig;
  paths: StackPaths;
  client: Client;
  provider: HttpFleetProvider;
  control: SimulatorControl;
  worker: WorkerSupervisor;
  taskQueue: string;
  /** Stops the simulator, wipes its state and starts it again: every round begins on an empty fleet. */
  resetSimulator(): Promise<void>;
  stopTemporal(): Promise<void>;
  startTemporal(): Promise<void>;
  stopInflux(): Promise<void>;
  startInflux(): Promise<void>;
  /** Stops the worker and every service this stack started (never another stack's). */
  down(): Promise<void>;
}

/** Starts (or reuses, when a previous run left them up) the campaign's services, then a worker. */
export async function chaosStackUp(options: ChaosStackOptions, log: WriteStream): Promise<ChaosStack> {
  const config = chaosConfig(options);
  const paths = chaosPaths(options);
  mkdirSync(paths.stateDir, { recursive: true });
  await startInflux(config, paths);
  // Each campaign starts from an empty Temporal: workflows an earlier campaign left running would replay through
  // workflow code that did not write them. (A Temporal restart within the campaign keeps the file.)
  await stopTemporal(paths);
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${paths.temporalDb}${suffix}`, { force: true });
  await startTemporal(config, paths);
  rmSync(simulatorStateDir(paths), { recursive: true, force: true });
  await startSimulatorService(config, paths);

  const bundle = await bundleWorkflows();
  if (!('code' in bundle)) throw new Error('expected an in-memory workflow bundle');
  const bundlePath = join(paths.stateDir, `workflow-bundle-${process.pid}.js`);
  writeFileSync(bundlePath, bundle.code);

  const taskQueue = `chaos-${options.name}`;
  const worker = new WorkerSupervisor(
    () =>
      spawnWorkerProcess(
        {
          taskQueue,
          simulatorUrl: config.provider.url,
          influxUrl: config.influx.url,
          database: CHAOS_DATABASE,
          bundlePath,
          temporalAddress: config.temporal.address,
          namespace: config.temporal.namespace,
        },
        log,
      ),
    log,
  );
  await worker.start();
  const connection = await Connection.connect({ address: config.temporal.address });
  const client = new Client({ connection, namespace: config.temporal.namespace });

  return {
    options,
    config,
    paths,
    client,
    provider: new HttpFleetProvider({ url: config.provider.url }),
    control: new SimulatorControl({ url: config.provider.url }),
    worker,
    taskQueue,
    async resetSimulator() {
      await stopSimulatorService(paths);
      rmSync(simulatorStateDir(paths), { recursive: true, force: true });
      await startSimulatorService(config, paths);
    },
    stopTemporal: async () => void (await stopTemporal(paths)),
    startTemporal: async () => void (await startTemporal(config, paths)),
    stopInflux: async () => void (await stopInflux(paths)),
    startInflux: async () => void (await startInflux(config, paths)),
    async down() {
      await worker.kill();
      await connection.close().catch(() => undefined);
      await stopSimulatorService(paths);
      await stopTemporal(paths);
      await stopInflux(paths);
      rmSync(bundlePath, { force: true });
    },
  };
}

export function openLog(path: string): WriteStream {
  mkdirSync(join(path, '..'), { recursive: true });
  return createWriteStream(path, { flags: 'a' });
}

export const pause = (ms: number): Promise<void> => sleep(ms);
