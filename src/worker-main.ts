/**
 * `npm run worker`: a standalone worker for deployments where the services already run (docker-compose, a Temporal
 * cluster, Temporal Cloud). Registers Understudy's search attributes when it may, then polls until SIGINT/SIGTERM.
 */
import { Connection } from '@temporalio/client';
import { ConfigError, loadConfig } from './config/load.js';
import { TASK_QUEUE } from './shared/temporal.js';
import { ensureSearchAttributes } from './stack/temporal.js';
import { temporalConnectionOptions } from './temporalConnection.js';
import { connectWorker, createWorker, installRuntime } from './worker.js';

async function main(): Promise<void> {
  const loaded = loadConfig();
  installRuntime();
  const options = temporalConnectionOptions(loaded);
  const client = await Connection.connect(options);
  try {
    const added = await ensureSearchAttributes(client, loaded.config.temporal.namespace);
    if (added.length > 0) console.log(`understudy worker: registered search attributes ${added.join(', ')}`);
  } catch (error) {
    // Temporal Cloud does not let a worker's key add attributes: they are created once in the Cloud console.
    console.warn(
      `understudy worker: could not check search attributes (${(error as Error).message}); create them once by hand`,
    );
  } finally {
    await client.close();
  }
  const worker = await createWorker({ loaded, connection: await connectWorker(loaded) });
  console.log(`understudy worker: polling task queue "${TASK_QUEUE}" on ${loaded.config.temporal.address}`);
  await worker.run();
}

main().catch((error: unknown) => {
  console.error(`understudy worker: ${(error as Error).message}`);
  if (!(error instanceof ConfigError) && process.env.UNDERSTUDY_DEBUG === '1') console.error((error as Error).stack);
  process.exit(1);
});
