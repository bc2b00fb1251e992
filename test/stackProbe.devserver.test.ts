import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { stackProbeWorkflow } from '../workflows/stackProbe.js';
import { FailureType } from '../src/shared/failures.js';
import { devServerHarness, expectWorkflowFailure, type DevServerHarness } from './helpers/temporal.js';

describe('stackProbeWorkflow on the real Temporal dev server', () => {
  let h: DevServerHarness;
  beforeAll(async () => {
    h = await devServerHarness('probe');
  });
  afterAll(async () => {
    await h.close();
  });

  it('runs its activities against the real InfluxDB and ONNX Runtime', async () => {
    const workflowId = `test-probe-${h.taskQueue}`;
    const report = await h.withWorker(() =>
      h.client.workflow.execute<typeof stackProbeWorkflow>('stackProbeWorkflow', {
        taskQueue: h.taskQueue,
        workflowId,
        args: [{ rounds: 2, intervalSeconds: 1 }],
      }),
    );
    expect(report.ok).toBe(true);
    expect(report.rounds).toHaveLength(2);
    for (const round of report.rounds) {
      expect(round.metricsStore.detail).toMatch(/^wrote and read back \d+$/);
      expect(round.forecaster.detail).toBe('baselines v1 forecast 12 steps');
    }
    // The history is on the server: the workflow really ran there, not in-process.
    const description = await h.client.workflow.getHandle(workflowId).describe();
    expect(description.status.name).toBe('COMPLETED');
    expect(description.taskQueue).toBe(h.taskQueue);
  });

  it('rejects bad input with a typed, non-retryable failure that names the field', async () => {
    const failure = await h.withWorker(() =>
      expectWorkflowFailure(
        h.client.workflow.execute<typeof stackProbeWorkflow>('stackProbeWorkflow', {
          taskQueue: h.taskQueue,
          workflowId: `test-probe-bad-${h.taskQueue}`,
          args: [{ rounds: 0, intervalSeconds: 1 }],
        }),
        FailureType.InvalidInput,
      ),
    );
    expect(failure.message).toMatch(/rounds must be a whole number from 1 to 1000/);
    expect(failure.nonRetryable).toBe(true);
  });
});
