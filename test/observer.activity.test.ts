/**
 * The shard observer's loop with the real ONNX forecaster over crafted windows and typed fakes for the provider, the
 * metrics store and the Temporal client (the real stack runs it in pair.scaling.test.ts and the pair tests): one
 * decision per pair and data step recorded, "none" included; an order, with its update id, only to a pair that must
 * act and may; a refused order leaves the pair's memory where it was; data that did not move is not read again.
 */
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPairObserverActivities,
  type ObservePairsInput,
  type ObservePairsResult,
} from '../activities/pairObserver.js';
import { configSchema } from '../src/config/schema.js';
import { createForecaster, type OnnxForecaster } from '../src/forecast/forecaster.js';
import type { FleetSnapshot } from '../src/provider/types.js';
import type { ObservedPair, ScalingOrder } from '../src/shared/observation.js';
import type { PairPolicy } from '../src/shared/pair.js';
import { PROJECT_ROOT } from '../src/stack/paths.js';
import { fakeWithAbortSignal } from './helpers/temporal.js';
import { CAPACITY, NOW, host, observeWith, windowsFor, workload } from './helpers/observation.js';

/** Two pairs: `hot` carries a sustained burst (it must scale out), `quiet` idles at 30%. */
const FLEET: FleetSnapshot = {
  now: new Date(NOW).toISOString(),
  hosts: [
    host('hot-a', 'primary', 'active', 1, ['w-hot-1', 'w-hot-2'], 'hot'),
    host('hot-b', 'shadow', 'inactive', 0.15, [], 'hot'),
    host('quiet-a', 'primary', 'active', 1, ['w-quiet-1', 'w-quiet-2'], 'quiet'),
    host('quiet-b', 'shadow', 'inactive', 0.15, [], 'quiet'),
  ],
  workloads: [
    workload('w-hot-1', 'hot-a'),
    workload('w-hot-2', 'hot-a'),
    workload('w-quiet-1', 'quiet-a'),
    workload('w-quiet-2', 'quiet-a'),
  ],
};
const WINDOWS = { 'hot-a': windowsFor('hot-a', 40, [95, 95, 95]), 'quiet-a': windowsFor('quiet-a', 30) };

/** The default policy with a turn every second, so a short run sees several turns on the same data. */
const PAIR_POLICY: PairPolicy = { ...configSchema.parse({}).policy, tickSeconds: 1 };

const member = (pairId: string, overrides: Partial<ObservedPair> = {}): ObservedPair => ({
  pairId,
  primary: { hostId: `${pairId}-a`, region: 'eu-west', zone: 'eu-west-a', capacity: CAPACITY },
  shadowHostId: `${pairId}-b`,
  policy: PAIR_POLICY,
  movedToShadow: [],
  generation: 3,
  paused: false,
  phase: 'steady',
  scaling: {},
  ...overrides,
});

/**
 * A client whose pairs accept (or refuse) orders; records the orders it was sent. The observer's members stay at
 * version 1 unless `membersMoved` says they moved, and then its query answers with those after `queryAfterMs`.
 */
function fakeTemporal(refuse?: string, membersMoved?: { members: ObservedPair[]; queryAfterMs: number }) {
  const orders: { workflowId: string; updateId: string; order: ScalingOrder }[] = [];
  const client = {
    workflow: {
      getHandle: (workflowId: string) => ({
        describe: () =>
          Promise.resolve({ memo: { membersVersion: membersMoved ? 2 : 1 }, status: { name: 'RUNNING' } }),
        query: () =>
          membersMoved
            ? new Promise((resolve) =>
                setTimeout(() => resolve({ version: 2, members: membersMoved.members }), membersMoved.queryAfterMs),
              )
            : Promise.resolve({ version: 1 }),
        signal: () => Promise.resolve(),
        startUpdate: (_def: unknown, options: { args: [ScalingOrder]; updateId: string }) => {
          orders.push({ workflowId, updateId: options.updateId, order: options.args[0] });
          return refuse ? Promise.reject(new Error(refuse)) : Promise.resolve({});
        },
      }),
    },
    withAbortSignal: fakeWithAbortSignal,
  } as unknown as Client;
  return { client, orders };
}

/** One observer activity over `members`, as its workflow would schedule it, for a short run unless told otherwise. */
function runObservePairs(
  activities: ReturnType<typeof createPairObserverActivities>,
  members: ObservedPair[],
  overrides: Partial<ObservePairsInput> = {},
): Promise<ObservePairsResult> {
  const input: ObservePairsInput = {
    taskQueue: 'test',
    shard: 0,
    observerWorkflowId: 'observe:test:0',
    members,
    version: 1,
    runForMs: 2_500,
    ...overrides,
  };
  return new MockActivityEnvironment().run<
    [ObservePairsInput],
    ObservePairsResult,
    (i: ObservePairsInput) => Promise<ObservePairsResult>
  >((i) => activities.observePairs(i), input);
}

describe('observePairs', () => {
  let forecaster: OnnxForecaster;
  beforeAll(async () => {
    forecaster = await createForecaster({ artifactsDir: join(PROJECT_ROOT, 'models', 'artifacts'), pollIntervalMs: 0 });
  });
  afterAll(() => forecaster.close());

  async function observe(members: ObservedPair[], refuse?: string) {
    const fakes = observeWith(FLEET, WINDOWS);
    const temporal = fakeTemporal(refuse);
    const activities = createPairObserverActivities({
      provider: fakes.provider,
      metrics: fakes.metrics,
      forecaster,
      temporal: temporal.client,
    });
    const result = await runObservePairs(activities, members);
    return { result, ...fakes, orders: temporal.orders };
  }

  it('records one decision per pair and data step, and orders only the pair that must act', async () => {
    const { result, decisions, orders, utilisationReads, newestReadsAfter } = await observe([
      member('hot'),
      member('quiet'),
    ]);
    expect(result.rounds).toBeGreaterThan(1);
    // Several turns on unchanged data: each pair observed (and its decision recorded) once.
    expect(utilisationReads()).toBe(1);
    // Between data steps only the samples after the pairs' last observed one are asked for.
    expect(newestReadsAfter.length).toBeGreaterThan(1);
    expect(newestReadsAfter.slice(1).every((after) => after === NOW)).toBe(true);
    expect(decisions.map((d) => [d.pairId, d.action, d.executed]).sort()).toEqual([
      ['hot', 'activate-shadow-and-migrate', true],
      ['quiet', 'none', false],
    ]);
    const hot = decisions.find((d) => d.pairId === 'hot')!;
    expect(hot).toMatchObject({ hostId: 'hot-a', bindingResource: 'cpu', time: new Date(NOW) });
    expect(hot.model).toBeTruthy();
    expect(orders).toHaveLength(1);
    expect(orders[0]).toMatchObject({ workflowId: 'pair:hot', updateId: `act:hot:3:${NOW}` });
    expect(orders[0]!.order).toMatchObject({ primaryHostId: 'hot-a', generation: 3, execute: true });
    expect(orders[0]!.order.action.kind).toBe('activate-shadow-and-migrate');
    // The taken order moved the pair's memory (its cooldown starts), and the result carries it on.
    expect(result.memories.hot?.lastActionAt).toBe(NOW);
    expect(result.orders).toBe(1);
  });

  it('leaves the memory where it was when the pair refuses the order, and records it as not executed', async () => {
    const { result, decisions, orders } = await observe([member('hot')], 'pair hot is already acting');
    expect(orders).toHaveLength(1);
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({ action: 'activate-shadow-and-migrate', executed: false });
    expect(result.memories.hot?.lastActionAt).toBeUndefined();
    expect(result.orders).toBe(0);
  });

  it('sends a paused pair no order, and still records its decision', async () => {
    const { decisions, orders } = await observe([member('hot', { paused: true })]);
    expect(orders).toEqual([]);
    expect(decisions.map((d) => [d.action, d.executed])).toEqual([['activate-shadow-and-migrate', false]]);
  });

  it('fails a turn stuck on a read that never answers, and records nothing should the read come back', async () => {
    let forecastWritten: () => void = () => undefined;
    const written = new Promise<void>((resolve) => (forecastWritten = resolve));
    const fakes = observeWith(FLEET, WINDOWS, () => {
      forecastWritten();
      return Promise.resolve();
    });
    let answer: (fleet: FleetSnapshot) => void = () => undefined;
    const stuck = new Promise<FleetSnapshot>((resolve) => (answer = resolve));
    const temporal = fakeTemporal();
    const activities = createPairObserverActivities({
      provider: { ...fakes.provider, describeFleet: () => stuck },
      metrics: fakes.metrics,
      forecaster,
      temporal: temporal.client,
    });
    const run = runObservePairs(activities, [member('hot')], { runForMs: 60_000, turnLimitMs: 300 });
    await expect(run).rejects.toThrow(/a turn of 1 pairs outlasted 0.3 s/);
    answer(FLEET);
    // The abandoned turn goes on once its read answers: once it has forecast, what is left of it (deciding, ordering,
    // recording) settles within one turn of the event loop.
    await written;
    await new Promise((resolve) => setImmediate(resolve));
    expect(fakes.utilisationReads()).toBe(1);
    expect(fakes.decisions).toEqual([]);
    expect(temporal.orders).toEqual([]);
  });

  it('goes on observing and returns on time while a read of its members is slow', async () => {
    // The members moved: the read queries the observer workflow, which answers after a minute.
    const fakes = observeWith(FLEET, WINDOWS);
    const temporal = fakeTemporal(undefined, { members: [member('quiet')], queryAfterMs: 60_000 });
    const activities = createPairObserverActivities({
      provider: fakes.provider,
      metrics: fakes.metrics,
      forecaster,
      temporal: temporal.client,
    });
    const started = Date.now();
    const result = await runObservePairs(activities, [member('hot')], { runForMs: 4_500 });
    // A turn a second (the pair's tick) all through the run, for the members it had, ending at its time.
    expect(result.rounds).toBeGreaterThanOrEqual(4);
    expect(fakes.decisions.map((d) => d.pairId)).toEqual(['hot']);
    expect(temporal.orders.map((o) => o.workflowId)).toEqual(['pair:hot']);
    expect(Date.now() - started).toBeLessThan(60_000);
  });

  it('in forecast-only mode sends the order to be recorded, not executed', async () => {
    const { orders } = await observe([member('hot', { policy: { ...PAIR_POLICY, forecastOnly: true } })]);
    expect(orders).toHaveLength(1);
    expect(orders[0]!.order.execute).toBe(false);
  });
});
