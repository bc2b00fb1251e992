// Retraining as Temporal work on the real dev server: a Schedule starts retrainModelsWorkflow, the Python worker
// (started here) trains a new version into a model folder, and the TypeScript forecaster serves it without restart.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createForecastingActivities } from '../../activities/forecasting.js';
import { createForecaster, type OnnxForecaster } from '../../src/forecast/forecaster.js';
import {
  ARTIFACTS_DIR,
  ensureRetrainSchedule,
  startTrainerWorker,
  type TrainerWorker,
} from '../../src/forecast/trainer.js';
import { NAB_DIR, stackPaths } from '../../src/stack/paths.js';
import type { RetrainModelsInput } from '../../src/shared/training.js';
import type { RetrainModelsResult } from '../../workflows/retrainModels.js';
import { testConfig, uniqueTaskQueue } from '../helpers/temporal.js';

describe('retrainModelsWorkflow on a Schedule', () => {
  const loaded = testConfig();
  /** The shipped models' stand-in; the trained folder beside it does not exist until the retrain writes it. */
  let artifacts: string;
  let trained: string;
  let forecaster: OnnxForecaster;
  let trainer: TrainerWorker;
  let connection: Connection;
  let native: NativeConnection;
  const taskQueue = uniqueTaskQueue('retrain');
  const trainingTaskQueue = uniqueTaskQueue('training');

  beforeAll(async () => {
    artifacts = await mkdtemp(join(tmpdir(), 'understudy-retrain-'));
    for (const k of ['prophet-v1', 'lstm-v1'])
      await cp(join(ARTIFACTS_DIR, k), join(artifacts, k), { recursive: true });
    trained = `${artifacts}-trained`;
    forecaster = await createForecaster({ artifactsDir: [artifacts, trained], pollIntervalMs: 0 });
    trainer = await startTrainerWorker({
      python: stackPaths(loaded.config).venvPython,
      address: loaded.config.temporal.address,
      namespace: loaded.config.temporal.namespace,
      taskQueue: trainingTaskQueue,
    });
    connection = await Connection.connect({ address: loaded.config.temporal.address });
    native = await NativeConnection.connect({ address: loaded.config.temporal.address });
  }, 120_000);

  afterAll(async () => {
    await trainer?.stop();
    await forecaster?.close();
    await connection?.close();
    await native?.close();
    if (artifacts) await rm(artifacts, { recursive: true, force: true });
    if (trained) await rm(trained, { recursive: true, force: true });
  });

  it('trains a new version in the Python worker and the TypeScript forecaster picks it up', async () => {
    const client = new Client({ connection, namespace: loaded.config.temporal.namespace });
    const worker = await retrainWorker();
    const scheduleId = `retrain-${taskQueue}`;
    const schedule = await ensureRetrainSchedule(client, {
      scheduleId,
      taskQueue,
      paused: true,
      input: {
        dataDir: join(NAB_DIR, 'realAWSCloudwatch'),
        labelsFile: join(NAB_DIR, 'labels', 'combined_windows.json'),
        artifactsDir: trained,
        numberAfter: [artifacts],
        only: ['ec2_cpu_utilization_53ea38', 'rds_cpu_utilization_cc0c53'],
        epochs: 1,
        trainingTaskQueue,
      },
    });
    try {
      expect(forecaster.models().map((m) => m.version)).toEqual(['1', '1']);
      const result = await worker.runUntil(async () => {
        await schedule.trigger();
        let workflowId: string | undefined;
        await expect
          .poll(
            async () => {
              const action = (await schedule.describe()).info.recentActions[0]?.action;
              workflowId = action?.type === 'startWorkflow' ? action.workflow.workflowId : undefined;
              return workflowId;
            },
            { timeout: 15_000 },
          )
          .toBeDefined();
        return client.workflow.getHandle(workflowId!).result() as Promise<RetrainModelsResult>;
      });
      // Numbered after the shipped v1, written beside them, not among them.
      expect(result.trained.version).toBe('2');
      expect(result.trained.lstm).toBe(join(trained, 'lstm-v2'));
      expect(result.trained.series).toBe(2);
      expect(result.loaded.map((m) => `${m.model}@${m.version}`).sort()).toEqual(['lstm@2', 'prophet@2']);
      // Served by the new version without a restart.
      expect(forecaster.models().every((m) => m.version === '2')).toBe(true);
      const hour = Array.from({ length: 60 }, (_, i) => Date.UTC(2026, 10, 1) + i * 300_000);
      const r = await forecaster.forecast({
        hostId: 'h',
        resource: 'cpu',
        history: { timestamps: hour, values: hour.map((_, i) => 30 + (i % 5)) },
        horizonMinutes: 15,
      });
      expect(r.modelVersion === '2' || r.modelVersion === 'builtin').toBe(true);
    } finally {
      await schedule.delete();
    }
  }, 240_000);

  /** A TypeScript worker on the test's queue: the retrain workflow and the forecaster's reload activity. */
  function retrainWorker(): Promise<Worker> {
    return Worker.create({
      connection: native,
      namespace: loaded.config.temporal.namespace,
      taskQueue,
      activities: createForecastingActivities({ forecaster }),
      workflowBundle: { codePath: inject('workflowBundlePath') },
    });
  }

  /** Runs retrainModelsWorkflow on `input` and expects one non-retryable InvalidInput attempt whose message has `names`. */
  async function expectInvalidInput(workflowId: string, input: RetrainModelsInput, names: string): Promise<void> {
    const client = new Client({ connection, namespace: loaded.config.temporal.namespace });
    const worker = await retrainWorker();
    const error = await worker.runUntil(
      client.workflow.execute('retrainModelsWorkflow', { taskQueue, workflowId, args: [input] }).then(
        () => undefined,
        (e: unknown) => e,
      ),
    );
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = (error as WorkflowFailedError).cause?.cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe('InvalidInput');
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const failed = history.events?.filter((e) => e.activityTaskFailedEventAttributes) ?? [];
    expect(failed).toHaveLength(1); // not retried
    const info = failed[0]!.activityTaskFailedEventAttributes!.failure!;
    expect(info.applicationFailureInfo?.type).toBe('InvalidInput');
    expect(info.applicationFailureInfo?.nonRetryable).toBe(true);
    expect(info.message).toContain(names);
  }

  it('fails once with a non-retryable InvalidInput naming the folder when there is nothing to train on', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'understudy-empty-'));
    try {
      await expectInvalidInput(
        `retrain-empty-${taskQueue}`,
        { dataDir: empty, artifactsDir: artifacts, trainingTaskQueue },
        `${empty}: no .csv series found`,
      );
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  }, 120_000);

  it('fails once with a non-retryable InvalidInput naming an InfluxDB database that does not exist', async () => {
    const database = `no_such_database_${taskQueue.replaceAll('-', '_')}`;
    await expectInvalidInput(
      `retrain-no-database-${taskQueue}`,
      { influx: { url: loaded.config.influx.url, database }, artifactsDir: artifacts, trainingTaskQueue },
      `database ${database}: database not found`,
    );
  }, 120_000);
});
