/** Shared test plumbing: the default config, a worker on a task queue of the test's own, failure assertions. */
import { randomUUID } from 'node:crypto';
import { Client, Connection, WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection } from '@temporalio/worker';
import { expect, inject } from 'vitest';
import { loadConfig, type LoadedConfig } from '../../src/config/load.js';
import { createWorker, type UnderstudyWorker } from '../../src/worker.js';

/** The defaults, read with an empty environment so a developer's own variables never change a test. */
export const testConfig = (): LoadedConfig => loadConfig(undefined, {});

export const uniqueTaskQueue = (name: string): string => `test-${name}-${randomUUID().slice(0, 8)}`;

export interface DevServerHarness {
  client: Client;
  taskQueue: string;
  /** Runs `work` while a fresh worker polls the harness's task queue (a Worker runs once, so one per call). */
  withWorker<T>(work: (worker: UnderstudyWorker) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface DevServerConnections {
  client: Client;
  /** For workers. */
  nativeConnection: NativeConnection;
  close: () => Promise<void>;
}

/** A client and a worker connection to the real dev server of the test stack. */
export async function devServerConnections(): Promise<DevServerConnections> {
  const { config } = testConfig();
  const nativeConnection = await NativeConnection.connect({ address: config.temporal.address });
  const connection = await Connection.connect({ address: config.temporal.address });
  return {
    client: new Client({ connection, namespace: config.temporal.namespace }),
    nativeConnection,
    async close() {
      await connection.close();
      await nativeConnection.close();
    },
  };
}

/** A client, and workers on demand, on the real dev server and a task queue no other test uses. */
export async function devServerHarness(name: string): Promise<DevServerHarness> {
  const loaded = testConfig();
  const taskQueue = uniqueTaskQueue(name);
  const connections = await devServerConnections();
  const { client, nativeConnection } = connections;
  const workflowBundle = { codePath: inject('workflowBundlePath') };
  return {
    client,
    taskQueue,
    async withWorker(work) {
      const worker = await createWorker({ loaded, connection: nativeConnection, taskQueue, workflowBundle });
      return worker.runUntil(work(worker));
    },
    close: () => connections.close(),
  };
}

/** Asserts that a workflow failed with an ApplicationFailure of `type`, and returns that failure. */
export async function expectWorkflowFailure(promise: Promise<unknown>, type: string): Promise<ApplicationFailure> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowFailedError);
  const cause = (error as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  expect((cause as ApplicationFailure).type).toBe(type);
  return cause as ApplicationFailure;
}

/** Asserts that an update was rejected (by its validator or handler) with a message matching `message`. */
export async function expectUpdateRejected(promise: Promise<unknown>, message: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'the update was accepted').toBeInstanceOf(WorkflowUpdateFailedError);
  const cause = (error as WorkflowUpdateFailedError).cause;
  expect(cause?.message).toMatch(message);
}

/** `withAbortSignal` for a typed fake client, as the real one treats a call on its way: it rejects on the abort. */
export function fakeWithAbortSignal<T>(signal: AbortSignal, call: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) reject(new Error('call cancelled'));
    signal.addEventListener('abort', () => reject(new Error('call cancelled')), { once: true });
    call().then(resolve, reject);
  });
}
