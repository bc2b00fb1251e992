/**
 * A host pair on a real simulator, watched by the real dev server and InfluxDB: builds the hosts and workloads,
 * runs a worker wired to that simulator and a database of the test's own, and starts `hostPairWorkflow`.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Client, Connection, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { expect, inject } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { createForecaster } from '../../src/forecast/forecaster.js';
import { InfluxV1MetricsStore } from '../../src/metrics/influxV1Store.js';
import { WHOLE_RECORD, type DecisionPoint } from '../../src/metrics/types.js';
import type { Capacity, DemandProfile, FleetProvider } from '../../src/provider/types.js';
import {
  pairWorkflowId,
  stateQuery,
  type HostPairInput,
  type HostRef,
  type PairPolicy,
  type PairState,
} from '../../src/shared/pair.js';
import { ARTIFACTS_DIR } from '../../src/forecast/trainer.js';
import { allWatcherWorkflowIds } from '../../src/shared/healthWatch.js';
import { allObserverWorkflowIds } from '../../src/shared/observation.js';
import { createWorker, type UnderstudyWorker } from '../../src/worker.js';
import { spawnWorkerProcess } from '../../src/workerProcess.js';
import type { hostPairWorkflow } from '../../workflows/hostPair.js';
import {
  INFLUX_URL,
  createTestDatabase,
  startTestSimulator,
  type SimulatorProcessOptions,
  type TestSimulator,
} from './simulator.js';
import { testConfig, uniqueTaskQueue } from './temporal.js';

/** The pair is enrolled with its shard's observer, which forecasts and decides for it (pairs do not tick). */
export const isObserved = (s: PairState): boolean =>
  s.observation?.observer !== undefined && s.observation.error === undefined;

export const HOST_SIZE: Capacity = { cpuCores: 16, memoryGiB: 64, storageIops: 20_000, networkMbps: 10_000 };

/** Fast loops for tests: a health check and an observation every second. */
export const FAST_POLICY: PairPolicy = configSchema.parse({
  policy: {
    tickSeconds: 1,
    healthCheckIntervalSeconds: 1,
    failuresBeforeFailover: 2,
    cooldownMinutes: 0,
    scaleBackAfterMinutes: 5,
  },
}).policy;

/** A simulator, a database of its own, a client and workers on a task queue of its own: what every test here needs. */
export interface OrchestrationHarness {
  sim: TestSimulator;
  /** The InfluxDB database the simulator writes this harness's metrics to. */
  database: string;
  /** The store the worker reads and writes that database through. */
  metrics: InfluxV1MetricsStore;
  client: Client;
  taskQueue: string;
  /** Starts a worker wired to this harness's simulator and database (one at a time; a Worker runs once). */
  startWorker(): Promise<{ worker: UnderstudyWorker; running: Promise<void> }>;
  /** The same worker in a child process, for tests that kill it. */
  startWorkerProcess(): Promise<ChildProcess>;
  /** Waits until the host's metrics in InfluxDB have caught up with the simulated clock (after an `advance`). */
  waitForMetrics(hostId: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function createOrchestrationHarness(
  name: string,
  simulator: SimulatorProcessOptions = {},
  /** The provider the workers act through; the harness's simulator when absent. */
  provider?: FleetProvider,
): Promise<OrchestrationHarness> {
  const database = await createTestDatabase(`orch_${name.replace(/\W/g, '_')}`);
  const sim = await startTestSimulator({
    speed: 60,
    metricsIntervalSeconds: 60,
    influxDatabase: database.name,
    ...simulator,
  });
  const loaded = testConfig();
  const connection = await Connection.connect({ address: loaded.config.temporal.address });
  const client = new Client({ connection, namespace: loaded.config.temporal.namespace });
  const nativeConnection = await NativeConnection.connect({ address: loaded.config.temporal.address });
  const taskQueue = uniqueTaskQueue(name);
  const forecaster = await createForecaster({ artifactsDir: ARTIFACTS_DIR, pollIntervalMs: 0 });
  const metrics = new InfluxV1MetricsStore({ url: INFLUX_URL, database: database.name });
  const workers: { worker: UnderstudyWorker; running: Promise<void> }[] = [];
  const children: ChildProcess[] = [];
  return {
    sim,
    database: database.name,
    metrics,
    client,
    taskQueue,
    async waitForMetrics(hostId, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const [latest, status] = await Promise.all([metrics.latestSampleTime([hostId]), sim.control.status()]);
        if (latest && Date.parse(status.now) - latest.getTime() < 5 * 60_000) return;
        if (Date.now() > deadline)
          expect.fail(`metrics of ${hostId} never caught up with the simulated clock ${status.now}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    async startWorkerProcess() {
      const child = await spawnWorkerProcess({
        taskQueue,
        simulatorUrl: sim.url,
        influxUrl: INFLUX_URL,
        database: database.name,
        bundlePath: inject('workflowBundlePath'),
      });
      children.push(child);
      return child;
    },
    async startWorker() {
      const worker = await createWorker({
        loaded,
        connection: nativeConnection,
        taskQueue,
        workflowBundle: { codePath: inject('workflowBundlePath') },
        dependencies: { provider: provider ?? sim.provider, metrics, forecaster, temporal: client },
      });
      const entry = { worker, running: worker.run() };
      workers.push(entry);
      return entry;
    },
    async close() {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      for (const w of workers) {
        if (w.worker.getState() === 'RUNNING') w.worker.shutdown();
        await w.running.catch(() => undefined);
      }
      // The queue's watchers and observers would otherwise wait for a worker for as long as the dev server runs.
      await Promise.all(
        [...allWatcherWorkflowIds(taskQueue), ...allObserverWorkflowIds(taskQueue)].map((id) =>
          client.workflow
            .getHandle(id)
            .terminate('test finished')
            .catch(() => undefined),
        ),
      );
      await forecaster.close();
      await nativeConnection.close();
      await connection.close();
      await sim.stop();
      await database.drop();
    },
  };
}

export interface PairFixture extends OrchestrationHarness {
  pairId: string;
  primary: HostRef;
  shadow: HostRef;
  workloadIds: string[];
  startPair(
    overrides?: Partial<HostPairInput>,
  ): Promise<WorkflowHandleWithFirstExecutionRunId<typeof hostPairWorkflow>>;
  state(): Promise<PairState>;
  /** Every decision the observer recorded for the pair in the metrics store, oldest first. */
  decisions(): Promise<DecisionPoint[]>;
  /** Polls the pair's state until `predicate` holds; fails with the last state when it never does. */
  waitForState(predicate: (state: PairState) => boolean, what: string, timeoutMs?: number): Promise<PairState>;
}

export interface PairFixtureOptions {
  simulator?: SimulatorProcessOptions;
  workloads?: { requirements: Capacity; demand: DemandProfile }[];
  /** Simulated hours of metrics history to build before the pair starts. */
  historyHours?: number;
}

export async function createPairFixture(name: string, options: PairFixtureOptions = {}): Promise<PairFixture> {
  const harness = await createOrchestrationHarness(name, options.simulator);
  const { sim } = harness;
  const tag = randomUUID().slice(0, 6);
  const primary: HostRef = { hostId: `p-${tag}`, region: 'us-east', zone: 'us-east-a', capacity: HOST_SIZE };
  const shadow: HostRef = { hostId: `s-${tag}`, region: 'eu-west', zone: 'eu-west-b', capacity: HOST_SIZE };
  const pairId = `${name}-${tag}`;
  const { provider, control } = sim;
  await provider.waitForOperation(
    await provider.provisionHost({
      ...primary,
      hostId: primary.hostId,
      role: 'primary',
      pairId,
      idempotencyKey: `${tag}:p`,
    }),
  );
  await provider.waitForOperation(
    await provider.provisionHost({
      ...shadow,
      hostId: shadow.hostId,
      role: 'shadow',
      pairId,
      allocationFraction: 0.15,
      idempotencyKey: `${tag}:s`,
    }),
  );
  await provider.waitForOperation(
    await provider.syncConfiguration({
      hostId: primary.hostId,
      desired: { image: 'app:1.0', maxConnections: 500 },
      idempotencyKey: `${tag}:cfg`,
    }),
  );
  await provider.waitForOperation(
    await provider.syncConfiguration({
      hostId: shadow.hostId,
      desired: { image: 'app:1.0', maxConnections: 500 },
      idempotencyKey: `${tag}:cfg-s`,
    }),
  );
  await provider.waitForOperation(
    await provider.startReplication({
      sourceHostId: primary.hostId,
      targetHostId: shadow.hostId,
      idempotencyKey: `${tag}:repl`,
    }),
  );
  const workloads = options.workloads ?? [
    {
      requirements: { cpuCores: 4, memoryGiB: 8, storageIops: 2_000, networkMbps: 1_000 },
      demand: { kind: 'synthetic', base: 0.5, noise: 0.02, seed: 1 },
    },
    {
      requirements: { cpuCores: 4, memoryGiB: 8, storageIops: 2_000, networkMbps: 1_000 },
      demand: { kind: 'synthetic', base: 0.5, noise: 0.02, seed: 2 },
    },
  ];
  const workloadIds: string[] = [];
  for (const [i, w] of workloads.entries()) {
    const workloadId = `w-${tag}-${i + 1}`;
    await control.createWorkload({
      workloadId,
      hostId: primary.hostId,
      requirements: w.requirements,
      demand: w.demand,
    });
    workloadIds.push(workloadId);
  }
  if (options.historyHours) {
    await control.advance(options.historyHours * 3600);
    await harness.waitForMetrics(primary.hostId);
  }

  return pairFixtureOn(harness, { pairId, primary, shadow, workloadIds });
}

/** The pair's handles on a harness whose hosts and workloads exist: start it, read its state, wait on it. */
export function pairFixtureOn(
  harness: OrchestrationHarness,
  pair: { pairId: string; primary: HostRef; shadow: HostRef; workloadIds: string[] },
): PairFixture {
  const { client, taskQueue } = harness;
  const { pairId, primary, shadow } = pair;
  const fixture: PairFixture = {
    ...harness,
    ...pair,
    async startPair(overrides = {}) {
      return client.workflow.start<typeof hostPairWorkflow>('hostPairWorkflow', {
        taskQueue,
        workflowId: pairWorkflowId(pairId),
        args: [{ pairId, primary, shadow, policy: FAST_POLICY, ...overrides }],
      });
    },
    state: () => client.workflow.getHandle(pairWorkflowId(pairId)).query(stateQuery),
    decisions: () => harness.metrics.readDecisions({ pairIds: [pairId], ...WHOLE_RECORD }),
    async waitForState(predicate, what, timeoutMs = 45_000) {
      const deadline = Date.now() + timeoutMs;
      let last: PairState | undefined;
      while (Date.now() < deadline) {
        last = await fixture.state().catch(() => last);
        if (last && predicate(last)) return last;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect.fail(`pair ${pairId} never reached: ${what}; last state: ${JSON.stringify(last, null, 2)}`);
    },
    async close() {
      await client.workflow
        .getHandle(pairWorkflowId(pairId))
        .terminate('test finished')
        .catch(() => undefined);
      await harness.close();
    },
  };
  return fixture;
}
