import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkFleet,
  checkNoActionDuringOutage,
  checkNoOperationDuringOutage,
  checkSteady,
  type ChaosViolationKind,
} from '../src/chaos/invariants.js';
import { FAULT_KINDS, influxOutageCount, planCampaign, PlanError, type RoundSpec } from '../src/chaos/plan.js';
import { PAIRS_PER_ROUND, REGIONS_PER_ROUND, runRound } from '../src/chaos/rounds.js';
import { chaosStackUp, openLog, chaosPaths, type ChaosStack, type ChaosStackOptions } from '../src/chaos/stack.js';
import type { FleetSnapshot, Host, HostRole, HostStatus } from '../src/provider/types.js';
import type { ActionRecord } from '../src/shared/pair.js';

const SIZE = { cpuCores: 16, memoryGiB: 64, storageIops: 20_000, networkMbps: 10_000 };

function host(id: string, role: HostRole, status: HostStatus, workloadIds: string[] = [], pairId = 'p1'): Host {
  return {
    id,
    region: 'us-east',
    zone: 'us-east-a',
    capacity: SIZE,
    allocationFraction: role === 'primary' ? 1 : 0.15,
    role,
    status,
    pairId,
    workloadIds,
    dataVersion: 0,
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
  };
}

function fleet(hosts: Host[], workloads: Record<string, string>): FleetSnapshot {
  return {
    now: '2026-01-01T00:00:00Z',
    hosts,
    workloads: Object.entries(workloads).map(([id, hostId]) => ({
      id,
      hostId,
      requirements: SIZE,
      demand: { kind: 'synthetic', base: 0.5 },
      createdAt: '2026-01-01T00:00:00Z',
    })),
  };
}

const kinds = (violations: { kind: ChaosViolationKind }[]): ChaosViolationKind[] => violations.map((v) => v.kind);

describe('fault campaign: the invariant checker', () => {
  const healthy = fleet([host('a', 'primary', 'active', ['w1', 'w2']), host('b', 'shadow', 'inactive')], {
    w1: 'a',
    w2: 'a',
  });

  it('finds nothing wrong with a healthy pair', () => {
    expect(checkFleet(healthy, ['w1', 'w2'])).toEqual([]);
    expect(checkSteady(healthy, [{ pairId: 'p1', phase: 'steady', primaryHostId: 'a', shadowHostId: 'b' }])).toEqual(
      [],
    );
  });

  it('flags a workload that vanished, and one left on a fenced host', () => {
    const vanished = fleet([host('a', 'primary', 'active', ['w1']), host('b', 'shadow', 'inactive')], { w1: 'a' });
    expect(checkFleet(vanished, ['w1', 'w2'])).toEqual([
      { kind: 'workload-lost', message: 'workload w2 no longer exists in the provider' },
    ]);
    const stranded = fleet([host('a', 'primary', 'fenced', ['w1']), host('b', 'primary', 'active')], { w1: 'a' });
    expect(kinds(checkFleet(stranded, ['w1']))).toEqual(['workload-lost']);
  });

  it('flags a workload running on two hosts', () => {
    const doubled = fleet([host('a', 'primary', 'active', ['w1']), host('b', 'shadow', 'active', ['w1'])], {
      w1: 'a',
    });
    const [violation] = checkFleet(doubled, ['w1']);
    expect(violation).toEqual({ kind: 'workload-running-twice', message: 'workload w1 runs on 2 hosts (a, b)' });
  });

  it('flags two unfenced primaries for one pair, a failed one included, but not a fenced one', () => {
    const split = fleet([host('a', 'primary', 'failed', []), host('b', 'primary', 'active', ['w1'])], { w1: 'b' });
    expect(checkFleet(split, ['w1'])).toEqual([
      { kind: 'two-unfenced-primaries', message: 'pair p1 has 2 unfenced primaries: a (failed), b (active)' },
    ]);
    const fenced = fleet([host('a', 'primary', 'fenced', []), host('b', 'primary', 'active', ['w1'])], { w1: 'b' });
    expect(checkFleet(fenced, ['w1'])).toEqual([]);
  });

  it('flags a pair that is not steady, or that the provider contradicts', () => {
    const views = [
      { pairId: 'p1', phase: 'unprotected' as const, primaryHostId: 'a' },
      { pairId: 'p2', phase: 'steady' as const, primaryHostId: 'b', shadowHostId: 'a' },
    ];
    expect(checkSteady(healthy, views).map((v) => v.message)).toEqual([
      'pair p1: phase unprotected',
      'pair p2: primary b is shadow inactive',
    ]);
  });

  it('flags an action a pair took while its metrics were down, not the ones it took before', () => {
    const before: ActionRecord = { kind: 'swap', at: 1, outcome: 'succeeded', detail: 'earlier' };
    const during: ActionRecord = { kind: 'scale-out', at: 2, outcome: 'succeeded', detail: 'forecast 95%' };
    expect(checkNoActionDuringOutage([{ pairId: 'p1', before: [before], after: [before] }])).toEqual([]);
    expect(checkNoActionDuringOutage([{ pairId: 'p1', before: [before], after: [before, during] }])).toEqual([
      {
        kind: 'acted-during-metrics-outage',
        message: 'pair p1 ran scale-out (succeeded) while InfluxDB was down: forecast 95%',
      },
    ]);
  });

  it('flags a provider operation that started while InfluxDB was down, from the simulator history', () => {
    const operation = (operation: 'activateShadow' | 'syncConfiguration', startedAtMs: number) => ({
      seq: startedAtMs,
      kind: 'operation' as const,
      atMs: startedAtMs + 1_000,
      startedAtMs,
      operationId: `op-${startedAtMs}`,
      operation,
      status: 'succeeded' as const,
      hostId: 'b',
      pairId: 'p1',
    });
    const history = [operation('activateShadow', 500), operation('syncConfiguration', 1_500)];
    expect(checkNoOperationDuringOutage(history, { startMs: 1_000, endMs: 2_000 })).toEqual([]);
    expect(
      checkNoOperationDuringOutage([...history, operation('activateShadow', 1_800)], { startMs: 1_000, endMs: 2_000 }),
    ).toEqual([
      {
        kind: 'acted-during-metrics-outage',
        message: 'the provider ran activateShadow on b (pair p1) while InfluxDB was down',
      },
    ]);
  });
});

describe('fault campaign: the plan', () => {
  const options = { rounds: 100, pairsPerRound: 3, regionsPerRound: 3 };

  it('is the same for the same seed, and another for another seed', () => {
    const plan = planCampaign({ seed: 7, ...options });
    expect(planCampaign({ seed: 7, ...options })).toEqual(plan);
    expect(planCampaign({ seed: 8, ...options }).rounds).not.toEqual(plan.rounds);
  });

  it('holds every kind, three two-minute InfluxDB outages per hundred rounds and the rest evenly', () => {
    const { rounds } = planCampaign({ seed: 1, ...options });
    const count = (kind: string) => rounds.filter((r) => r.fault === kind).length;
    expect(influxOutageCount(100)).toBe(3);
    expect(count('influx-outage')).toBe(3);
    const evenShare = Math.floor((100 - 3) / (FAULT_KINDS.length - 1));
    for (const kind of FAULT_KINDS.filter((k) => k !== 'influx-outage'))
      expect(count(kind)).toBeGreaterThanOrEqual(evenShare);
    expect(rounds.filter((r) => r.fault === 'influx-outage').every((r) => r.faultDurationMs === 120_000)).toBe(true);
  });

  it('refuses a bad round count or an unknown fault, naming it', () => {
    expect(() => planCampaign({ seed: 1, ...options, rounds: 0 })).toThrow(PlanError);
    expect(() => planCampaign({ seed: 1, ...options, kinds: ['meteor' as 'host-flap'] })).toThrow(/meteor/);
  });
});

// Ports and a folder apart from both the shared embedded stack and a campaign that may be running beside. The ports
// sit below the kernel's ephemeral range (32768 and up), where another test's outgoing connection or a server started
// on a port the OS picked could already hold them.
const TEST_STACK: ChaosStackOptions = {
  name: 'chaos-test',
  temporalPort: 26233,
  temporalUiPort: 26234,
  influxPort: 26086,
  simulatorPort: 26090,
};

describe('fault campaign: rounds on a stack of its own', () => {
  let stack: ChaosStack;
  beforeAll(async () => {
    stack = await chaosStackUp(TEST_STACK, openLog(`${chaosPaths(TEST_STACK).logsDir}/test.log`));
  }, 120_000);
  afterAll(async () => {
    await stack?.down();
  }, 60_000);

  const round = (n: number, fault: RoundSpec['fault']): RoundSpec => ({
    round: n,
    fault,
    targetPair: n % PAIRS_PER_ROUND,
    targetRegion: n % REGIONS_PER_ROUND,
    strikeDelayMs: 200,
    downtimeMs: 1_000,
    faultDurationMs: 6_000,
    apiLatencyMs: 200,
    flapPeriodSeconds: 90,
  });

  it('keeps every invariant through a worker killed mid-failover and a region failure', async () => {
    const tag = `t${Date.now().toString(36).slice(-4)}`;
    for (const spec of [round(1, 'worker-kill-mid-failover'), round(2, 'region-failure')]) {
      const result = await runRound(stack, spec, tag);
      expect(result.error, result.notes.join('; ')).toBeUndefined();
      expect(result.violations).toEqual([]);
      expect(result.timeToSteadyMs).toBeGreaterThanOrEqual(0);
    }
    expect(stack.worker.unexpectedExits).toBe(0);
  }, 150_000);

  it('loses no message and swaps once across continue-as-new, and refuses a report for the former primary', async () => {
    const tag = `t${Date.now().toString(36).slice(-4)}`;
    const result = await runRound(stack, round(3, 'messages-at-continue-as-new'), tag);
    expect(result.error, result.notes.join('; ')).toBeUndefined();
    expect(result.violations).toEqual([]);
    const notes = result.notes.join('\n');
    expect(notes).toMatch(/swapNow answered swapped/);
    expect(notes).toMatch(/a report for the former primary (\S+): \1 is not the primary of pair/);
    expect(stack.worker.unexpectedExits).toBe(0);
  }, 150_000);
});
