/**
 * Predictive scale-out on Kubernetes: the bed's nodes report, in Telegraf's schema, what their Deployments' demand
 * models make them use; a day and a half of that history is in InfluxDB, with today's daily peak due to cross 80%
 * CPU about 40 minutes from now. The pair sees it coming, activates its shadow node and moves pods there while the
 * primary node is still below the threshold.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BedMetricsAgent } from '../src/provider/kubernetes/bedMetrics.js';
import type { DemandProfile } from '../src/provider/types.js';
import { pairWorkflowId, type HostRef } from '../src/shared/pair.js';
import { TelegrafWriter } from '../src/simulator/telegraf.js';
import { startTestBed, type TestBed } from './helpers/kubernetes.js';
import { HOST_SIZE, createOrchestrationHarness, pairFixtureOn, type PairFixture } from './helpers/pair.js';
import { pollUntil } from './helpers/poll.js';
import { INFLUX_URL } from './helpers/simulator.js';

const HOUR_MS = 3_600_000;
const WORKLOAD = { cpuCores: 4, memoryGiB: 8, storageIops: 1_000, networkMbps: 500 };
const WORKLOADS = 3;
const BASE = 0.7;
const AMPLITUDE = 0.55;
/**
 * The hour (UTC, fractional) of a daily peak whose rise crosses 80% CPU `leadMinutes` from now. Three 4-core
 * workloads on 16 cores use 2% idle + 75% × demand, so 80% is demand 1.04: cos(x) = (1.04 − base) / amplitude.
 */
function peakHourCrossingIn(leadMinutes: number): number {
  const demandAtCrossing = (80 - 2) / ((100 * WORKLOADS * WORKLOAD.cpuCores) / HOST_SIZE.cpuCores);
  const hoursBeforePeak = (Math.acos((demandAtCrossing - BASE) / AMPLITUDE) * 24) / (2 * Math.PI);
  const crossing = new Date(Date.now() + leadMinutes * 60_000);
  const hour = crossing.getUTCHours() + crossing.getUTCMinutes() / 60 + hoursBeforePeak;
  return hour % 24;
}

describe('hostPairWorkflow on the Kubernetes bed: predictive scale-out', () => {
  let t: TestBed;
  let f: PairFixture;
  let agent: BedMetricsAgent;
  beforeAll(async () => {
    t = await startTestBed();
    const harness = await createOrchestrationHarness('k8s-scaling', {}, t.provider);
    const pairId = t.name('k8s-scaling');
    const primary: HostRef = { hostId: `${pairId}-a`, region: 'us-east', zone: 'us-east-a', capacity: HOST_SIZE };
    const shadow: HostRef = { hostId: `${pairId}-b`, region: 'eu-west', zone: 'eu-west-b', capacity: HOST_SIZE };
    for (const [host, role] of [
      [primary, 'primary'],
      [shadow, 'shadow'],
    ] as const) {
      await t.provider.waitForOperation(
        await t.provider.provisionHost({ ...host, role, pairId, idempotencyKey: `${pairId}:${role}` }),
        { timeoutMs: 120_000 },
      );
    }
    const peakHourUtc = peakHourCrossingIn(40);
    const demand = (seed: number): DemandProfile => ({
      kind: 'synthetic',
      base: BASE,
      daily: { amplitude: AMPLITUDE, peakHourUtc },
      noise: 0.01,
      seed,
    });
    const workloadIds = Array.from({ length: WORKLOADS }, (_, i) => `${pairId}-w${i + 1}`);
    for (const [i, id] of workloadIds.entries()) {
      await t.control.createWorkload({ id, pairId, requirements: WORKLOAD, demand: demand(i + 1) });
    }
    await pollUntil(
      () => t.provider.getHost(primary.hostId),
      (host) => host.workloadIds.length === WORKLOADS,
      'every workload running on the primary node',
    );
    agent = new BedMetricsAgent({
      provider: t.provider,
      writer: new TelegrafWriter({ url: INFLUX_URL, database: harness.database }),
    });
    await agent.backfill(Date.now() - 33 * HOUR_MS, Date.now());
    agent.start();
    // The bed runs on the wall clock (the harness's waitForMetrics follows its simulator's faster one).
    await pollUntil(
      () => harness.metrics.latestSampleTime([primary.hostId]),
      (latest) => latest !== undefined && Date.now() - latest.getTime() < 2 * 60_000,
      `metrics of ${primary.hostId} up to now in InfluxDB`,
    );
    f = pairFixtureOn(harness, { pairId, primary, shadow, workloadIds });
    await f.startWorker();
    await f.startPair();
  }, 180_000);
  afterAll(async () => {
    await agent?.stop();
    await f?.close();
    if (t && f) await t.control.removePairs([f.pairId]);
  }, 90_000);

  it('activates the shadow node and moves pods there before the crossing', { timeout: 300_000 }, async () => {
    // Decided at a sample of the primary's: the first may be held back (the anomaly check can call the newest
    // sample an isolated spike), and samples come a minute apart on the wall clock.
    const state = await f.waitForState(
      (s) => s.counters.scaleOuts >= 1 && s.phase === 'scaled-out',
      'a scale-out',
      240_000,
    );
    const scaleOut = state.recentActions.find((a) => a.kind === 'scale-out');
    expect(scaleOut).toMatchObject({ kind: 'scale-out', outcome: 'succeeded' });
    expect(scaleOut!.actualPercent).toBeGreaterThan(0);
    expect(scaleOut!.actualPercent).toBeLessThan(80);
    expect(state.movedToShadow.length).toBeGreaterThan(0);
    const fleet = await t.provider.describeFleet({ hostIds: [f.primary.hostId, f.shadow.hostId] });
    const onShadow = fleet.workloads.filter((w) => w.hostId === f.shadow.hostId).map((w) => w.id);
    expect(onShadow.sort()).toEqual([...state.movedToShadow].sort());
    const shadowHost = fleet.hosts.find((h) => h.id === f.shadow.hostId)!;
    expect(shadowHost).toMatchObject({ role: 'shadow', status: 'active' });
    expect(shadowHost.allocationFraction).toBeGreaterThan(0.15);
    expect(agent.unplayed.size).toBe(0);
    expect((await f.client.workflow.getHandle(pairWorkflowId(f.pairId)).describe()).status.name).toBe('RUNNING');
  });
});
