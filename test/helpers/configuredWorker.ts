/**
 * A worker built the way `npm run worker` builds it: everything (Temporal connection, InfluxDB store, provider
 * client, secrets) from the configuration file and the environment, only on a task queue of the test's own and with
 * a pre-built workflow bundle. Usage: node --import tsx test/helpers/configuredWorker.ts TASK_QUEUE BUNDLE_PATH
 */
import { loadConfig } from '../../src/config/load.js';
import { connectWorker, createWorker, installRuntime } from '../../src/worker.js';

const [taskQueue, bundlePath] = process.argv.slice(2);
installRuntime();
const loaded = loadConfig();
const worker = await createWorker({
  loaded,
  connection: await connectWorker(loaded),
  taskQueue,
  workflowBundle: { codePath: bundlePath! },
});
console.log(`worker ready on ${taskQueue}`);
await worker.run();
process.exit(0);
