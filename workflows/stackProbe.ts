/**
 * stackProbeWorkflow: proves the whole embedded stack works end to end — Temporal runs a workflow, a worker runs
 * its activities, InfluxDB stores and returns a point, onnxruntime-node scores a model. `npm start` runs it once
 * at start-up; tests run it on the dev server and, with day-long intervals, on the time-skipping test server.
 */
import { ApplicationFailure, proxyActivities, sleep } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { FailureType } from '../src/shared/failures.js';
import { STACK_PROBE_LIMITS, type StackProbeInput, type StackProbeReport } from '../src/shared/probe.js';
import { QUICK_LOCAL_CALL } from './profiles.js';

const { probeMetricsStore, probeForecaster } = proxyActivities<Activities>(QUICK_LOCAL_CALL);

export async function stackProbeWorkflow(input: StackProbeInput): Promise<StackProbeReport> {
  const { rounds, intervalSeconds } = input;
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > STACK_PROBE_LIMITS.maxRounds) {
    throw ApplicationFailure.nonRetryable(
      `rounds must be a whole number from 1 to ${STACK_PROBE_LIMITS.maxRounds}`,
      FailureType.InvalidInput,
    );
  }
  if (!(intervalSeconds >= 0 && intervalSeconds <= STACK_PROBE_LIMITS.maxIntervalSeconds)) {
    throw ApplicationFailure.nonRetryable(
      `intervalSeconds must be from 0 to ${STACK_PROBE_LIMITS.maxIntervalSeconds}`,
      FailureType.InvalidInput,
    );
  }
  const report: StackProbeReport = { ok: true, rounds: [] };
  for (let round = 1; round <= rounds; round++) {
    const [metricsStore, forecaster] = await Promise.all([probeMetricsStore(), probeForecaster()]);
    report.rounds.push({ round, metricsStore, forecaster });
    report.ok &&= metricsStore.ok && forecaster.ok;
    if (round < rounds) await sleep(intervalSeconds * 1000);
  }
  return report;
}
