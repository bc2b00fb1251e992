/**
 * A worker in a process of its own, so a test can kill it with SIGKILL mid-action, as a crash would.
 * Usage: node --import tsx test/helpers/workerProcess.ts '{"taskQueue":…,"simulatorUrl":…,"database":…,"bundlePath":…}'
 */
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from '../../src/config/load.js';
import { createForecaster } from '../../src/forecast/forecaster.js';
import { InfluxV1MetricsStore } from '../../src/metrics/influxV1Store.js';
import { HttpFleetProvider } from '../../src/provider/client.js';
import { MODEL_ARTIFACTS_DIR, createWorker, installRuntime } from '../../src/worker.js';

export interface WorkerProcessArgs {
  taskQueue: string;
  simulatorUrl: string;
  influxUrl: string;
  database: string;
  bundlePath: string;
}

const args = JSON.parse(process.argv[2] ?? '{}') as WorkerProcessArgs;
installRuntime('WARN');
const loaded = loadConfig(undefined, {});
const connection = await NativeConnection.connect({ address: loaded.config.temporal.address });
const worker = await createWorker({
  loaded,
  connection,
  taskQueue: args.taskQueue,
  workflowBundle: { codePath: args.bundlePath },
  dependencies: {
    provider: new HttpFleetProvider({ url: args.simulatorUrl }),
    metrics: new InfluxV1MetricsStore({ url: args.influxUrl, database: args.database }),
    forecaster: await createForecaster({ artifactsDir: MODEL_ARTIFACTS_DIR, pollIntervalMs: 0 }),
  },
});
console.log(`worker ready on ${args.taskQueue}`);
await worker.run();
process.exit(0);
