/**
 * The calls a shard's long-running activity makes beside its loop, against the real dev server: when the activity
 * ends they are cancelled and awaited, so none is still on its way when the worker's owner closes the connection.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backgroundCalls } from '../activities/shardMembers.js';
import { devServerConnections, uniqueTaskQueue, type DevServerConnections } from './helpers/temporal.js';

describe('backgroundCalls', () => {
  let connections: DevServerConnections;
  beforeAll(async () => {
    connections = await devServerConnections();
  });
  afterAll(() => connections.close());

  it('cancels a call that would wait for ever, and settles once it has ended', async () => {
    const { client } = connections;
    // No worker polls this queue: the workflow never ends, and waiting for its result never returns on its own.
    const handle = await client.workflow.start('stackProbeWorkflow', {
      taskQueue: uniqueTaskQueue('background-calls'),
      workflowId: `background-calls-${randomUUID()}`,
      args: [{ rounds: 1 }],
    });
    try {
      // A limit far beyond the test's timeout: settle returns only because the call ended.
      const calls = backgroundCalls(client, 24 * 3600_000);
      const waiting = calls.start(() => handle.result());
      const outcome = waiting.then(
        () => 'returned',
        // The client wraps the gRPC status ("CANCELLED") in an error of its own.
        (error: unknown) => (error instanceof Error ? `${error.message}: ${String(error.cause)}` : String(error)),
      );
      await calls.settle();
      expect(await outcome).toMatch(/cancel/i);
      // A call started once the activity is ending is cancelled at once too.
      await expect(calls.start(() => handle.describe())).rejects.toThrow(/cancel/i);
    } finally {
      await handle.terminate('test finished');
    }
  });
});
