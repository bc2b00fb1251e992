import { existsSync } from 'node:fs';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createActivities } from '../activities/index.js';
import { influxV1MetricsStore } from '../src/metrics/influxV1Store.js';
import { loadOnnxModel } from '../src/forecast/onnxModel.js';
import { stackPaths } from '../src/stack/index.js';
import { BASELINES_MODEL_DIR } from '../src/worker.js';
import type { stackProbeWorkflow } from '../workflows/stackProbe.js';
import { testConfig, uniqueTaskQueue } from './helpers/temporal.js';

// Temporal's Java time-skipping test server, launched through the SDK's `existing-path` option: a day of
// hourly timers completes in seconds, while the activities still hit the real InfluxDB and ONNX Runtime.
let env: TestWorkflowEnvironment;

beforeAll(async () => {
  const launcher = stackPaths(testConfig().config).testServerLauncher;
  if (!existsSync(launcher))
    throw new Error(`the time-skipping test server is not installed at ${launcher}; run npm run setup`);
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: launcher } },
  });
});

afterAll(async () => {
  await env?.teardown();
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
