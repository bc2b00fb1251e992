import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createActivities } from '../activities/index.js';
import { influxV1MetricsStore } from '../src/metrics/influxV1Store.js';
import { loadOnnxModel } from '../src/forecast/onnxModel.js';
import { BASELINES_MODEL_DIR } from '../src/worker.js';
import type { stackProbeWorkflow } from '../workflows/stackProbe.js';
import { testConfig, uniqueTaskQueue } from './helpers/temporal.js';
import { startTimeSkippingServer, type TimeSkippingServer } from './helpers/timeSkipping.js';

// Temporal's Java time-skipping test server: a day of hourly timers completes in seconds, while the activities
// still hit the real InfluxDB and ONNX Runtime.
let server: TimeSkippingServer;
let env: TestWorkflowEnvironment;

beforeAll(async () => {
  server = await startTimeSkippingServer();
  env = server.env;
});

afterAll(async () => {
  await server?.stop();
});

it('runs a day of hourly probes in seconds on the time-skipping test server', async () => {
  const loaded = testConfig();
  const taskQueue = uniqueTaskQueue('probe-skip');
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    activities: createActivities({
      metrics: influxV1MetricsStore(loaded),
      baselines: await loadOnnxModel(BASELINES_MODEL_DIR),
    }),
  });
  const workflowStart = await env.currentTimeMs();
  const wallStart = Date.now();
  const report = await worker.runUntil(
    env.client.workflow.execute<typeof stackProbeWorkflow>('stackProbeWorkflow', {
      taskQueue,
      workflowId: `probe-skip-${taskQueue}`,
      args: [{ rounds: 25, intervalSeconds: 3600 }],
    }),
  );
  const skippedMs = (await env.currentTimeMs()) - workflowStart;
  expect(report.ok).toBe(true);
  expect(report.rounds).toHaveLength(25);
  // 24 hourly timers elapsed in workflow time, far more than the wall-clock time the test took.
  expect(skippedMs).toBeGreaterThanOrEqual(24 * 3600 * 1000);
  expect(Date.now() - wallStart).toBeLessThan(skippedMs / 100);
});
