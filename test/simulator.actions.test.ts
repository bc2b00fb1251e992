/**
 * Every provider action against a real simulator process over HTTP: what it does, how long it takes on the
 * simulated clock, its progress, idempotency, and each kind of bad input leaving the fleet unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetSnapshot, ProvisionHostRequest } from '../src/provider/types.js';
import {
  SIZE,
  expectProviderError,
  finish,
  startTestSimulator,
  uniqueKey,
  type TestSimulator,
} from './helpers/simulator.js';

describe('fleet simulator: provider actions over HTTP', () => {
  let sim: TestSimulator;
  beforeAll(async () => {
    sim = await startTestSimulator({ speed: 1, startAt: '2026-03-02T00:00:00Z' });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  const provision = async (hostId: string, extra: Partial<ProvisionHostRequest> = {}) => {
    const op = await sim.provider.provisionHost({
      idempotencyKey: uniqueKey(`provision-${hostId}`),
      hostId,
      region: 'eu-west',
      zone: 'eu-west-a',
      capacity: SIZE,
      role: 'primary',
      ...extra,
    });
    return (await finish(sim, op)).result!;
  };

  /** The fleet minus what the clock moves (time, data versions), to compare before and after a refused request. */
  const fleetState = async (): Promise<Omit<FleetSnapshot, 'now'>> => {
    const fleet = await sim.provider.describeFleet();
    return { hosts: fleet.hosts.map((h) => ({ ...h, dataVersion: 0 })), workloads: fleet.workloads };
  };

  it('provisions a host in ~90 simulated seconds, with progress, and describes it', async () => {
    const op = await sim.provider.provisionHost({
      idempotencyKey: uniqueKey('p'),
      hostId: 'prov-1',
      region: 'eu-west',
      zone: 'eu-west-a',
      capacity: SIZE,
      role: 'primary',
      pairId: 'pair-prov',
    });
    expect(op).toMatchObject({ kind: 'provisionHost', status: 'running', hostId: 'prov-1' });
    expect(Date.parse(op.expectedFinishAt) - Date.parse(op.startedAt)).toBe(90_000);
    expect((await sim.provider.getHost('prov-1')).status).toBe('provisioning');
    await sim.control.advance(45);
    const halfway = await sim.provider.getOperation(op.id);
    expect(halfway.status).toBe('running');
    expect(halfway.progress).toBeGreaterThan(0.45);
    expect(halfway.progress).toBeLessThan(0.6);
    const done = await finish(sim, op);
    expect(done.status).toBe('succeeded');
    expect(done.result).toMatchObject({ id: 'prov-1', status: 'active', role: 'primary', allocationFraction: 1 });
    const health = await sim.provider.healthCheck('prov-1');
    expect(health).toMatchObject({ hostId: 'prov-1', healthy: true, status: 'active', role: 'primary' });
    const fleet = await sim.provider.describeFleet();
    expect(fleet.hosts.map((h) => h.id)).toContain('prov-1');
  });

  it('runs a shadow through standby, activation, scale-up, resize and back to standby', async () => {
    const shadow = await provision('shadow-1', { role: 'shadow', region: 'us-east', zone: 'us-east-a', pairId: 'p1' });
    expect(shadow).toMatchObject({ status: 'inactive', allocationFraction: 0.15, role: 'shadow' });

    const activate = await sim.provider.activateShadow({
      idempotencyKey: uniqueKey('a'),
      hostId: 'shadow-1',
      allocationFraction: 0.5,
    });
    expect(Date.parse(activate.expectedFinishAt) - Date.parse(activate.startedAt)).toBe(2_000);
    expect((await finish(sim, activate)).result).toMatchObject({ status: 'active', allocationFraction: 0.5 });

    const scaleUp = await sim.provider.scaleUpShadow({
      idempotencyKey: uniqueKey('s'),
      hostId: 'shadow-1',
      allocationFraction: 0.8,
    });
    expect((await finish(sim, scaleUp)).result?.allocationFraction).toBe(0.8);

    const resize = await sim.provider.resizeHost({
      idempotencyKey: uniqueKey('r'),
      hostId: 'shadow-1',
      allocationFraction: 1,
    });
    expect((await finish(sim, resize)).result?.allocationFraction).toBe(1);

    const standby = await sim.provider.deactivateShadow({ idempotencyKey: uniqueKey('d'), hostId: 'shadow-1' });
    expect((await finish(sim, standby)).result).toMatchObject({ status: 'inactive', allocationFraction: 0.15 });
  });

  it('migrates a workload in time proportional to its memory, reporting progress', async () => {
    await provision('mig-src');
    await provision('mig-dst');
    await sim.control.createWorkload({
      workloadId: 'mig-w',
      hostId: 'mig-src',
      requirements: { cpuCores: 4, memoryGiB: 20, storageIops: 1000, networkMbps: 500 },
      demand: { kind: 'synthetic', base: 0.5 },
    });
    const op = await sim.provider.migrateWorkload({
      idempotencyKey: uniqueKey('m'),
      workloadId: 'mig-w',
      sourceHostId: 'mig-src',
      targetHostId: 'mig-dst',
    });
    // 1 s base + 2 s per GiB × 20 GiB.
    expect(Date.parse(op.expectedFinishAt) - Date.parse(op.startedAt)).toBe(41_000);
    await sim.control.advance(20);
    const midway = await sim.provider.getOperation<'migrateWorkload'>(op.id);
    expect(midway.status).toBe('running');
    expect(midway.progress).toBeGreaterThan(0.45);
    expect(midway.progress).toBeLessThan(0.6);
    // While it runs the workload stays on its source.
    expect((await sim.provider.getHost('mig-src')).workloadIds).toEqual(['mig-w']);
    const seen: number[] = [];
    const done = await finish(sim, midway);
    await sim.provider.waitForOperation(done, { onProgress: (o) => seen.push(o.progress) });
    expect(done.result).toMatchObject({
      workloadId: 'mig-w',
      targetHostId: 'mig-dst',
      restoredFromReplica: false,
      lostVersions: 0,
    });
    expect(seen.at(-1)).toBe(1);
    const fleet = await sim.provider.describeFleet();
    expect(fleet.workloads.find((w) => w.id === 'mig-w')?.hostId).toBe('mig-dst');
    expect(fleet.hosts.find((h) => h.id === 'mig-src')?.workloadIds).toEqual([]);
    expect(fleet.hosts.find((h) => h.id === 'mig-dst')?.workloadIds).toEqual(['mig-w']);
    expect((await sim.provider.invariants()).violations).toEqual([]);
  });

  it('syncs configuration to an applied configuration with a stable hash', async () => {
    await provision('cfg-1');
    await provision('cfg-2');
    const desired = { 'nginx.workers': 8, 'feature.x': true, region: 'eu' };
    const one = await finish(
      sim,
      await sim.provider.syncConfiguration({ idempotencyKey: uniqueKey('c'), hostId: 'cfg-1', desired }),
    );
    const reordered = { region: 'eu', 'feature.x': true, 'nginx.workers': 8 };
    const two = await finish(
      sim,
      await sim.provider.syncConfiguration({ idempotencyKey: uniqueKey('c'), hostId: 'cfg-2', desired: reordered }),
    );
    expect(one.result?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(two.result?.hash).toBe(one.result?.hash);
    expect(one.result?.values).toEqual(desired);
    expect((await sim.provider.getHost('cfg-1')).appliedConfiguration?.hash).toBe(one.result?.hash);
    const changed = await finish(
      sim,
      await sim.provider.syncConfiguration({
        idempotencyKey: uniqueKey('c'),
        hostId: 'cfg-2',
        desired: { ...desired, region: 'us' },
      }),
    );
    expect(changed.result?.hash).not.toBe(one.result?.hash);
  });

  it('replicates a primary onto a shadow that trails by the replication lag, and catches up when writes stop', async () => {
    await provision('rep-p', { pairId: 'rep' });
    await provision('rep-s', { role: 'shadow', region: 'us-east', zone: 'us-east-a', pairId: 'rep' });
    const before = await sim.provider.verifyReplication({ sourceHostId: 'rep-p', targetHostId: 'rep-s' });
    expect(before.state).toBe('not-replicating');
    await finish(
      sim,
      await sim.provider.startReplication({
        idempotencyKey: uniqueKey('r'),
        sourceHostId: 'rep-p',
        targetHostId: 'rep-s',
      }),
    );
    await sim.control.advance(60);
    const streaming = await sim.provider.verifyReplication({ sourceHostId: 'rep-p', targetHostId: 'rep-s' });
    expect(streaming.state).toBe('streaming');
    expect(streaming.sourceVersion).toBeGreaterThan(600);
    // 10 writes/s × 2 s lag.
    expect(streaming.lagVersions).toBeGreaterThanOrEqual(19);
    expect(streaming.lagVersions).toBeLessThanOrEqual(21);
    expect(streaming.lagSeconds).toBeCloseTo(streaming.lagVersions / 10, 5);
    // Demoting the primary stops its writes; the replica catches up within the lag.
    await finish(
      sim,
      await sim.provider.setRole({ idempotencyKey: uniqueKey('role'), hostId: 'rep-p', role: 'shadow' }),
    );
    await sim.control.advance(5);
    const caughtUp = await sim.provider.verifyReplication({ sourceHostId: 'rep-p', targetHostId: 'rep-s' });
    expect(caughtUp).toMatchObject({ state: 'caught-up', lagVersions: 0 });
  });

  it('fences in ~1 s and decommissions an empty host', async () => {
    await provision('fence-1');
    const fence = await sim.provider.fenceHost({ idempotencyKey: uniqueKey('f'), hostId: 'fence-1' });
    expect(Date.parse(fence.expectedFinishAt) - Date.parse(fence.startedAt)).toBe(1_000);
    expect((await finish(sim, fence)).result?.status).toBe('fenced');
    expect(await sim.provider.healthCheck('fence-1')).toMatchObject({ healthy: false, status: 'fenced' });
    const gone = await finish(
      sim,
      await sim.provider.decommissionHost({ idempotencyKey: uniqueKey('d'), hostId: 'fence-1' }),
    );
    expect(gone.result?.status).toBe('decommissioned');
  });

  it('is idempotent: the same key and arguments return the first operation and act once', async () => {
    const key = uniqueKey('idem');
    const request = {
      idempotencyKey: key,
      hostId: 'idem-1',
      region: 'eu-west',
      zone: 'eu-west-b',
      capacity: SIZE,
      role: 'primary' as const,
    };
    const first = await sim.provider.provisionHost(request);
    const again = await sim.provider.provisionHost(request);
    expect(again.id).toBe(first.id);
    await finish(sim, first);
    const afterDone = await sim.provider.provisionHost(request);
    expect(afterDone).toMatchObject({ id: first.id, status: 'succeeded' });
    const fleet = await sim.provider.describeFleet();
    expect(fleet.hosts.filter((h) => h.id === 'idem-1')).toHaveLength(1);

    // Same key, other arguments: refused, naming both uses, and nothing changes.
    const before = await fleetState();
    const conflict = await expectProviderError(
      sim.provider.provisionHost({ ...request, zone: 'eu-west-c' }),
      'idempotency_conflict',
      409,
    );
    expect(conflict.retryable).toBe(false);
    expect(conflict.message).toMatch(/idempotency key .* was first used for provisionHost/);
    expect(await fleetState()).toEqual(before);
  });

  it('answers a batched health check per host, lists unknown ids apart, and records the gaps it saw', async () => {
    await provision('hc-1');
    await provision('hc-2');
    await sim.control.resetHealthCheckGaps();
    const first = await sim.provider.healthCheckMany(['hc-1', 'hc-2', 'hc-nobody']);
    expect(first.reports.map((r) => [r.hostId, r.healthy, r.status])).toEqual([
      ['hc-1', true, 'active'],
      ['hc-2', true, 'active'],
    ]);
    expect(first.unknown).toEqual(['hc-nobody']);
    await sim.control.failHost('hc-2');
    await new Promise((r) => setTimeout(r, 50));
    const second = await sim.provider.healthCheckMany(['hc-1', 'hc-2']);
    expect(second.reports.find((r) => r.hostId === 'hc-2')).toMatchObject({ healthy: false, status: 'failed' });
    const gaps = await sim.control.healthCheckGaps();
    expect(gaps).toMatchObject({ hostsChecked: 2, checks: 4, gapsMs: { count: 2 } });
    expect(gaps.gapsMs.max).toBeGreaterThanOrEqual(50);
    expect(Object.keys(gaps.failingSince)).toEqual(['hc-2']);
    await sim.control.recoverHost('hc-2');
    await sim.provider.healthCheckMany(['hc-2']);
    expect((await sim.control.healthCheckGaps()).failingSince).toEqual({});
  });

  it('refuses a malformed batched health check, naming the field', async () => {
    const bad = (body: unknown) => sim.provider.request('POST', '/v1/health-checks', body);
    expect((await expectProviderError(bad({ hostIds: [] }), 'bad_request', 400)).message).toMatch(
      /hostIds must name at least one host/,
    );
    expect((await expectProviderError(bad({ hostIds: ['ok', 'no spaces'] }), 'bad_request')).message).toMatch(
      /hostIds\[\] must be 1-100 letters/,
    );
    const tooMany = Array.from({ length: 5_001 }, (_, i) => `h-${i}`);
    expect((await expectProviderError(bad({ hostIds: tooMany }), 'bad_request')).message).toMatch(
      /at most 5000 hosts per call/,
    );
    expect((await expectProviderError(bad({ hosts: ['a'] }), 'bad_request')).message).toMatch(/hostIds|hosts/);
  });

  it('refuses bad input with a status that says whose fault it is, and changes nothing', async () => {
    await provision('bad-1');
    await provision('bad-small', { capacity: { cpuCores: 2, memoryGiB: 4, storageIops: 1000, networkMbps: 100 } });
    await sim.control.createWorkload({
      workloadId: 'bad-w',
      hostId: 'bad-1',
      requirements: { cpuCores: 4, memoryGiB: 16, storageIops: 1000, networkMbps: 100 },
      demand: { kind: 'synthetic', base: 0.4 },
    });
    const before = await fleetState();
    const key = () => uniqueKey('bad');

    const unknownHost = await expectProviderError(
      sim.provider.fenceHost({ idempotencyKey: key(), hostId: 'no-such-host' }),
      'not_found',
      404,
    );
    expect(unknownHost.message).toMatch(/host "no-such-host" does not exist/);
    await expectProviderError(sim.provider.healthCheck('no-such-host'), 'not_found', 404);
    const unknownWorkload = await expectProviderError(
      sim.provider.migrateWorkload({
        idempotencyKey: key(),
        workloadId: 'nope',
        sourceHostId: 'bad-1',
        targetHostId: 'bad-small',
      }),
      'not_found',
      404,
    );
    expect(unknownWorkload.message).toMatch(/workload "nope" does not exist/);

    const impossible = await expectProviderError(
      sim.provider.provisionHost({
        idempotencyKey: key(),
        region: 'eu-west',
        zone: 'eu-west-a',
        capacity: { cpuCores: 0, memoryGiB: 100_000, storageIops: 1000, networkMbps: 100 },
        role: 'primary',
      }),
      'bad_request',
      400,
    );
    expect(impossible.message).toMatch(/capacity.cpuCores: cpuCores must be at least 1/);
    expect(impossible.message).toMatch(/capacity.memoryGiB: memoryGiB must be at most 24576/);
    expect(impossible.retryable).toBe(false);
    await expectProviderError(
      sim.provider.resizeHost({ idempotencyKey: key(), hostId: 'bad-1', allocationFraction: 1.5 }),
      'bad_request',
      400,
    );

    const noRoom = await expectProviderError(
      sim.provider.migrateWorkload({
        idempotencyKey: key(),
        workloadId: 'bad-w',
        sourceHostId: 'bad-1',
        targetHostId: 'bad-small',
      }),
      'insufficient_capacity',
      409,
    );
    expect(noRoom.message).toMatch(
      /no room on host bad-small: workload bad-w needs 4 cores \(cpuCores\), host bad-small has 2 of 2 free/,
    );
    const wrongSource = await expectProviderError(
      sim.provider.migrateWorkload({
        idempotencyKey: key(),
        workloadId: 'bad-w',
        sourceHostId: 'bad-small',
        targetHostId: 'bad-1',
      }),
      'conflict',
      409,
    );
    expect(wrongSource.message).toMatch(/runs on host bad-1, not on bad-small/);
    const shrinkUnderWorkload = await expectProviderError(
      sim.provider.resizeHost({ idempotencyKey: key(), hostId: 'bad-1', allocationFraction: 0.1 }),
      'insufficient_capacity',
      409,
    );
    expect(shrinkUnderWorkload.message).toMatch(/cannot resize host bad-1/);
    const notShadow = await expectProviderError(
      sim.provider.activateShadow({ idempotencyKey: key(), hostId: 'bad-1' }),
      'conflict',
      409,
    );
    expect(notShadow.message).toMatch(/is a primary, not a shadow/);
    const holdsWorkloads = await expectProviderError(
      sim.provider.decommissionHost({ idempotencyKey: key(), hostId: 'bad-1' }),
      'conflict',
      409,
    );
    expect(holdsWorkloads.message).toMatch(/still holds workloads \(bad-w\)/);

    // Raw HTTP: malformed JSON, unknown fields, unknown endpoints, wrong methods.
    const post = (path: string, body: string) =>
      fetch(`${sim.url}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    const malformed = await post('/v1/hosts', '{"idempotencyKey": "x", ');
    expect(malformed.status).toBe(400);
    const malformedError = ((await malformed.json()) as { error: { code: string; message: string } }).error;
    expect(malformedError.code).toBe('bad_request');
    expect(malformedError.message).toMatch(/request body is not valid JSON/);
    const unknownField = await post('/v1/hosts/bad-1/fence', JSON.stringify({ idempotencyKey: 'k', force: true }));
    expect(unknownField.status).toBe(400);
    expect(((await unknownField.json()) as { error: { message: string } }).error.message).toMatch(
      /unknown field\(s\) force/,
    );
    const missingKey = await post('/v1/hosts/bad-1/fence', '{}');
    expect(missingKey.status).toBe(400);
    expect(((await missingKey.json()) as { error: { message: string } }).error.message).toMatch(/idempotencyKey/);
    expect((await fetch(`${sim.url}/v1/nothing-here`)).status).toBe(404);
    expect((await fetch(`${sim.url}/v1/hosts`, { method: 'DELETE' })).status).toBe(405);

    expect(await fleetState()).toEqual(before);
  });

  it('reports a request the provider cannot answer in time as a retryable timeout', async () => {
    await sim.control.setApiFaults({ apiLatencyMs: 500 });
    try {
      const { HttpFleetProvider } = await import('../src/provider/client.js');
      const impatient = new HttpFleetProvider({ url: sim.url, requestTimeoutMs: 100 });
      const timeout = await expectProviderError(impatient.describeFleet(), 'timeout');
      expect(timeout.retryable).toBe(true);
      expect(timeout.message).toMatch(/no answer from the provider within 100 ms/);
    } finally {
      await sim.control.setApiFaults({ apiLatencyMs: 0 });
    }
  });
});
