/**
 * Temporal's Java time-skipping test server, started by the test and waited for until it listens.
 *
 * The SDK's own launcher (`TestWorkflowEnvironment.createTimeSkipping`) gives the process a fixed 5 s to accept a
 * connection; a JVM starting while the rest of the suite loads both cores can take longer, so the test starts the
 * server itself, waits on the port for as long as the server takes, and only then connects the environment.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { stackPaths } from '../../src/stack/index.js';
import { acceptsConnections, freePort } from './ports.js';
import { testConfig } from './temporal.js';

/** How long the JVM may take to listen before the test gives up, naming the server's last output. */
const TEST_SERVER_START_TIMEOUT_MS = 120_000;

export interface TimeSkippingServer {
  env: TestWorkflowEnvironment;
  stop(): Promise<void>;
}

/** The SDK connects a time-skipping environment to a server it did not start only through this (internal) path. */
interface EnvironmentFactory {
  create(options: {
    server: { type: 'existing' };
    address: string;
    namespace: string;
    supportsTimeSkipping: true;
  }): Promise<TestWorkflowEnvironment>;
}

export async function startTimeSkippingServer(): Promise<TimeSkippingServer> {
  const launcher = stackPaths(testConfig().config).testServerLauncher;
  if (!existsSync(launcher))
    throw new Error(`the time-skipping test server is not installed at ${launcher}; run npm run setup`);
  const port = await freePort();
  const server = spawn(launcher, [String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-2000);
  };
  server.stdout?.on('data', keep);
  server.stderr?.on('data', keep);
  const stopServer = async (): Promise<void> => {
    if (server.exitCode !== null || server.signalCode !== null) return;
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGKILL');
    await exited;
  };
  try {
    await waitUntilListening(server, port, () => output);
    const env = await (TestWorkflowEnvironment as unknown as EnvironmentFactory).create({
      server: { type: 'existing' },
      address: `127.0.0.1:${port}`,
      namespace: 'default',
      supportsTimeSkipping: true,
    });
    return {
      env,
      async stop() {
        await env.teardown();
        await stopServer();
      },
    };
  } catch (error) {
    await stopServer();
    throw error;
  }
}

async function waitUntilListening(server: ChildProcess, port: number, output: () => string): Promise<void> {
  const deadline = Date.now() + TEST_SERVER_START_TIMEOUT_MS;
  for (;;) {
    if (server.exitCode !== null || server.signalCode !== null)
      throw new Error(`the time-skipping test server exited (${server.exitCode ?? server.signalCode}): ${output()}`);
    if (await acceptsConnections(port)) return;
    if (Date.now() > deadline)
      throw new Error(
        `the time-skipping test server did not listen on ${port} within ${TEST_SERVER_START_TIMEOUT_MS / 1000} s: ${output()}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
