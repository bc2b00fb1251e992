// What `understudy up` starts for retraining, on the real dev server: the Python trainer worker polling the training
// task queue and the Schedule of retrainModelsWorkflow on the configured InfluxDB; on shutdown the trainer stops and
// the schedule pauses (no scheduled run waits on a queue nobody polls). A trainer that cannot start is reported and
// leaves the schedule paused.
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RETRAIN_CRON, startRetraining } from '../../src/forecast/retraining.js';
import { ARTIFACTS_DIR } from '../../src/forecast/trainer.js';
import type { RetrainModelsInput } from '../../src/shared/training.js';
import { stackPaths } from '../../src/stack/paths.js';
import { testConfig, uniqueTaskQueue } from '../helpers/temporal.js';

describe('retraining started by understudy up', () => {
  const loaded = testConfig();
  let connection: Connection;
  let client: Client;

  beforeAll(async () => {
    connection = await Connection.connect({ address: loaded.config.temporal.address });
    client = new Client({ connection, namespace: loaded.config.temporal.namespace });
  });
  afterAll(async () => connection?.close());

  const pollers = async (taskQueue: string): Promise<number> => {
    const answer = await client.workflowService.describeTaskQueue({
      namespace: loaded.config.temporal.namespace,
      taskQueue: { name: taskQueue },
      taskQueueType: 2, // activity
    });
    return answer.pollers?.length ?? 0;
  };

  /** Starts retraining on a task queue and schedule of the test's own, beside anything else on the dev server. */
  const start = async (python: string) => {
    const trainingTaskQueue = uniqueTaskQueue('training-up');
    const scheduleId = `retrain-up-${trainingTaskQueue}`;
    const retraining = await startRetraining({ client, config: loaded.config, python, scheduleId, trainingTaskQueue });
    return { retraining, scheduleId, trainingTaskQueue };
  };

  it('runs the trainer worker and an active daily schedule on InfluxDB, and stops both', async () => {
    const { retraining, scheduleId, trainingTaskQueue } = await start(stackPaths(loaded.config).venvPython);
    const schedule = client.schedule.getHandle(scheduleId);
    try {
      expect(retraining.problems).toEqual([]);
      expect(retraining.scheduleId).toBe(scheduleId);
      const described = await schedule.describe();
      expect(described.state.paused).toBe(false);
      // The server keeps a cron expression as a calendar: 03:00 every day.
      expect(DEFAULT_RETRAIN_CRON).toBe('0 3 * * *');
      expect(described.spec.calendars?.[0]).toMatchObject({
        hour: [{ start: 3, end: 3 }],
        minute: [{ start: 0, end: 0 }],
      });
      const action = described.action;
      expect(action.type).toBe('startWorkflow');
      if (action.type !== 'startWorkflow') return;
      expect(action.workflowType).toBe('retrainModelsWorkflow');
      const [input] = action.args as [RetrainModelsInput];
      expect(input.influx).toMatchObject({ url: loaded.config.influx.url, days: 77 });
      expect(input.trainingTaskQueue).toBe(trainingTaskQueue);
      // Into the state folder, numbered after the shipped models: a retrain never writes into the source tree.
      expect(input.artifactsDir).toBe(stackPaths(loaded.config).trainedModelsDir);
      expect(input.numberAfter).toEqual([ARTIFACTS_DIR]);
      await expect.poll(() => pollers(trainingTaskQueue), { timeout: 20_000 }).toBeGreaterThan(0);

      await retraining.stop();
      expect((await schedule.describe()).state.paused).toBe(true);
    } finally {
      await retraining.stop();
      await schedule.delete();
    }
  }, 120_000);

  it('reports a trainer that cannot start and leaves the schedule paused', async () => {
    const { retraining, scheduleId } = await start('/nonexistent/python3');
    try {
      expect(retraining.problems).toHaveLength(1);
      expect(retraining.problems[0]).toMatch(/trainer worker did not start: cannot start .*\/nonexistent\/python3/);
      expect((await client.schedule.getHandle(scheduleId).describe()).state.paused).toBe(true);
    } finally {
      await retraining.stop();
      await client.schedule.getHandle(scheduleId).delete();
    }
  }, 60_000);
});
