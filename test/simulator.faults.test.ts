/**
 * Faults on demand, failures part-way, the invariant checker and persistence, against real simulator processes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HttpFleetProvider } from '../src/provider/client.js';
import type { ProvisionHostRequest } from '../src/provider/types.js';
import {
  SIZE,
  expectProviderError,
  finish,
  startTestSimulator,
  uniqueKey,
  type TestSimulator,
} from './helpers/simulator.js';

const simulators: TestSimulator[] = [];
afterEach(async () => {
  await Promise.all(simulators.splice(0).map((s) => s.stop()));
});

async function fleetWith(...hosts: Partial<ProvisionHostRequest>[]): Promise<TestSimulator> {
  const sim = await startTestSimulator({ speed: 1, startAt: '2026-05-04T08:00:00Z' });
  simulators.push(sim);
  await sim.control.setDelays({ provisionSeconds: 1 });
  for (const host of hosts) {
    const op = await sim.provider.provisionHost({
      idempotencyKey: uniqueKey('provision'),
      region: 'eu-west',
      zone: 'eu-west-a',
      capacity: SIZE,
      role: 'primary',
      ...host,
    });
    await finish(sim, op);
  }
  return sim;
}

const smallWorkload = { cpuCores: 2, memoryGiB: 8, storageIops: 500, networkMbps: 100 };

describe('fleet simulator: faults', () => {
  it('fails and recovers a host; the invariants see its stranded workload meanwhile', async () => {
    const sim = await fleetWith({ hostId: 'h1' });
    await sim.control.createWorkload({
      workloadId: 'w1',
      hostId: 'h1',
      requirements: smallWorkload,
      demand: { kind: 'synthetic', base: 0.5 },
    });
    await sim.control.failHost('h1');
    expect(await sim.provider.healthCheck('h1')).toMatchObject({ healthy: false, status: 'failed' });
    const report = await sim.provider.invariants();
    expect(report.ok).toBe(false);
    expect(report.violations).toEqual([
      expect.objectContaining({
        kind: 'workload-not-on-healthy-active-host',
        workloadId: 'w1',
        hostId: 'h1',
        hostStatus: 'failed',
      }),
    ]);
    await sim.control.recoverHost('h1');
    expect(await sim.provider.healthCheck('h1')).toMatchObject({ healthy: true, status: 'active' });
    expect((await sim.provider.invariants()).ok).toBe(true);
    const notFailed = await expectProviderError(sim.control.recoverHost('h1'), 'conflict', 409);
    expect(notFailed.message).toMatch(/h1 is active, not failed/);
  });

  it('fails and recovers a zone and a region, and refuses to provision into a zone that is down', async () => {
    const sim = await fleetWith(
      { hostId: 'a1', zone: 'eu-west-a' },
      { hostId: 'a2', zone: 'eu-west-a' },
      { hostId: 'b1', zone: 'eu-west-b' },
      { hostId: 'u1', region: 'us-east', zone: 'us-east-a' },
    );
    const zone = await sim.control.failZone('eu-west', 'eu-west-a');
    expect(zone.affectedHostIds.sort()).toEqual(['a1', 'a2']);
    expect((await sim.provider.healthCheck('b1')).healthy).toBe(true);
    const down = await expectProviderError(
      sim.provider.provisionHost({
        idempotencyKey: uniqueKey('p'),
        region: 'eu-west',
        zone: 'eu-west-a',
        capacity: SIZE,
        role: 'shadow',
      }),
      'unavailable',
      503,
    );
    expect(down.retryable).toBe(true);
    expect(down.message).toMatch(/zone eu-west\/eu-west-a is down/);
    const stillDown = await expectProviderError(sim.control.recoverHost('a1'), 'conflict', 409);
    expect(stillDown.message).toMatch(/recover the zone or region/);
    expect((await sim.control.recoverZone('eu-west', 'eu-west-a')).affectedHostIds.sort()).toEqual(['a1', 'a2']);

    const region = await sim.control.failRegion('eu-west');
    expect(region.affectedHostIds.sort()).toEqual(['a1', 'a2', 'b1']);
    expect((await sim.provider.healthCheck('u1')).healthy).toBe(true);
    expect((await sim.control.recoverRegion('eu-west')).affectedHostIds.sort()).toEqual(['a1', 'a2', 'b1']);
    const fleet = await sim.provider.describeFleet();
    expect(fleet.hosts.every((h) => h.status === 'active')).toBe(true);
    await expectProviderError(sim.control.failRegion('mars'), 'not_found', 404);
  });

  it('flaps a host on a period of simulated time until told to stop', async () => {
    const sim = await fleetWith({ hostId: 'flappy' });
    await sim.control.flapHost('flappy', 30);
    expect((await sim.provider.healthCheck('flappy')).healthy).toBe(false);
    await sim.control.advance(30);
    expect((await sim.provider.healthCheck('flappy')).healthy).toBe(true);
    await sim.control.advance(30);
    expect((await sim.provider.healthCheck('flappy')).healthy).toBe(false);
    await sim.control.stopFlapping('flappy');
    expect((await sim.provider.healthCheck('flappy')).healthy).toBe(true);
    await sim.control.advance(60);
    expect((await sim.provider.healthCheck('flappy')).healthy).toBe(true);
  });

  it('injects API latency and errors: 503s that act on nothing and are marked retryable', async () => {
    const sim = await fleetWith({ hostId: 'api-1' });
    await sim.control.setApiFaults({ apiErrorRate: 1 });
    const failing = await expectProviderError(
      sim.provider.fenceHost({ idempotencyKey: uniqueKey('f'), hostId: 'api-1' }),
      'unavailable',
      503,
    );
    expect(failing.retryable).toBe(true);
    await sim.control.setApiFaults({ apiErrorRate: 0, apiLatencyMs: 300 });
    const started = performance.now();
    expect((await sim.provider.getHost('api-1')).status).toBe('active'); // the failed fence did nothing
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('fails operations part-way on demand, undoing them and freeing the key for a retry', async () => {
    const sim = await fleetWith({ hostId: 'src' }, { hostId: 'dst' });
    await sim.control.createWorkload({
      workloadId: 'w',
      hostId: 'src',
      requirements: smallWorkload,
      demand: { kind: 'synthetic', base: 0.5 },
    });
    await sim.control.setApiFaults({ actionFailureRate: 1 });
    const key = uniqueKey('migrate');
    const request = { idempotencyKey: key, workloadId: 'w', sourceHostId: 'src', targetHostId: 'dst' };
    const op = await sim.provider.migrateWorkload(request);
    const failed = await expectProviderError(finish(sim, op), 'operation_failed');
    expect(failed.message).toMatch(/failed part-way \(injected fault\)/);
    expect((await sim.provider.getOperation(op.id)).status).toBe('failed');
    expect((await sim.provider.describeFleet()).workloads.find((w) => w.id === 'w')).toMatchObject({ hostId: 'src' });
    expect((await sim.provider.describeFleet()).workloads.find((w) => w.id === 'w')?.migratingTo).toBeUndefined();

    const provision = await sim.provider.provisionHost({
      idempotencyKey: uniqueKey('p'),
      hostId: 'never',
      region: 'eu-west',
      zone: 'eu-west-a',
      capacity: SIZE,
      role: 'primary',
    });
    await expectProviderError(finish(sim, provision), 'operation_failed');
    await expectProviderError(sim.provider.getHost('never'), 'not_found', 404);

    // The same key acts again once the fault is gone: a Temporal retry of the same activity succeeds.
    await sim.control.setApiFaults({ actionFailureRate: 0 });
    const retry = await sim.provider.migrateWorkload(request);
    expect(retry.id).not.toBe(op.id);
    expect((await finish(sim, retry)).result?.targetHostId).toBe('dst');
  });

  it('fails a live migration whose source dies mid-way; the workload stays put', async () => {
    const sim = await fleetWith({ hostId: 'src' }, { hostId: 'dst' });
    await sim.control.createWorkload({
      workloadId: 'w',
      hostId: 'src',
      requirements: smallWorkload,
      demand: { kind: 'synthetic', base: 0.5 },
    });
    const op = await sim.provider.migrateWorkload({
      idempotencyKey: uniqueKey('m'),
      workloadId: 'w',
      sourceHostId: 'src',
      targetHostId: 'dst',
    });
    await sim.control.advance(5);
    await sim.control.failHost('src');
    const failed = await expectProviderError(finish(sim, op), 'operation_failed');
    expect(failed.message).toMatch(/source host src became failed mid-migration/);
    const fleet = await sim.provider.describeFleet();
    expect(fleet.workloads[0]).toMatchObject({ id: 'w', hostId: 'src' });
    expect(fleet.hosts.find((h) => h.id === 'dst')?.workloadIds).toEqual([]);
  });

  it('runs a failover and records the data it lost', async () => {
    const sim = await fleetWith(
      { hostId: 'p', pairId: 'pair' },
      { hostId: 's', pairId: 'pair', role: 'shadow', region: 'us-east', zone: 'us-east-a' },
    );
    await sim.control.createWorkload({
      workloadId: 'w',
      hostId: 'p',
      requirements: smallWorkload,
      demand: { kind: 'synthetic', base: 0.5 },
    });
    await finish(
      sim,
      await sim.provider.startReplication({ idempotencyKey: uniqueKey('r'), sourceHostId: 'p', targetHostId: 's' }),
    );
    await sim.control.advance(120);
    await sim.control.failHost('p');
    const broken = await sim.provider.verifyReplication({ sourceHostId: 'p', targetHostId: 's' });
    expect(broken.state).toBe('broken');
    expect(broken.lagVersions).toBeGreaterThanOrEqual(19);

    // Fence before activate, always; then restore the workload from the replica and promote.
    await finish(sim, await sim.provider.fenceHost({ idempotencyKey: uniqueKey('f'), hostId: 'p' }));
    await finish(sim, await sim.provider.activateShadow({ idempotencyKey: uniqueKey('a'), hostId: 's' }));
    const restore = await finish(
      sim,
      await sim.provider.migrateWorkload({
        idempotencyKey: uniqueKey('m'),
        workloadId: 'w',
        sourceHostId: 'p',
        targetHostId: 's',
      }),
    );
    expect(restore.result).toMatchObject({ restoredFromReplica: true, lostVersions: broken.lagVersions });
    await finish(sim, await sim.provider.setRole({ idempotencyKey: uniqueKey('role'), hostId: 's', role: 'primary' }));
    const report = await sim.provider.invariants();
    expect(report.violations).toEqual([]);
    expect(report.dataLoss).toEqual([
      expect.objectContaining({
        pairId: 'pair',
        failedHostId: 'p',
        promotedHostId: 's',
        lostVersions: broken.lagVersions,
      }),
    ]);
  });
});

describe('fleet simulator: the invariant checker', () => {
  it('catches two unfenced primaries, exceeded capacity and a stranded workload made on purpose', async () => {
    const sim = await fleetWith(
      { hostId: 'p', pairId: 'pair' },
      { hostId: 's', pairId: 'pair', role: 'shadow', region: 'us-east', zone: 'us-east-a' },
      { hostId: 'big' },
    );
    expect((await sim.provider.invariants()).ok).toBe(true);
    // Promote the shadow while its primary still runs: the mistake fencing exists to prevent.
    await finish(sim, await sim.provider.activateShadow({ idempotencyKey: uniqueKey('a'), hostId: 's' }));
    await finish(sim, await sim.provider.setRole({ idempotencyKey: uniqueKey('r'), hostId: 's', role: 'primary' }));
    // A host loses memory under its workload.
    await sim.control.createWorkload({
      workloadId: 'heavy',
      hostId: 'big',
      requirements: { cpuCores: 8, memoryGiB: 48, storageIops: 1000, networkMbps: 100 },
      demand: { kind: 'synthetic', base: 0.5 },
    });
    await sim.control.degradeHost('big', { memoryGiB: 32 });
    await sim.control.createWorkload({
      workloadId: 'stranded',
      hostId: 'p',
      requirements: smallWorkload,
      demand: { kind: 'synthetic', base: 0.5 },
    });
    await sim.control.failHost('p');

    const report = await sim.provider.invariants();
    expect(report.ok).toBe(false);
    const kinds = report.violations.map((v) => v.kind).sort();
    expect(kinds).toEqual(['capacity-exceeded', 'two-unfenced-primaries', 'workload-not-on-healthy-active-host']);
    const messages = report.violations.map((v) => v.message).join('\n');
    expect(messages).toMatch(/pair pair has 2 unfenced primaries: p, s|pair pair has 2 unfenced primaries: s, p/);
    expect(messages).toMatch(/host big: workloads reserve 48 GiB of memory, 150% of its allocated 32/);
    expect(messages).toMatch(/workload stranded runs on host p, which is failed/);

    // Fencing the old primary resolves the pair violation (and only that one).
    await finish(sim, await sim.provider.fenceHost({ idempotencyKey: uniqueKey('f'), hostId: 'p' }));
    const after = await sim.provider.invariants();
    expect(after.violations.map((v) => v.kind).sort()).toEqual([
      'capacity-exceeded',
      'workload-not-on-healthy-active-host',
    ]);
  });
});

describe('fleet simulator: persistence and access', () => {
  it('loses nothing across a restart, graceful or killed, and finishes running operations afterwards', async () => {
    const sim = await fleetWith(
      { hostId: 'p', pairId: 'pair' },
      { hostId: 's', pairId: 'pair', role: 'shadow', region: 'us-east', zone: 'us-east-a' },
    );
    await sim.control.createWorkload({
      workloadId: 'w',
      hostId: 'p',
      requirements: smallWorkload,
      demand: { kind: 'synthetic', base: 0.5, daily: { amplitude: 0.2 } },
    });
    await sim.control.uploadTrace('tiny', 'timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,3\n');
    await finish(
      sim,
      await sim.provider.startReplication({ idempotencyKey: uniqueKey('r'), sourceHostId: 'p', targetHostId: 's' }),
    );
    await sim.control.setApiFaults({ apiLatencyMs: 1 });
    const configKey = uniqueKey('cfg');
    const running = await sim.provider.syncConfiguration({ idempotencyKey: configKey, hostId: 'p', desired: { a: 1 } });
    await sim.control.failHost('s');
    const before = await sim.provider.describeFleet();
    const invariantsBefore = await sim.provider.invariants();

    await sim.restart('SIGTERM');
    const after = await sim.provider.describeFleet();
    // The clock stands still while the simulator is down; versions may move by what a few ms of running adds.
    const strip = (f: typeof before) => f.hosts.map((h) => ({ ...h, dataVersion: 0 }));
    expect(strip(after)).toEqual(strip(before));
    expect(after.workloads).toEqual(before.workloads);
    expect(Date.parse(after.now) - Date.parse(before.now)).toBeLessThan(5_000);
    expect(await sim.provider.invariants()).toMatchObject({ violations: invariantsBefore.violations });
    expect((await sim.control.status()).faults.apiLatencyMs).toBe(1);
    expect((await sim.control.traceSummary('tiny')).rows).toBe(2);
    // The idempotency key still finds its operation, which then finishes.
    const again = await sim.provider.syncConfiguration({ idempotencyKey: configKey, hostId: 'p', desired: { a: 1 } });
    expect(again.id).toBe(running.id);
    expect((await finish(sim, again)).result?.values).toEqual({ a: 1 });

    // Killed without warning right after an acknowledged action: the action is on disk.
    const fence = await sim.provider.fenceHost({ idempotencyKey: uniqueKey('f'), hostId: 's' });
    await sim.restart('SIGKILL');
    expect((await sim.provider.getOperation(fence.id)).kind).toBe('fenceHost');
    expect((await finish(sim, fence)).result?.status).toBe('fenced');
  });

  it('requires the API token when one is configured (except for /health)', async () => {
    const sim = await startTestSimulator({ token: 's3cret-token' });
    simulators.push(sim);
    expect((await sim.provider.describeFleet()).hosts).toEqual([]);
    const anonymous = new HttpFleetProvider({ url: sim.url });
    const missing = await expectProviderError(anonymous.describeFleet(), 'unauthorized', 401);
    expect(missing.message).toMatch(/missing or wrong API token/);
    expect(missing.retryable).toBe(false);
    await expectProviderError(
      new HttpFleetProvider({ url: sim.url, token: 'wrong' }).describeFleet(),
      'unauthorized',
      401,
    );
    expect((await fetch(`${sim.url}/health`)).status).toBe(200);
  });

  it('reports an unreachable provider as retryable', async () => {
    const sim = await startTestSimulator();
    const url = sim.url;
    await sim.stop();
    const error = await expectProviderError(new HttpFleetProvider({ url }).describeFleet(), 'unavailable');
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/cannot reach the provider/);
  });
});
