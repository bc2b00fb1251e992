/**
 * A worker in a process of its own, so a crash drill (a test, the fault campaign) can kill it with SIGKILL
 * mid-action, as a real crash would. Started by `spawnWorkerProcess` (src/workerProcess.ts) with its arguments as
 * one JSON string; prints "worker ready" once it polls.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from './config/load.js';
import { createForecaster } from './forecast/forecaster.js';
import { InfluxV1MetricsStore } from './metrics/influxV1Store.js';
import { HttpFleetProvider } from './provider/client.js';
import { ARTIFACTS_DIR } from './forecast/trainer.js';
import { createWorker, installRuntime } from './worker.js';
import { WORKER_READY_LINE, type WorkerProcessArgs } from './workerProcess.js';

const args = JSON.parse(process.argv[2] ?? '{}') as WorkerProcessArgs;
installRuntime('WARN');
const loaded = loadConfig(undefined, {});
const address = args.temporalAddress ?? loaded.config.temporal.address;
const namespace = args.namespace ?? loaded.config.temporal.namespace;
const connection = await NativeConnection.connect({ address });
const clientConnection = await Connection.connect({ address });
const worker = await createWorker({
  loaded: { ...loaded, config: { ...loaded.config, temporal: { ...loaded.config.temporal, address, namespace } } },
  connection,
  taskQueue: args.taskQueue,
  ...(args.watchLanes ? { watchLanes: args.watchLanes } : {}),
  ...(args.observers !== undefined ? { observers: args.observers } : {}),
  workflowBundle: { codePath: args.bundlePath },
  dependencies: {
    provider: new HttpFleetProvider({ url: args.simulatorUrl }),
    metrics: new InfluxV1MetricsStore({ url: args.influxUrl, database: args.database }),
    // The shipped models only: a drill must not depend on what this machine has trained.
    forecaster: await createForecaster({ artifactsDir: ARTIFACTS_DIR, pollIntervalMs: 0 }),
    temporal: new Client({ connection: clientConnection, namespace }),
  },
});
console.log(`${WORKER_READY_LINE} on ${args.taskQueue}`);
await worker.run();
process.exit(0);
