import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../src/stack/index.js';
import { failoverUpdate, forceSwapSignal, pairWorkflowId } from '../src/shared/pair.js';
import { createPairFixture, isObserved, type PairFixture } from './helpers/pair.js';
import { expectUpdateRejected } from './helpers/temporal.js';

const run = promisify(execFile);

// A pair on the real dev server, the real simulator process and the real InfluxDB: the primary dies, the pair
// fences it, activates the shadow, restores the workloads there and records the data lost.
describe('hostPairWorkflow: automatic failover', () => {
  let f: PairFixture;
  beforeAll(async () => {
    f = await createPairFixture('failover');
    await f.startWorker();
    await f.startPair();
  });
  afterAll(async () => {
    await f?.close();
  });

  it('starts steady, with the shadow on standby', async () => {
    const state = await f.waitForState((s) => isObserved(s) && s.health.watch !== undefined, 'observed and watched');
    expect(state.phase).toBe('steady');
    expect(state.primary.hostId).toBe(f.primary.hostId);
    expect(state.shadow?.hostId).toBe(f.shadow.hostId);
    // Enrolled with both lanes of its shard's watchers, which check the primary (not the pair itself).
    expect(state.health.watch).toMatchObject({ primaryHostId: f.primary.hostId, generation: 0 });
    expect(state.health.watchers).toHaveLength(2);
  });

  it('is steered from the understudy CLI: status, pause, resume, and a clear refusal for an unknown pair', async () => {
    const cli = (...args: string[]) =>
      run(join(PROJECT_ROOT, 'bin', 'understudy'), args, { env: { PATH: process.env.PATH } });
    const status = JSON.parse((await cli('status', f.pairId)).stdout) as { pairId: string; phase: string };
    expect(status).toMatchObject({ pairId: f.pairId, phase: 'steady' });
    expect((await cli('pause', f.pairId, '--reason', 'cli test')).stdout).toContain(
      `paused pair ${f.pairId} (failover stays on)`,
    );
    await f.waitForState((s) => s.paused && s.failoverEnabled, 'paused from the CLI');
    await cli('resume', f.pairId);
    await f.waitForState((s) => !s.paused, 'resumed from the CLI');
    const unknown = await cli('failover', 'no-such-pair', '--reason', 'x').catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(unknown).toMatchObject({ code: 1 });
    expect((unknown as { stderr: string }).stderr).toMatch(
      /no running pair "no-such-pair" \(workflow pair:no-such-pair not found\)/,
    );
    const noReason = await cli('failover', f.pairId).catch((e: { code: number; stderr: string }) => e);
    expect((noReason as { stderr: string }).stderr).toContain('failover needs --reason');
  });

  it('refuses a failover update without a reason, leaving the pair untouched', async () => {
    const handle = f.client.workflow.getHandle(pairWorkflowId(f.pairId));
    await expectUpdateRejected(
      handle.executeUpdate(failoverUpdate, { args: [{ reason: '  ' }] }),
      /failover needs a non-empty "reason" string/,
    );
    expect((await f.state()).primary.hostId).toBe(f.primary.hostId);
  });

  it('fails over after consecutive failed health checks: fence first, then the shadow takes the workloads', async () => {
    await f.sim.control.failHost(f.primary.hostId);
    const state = await f.waitForState(
      (s) => s.counters.failovers === 1 && s.phase === 'unprotected',
      'a completed failover',
    );
    expect(state.primary.hostId).toBe(f.shadow.hostId);
    expect(state.shadow).toBeUndefined();
    expect(state.lastAction).toMatchObject({ kind: 'failover', outcome: 'succeeded' });

    const fleet = await f.sim.provider.describeFleet();
    const oldPrimary = fleet.hosts.find((h) => h.id === f.primary.hostId)!;
    const newPrimary = fleet.hosts.find((h) => h.id === f.shadow.hostId)!;
    expect(oldPrimary.status).toBe('fenced');
    expect(newPrimary).toMatchObject({ role: 'primary', status: 'active', allocationFraction: 1 });
    for (const id of f.workloadIds) expect(fleet.workloads.find((w) => w.id === id)?.hostId).toBe(f.shadow.hostId);

    const invariants = await f.sim.provider.invariants();
    expect(invariants.violations).toEqual([]);
    expect(invariants.dataLoss).toHaveLength(1);
    expect(invariants.dataLoss[0]).toMatchObject({ failedHostId: f.primary.hostId, promotedHostId: f.shadow.hostId });
  });

  it('refuses a failover update once the shadow is consumed, naming the phase', async () => {
    const handle = f.client.workflow.getHandle(pairWorkflowId(f.pairId));
    await expectUpdateRejected(
      handle.executeUpdate(failoverUpdate, { args: [{ reason: 'again' }] }),
      new RegExp(`pair ${f.pairId} has no shadow to fail over to \\(phase unprotected\\)`),
    );
  });

  it('the fenced primary coming back does not serve again', async () => {
    await f.sim.control.recoverHost(f.primary.hostId).catch(() => undefined);
    const host = await f.sim.provider.getHost(f.primary.hostId);
    expect(host.status).toBe('fenced');
    const health = await f.sim.provider.healthCheck(f.primary.hostId);
    expect(health.healthy).toBe(false);
    expect((await f.sim.provider.invariants()).violations).toEqual([]);
  });
});

describe('hostPairWorkflow: a swap that fails mid-way is rolled back', () => {
  let f: PairFixture;
  beforeAll(async () => {
    f = await createPairFixture('rollback');
    await f.startWorker();
    await f.startPair();
    await f.waitForState(isObserved, 'observed');
  });
  afterAll(async () => {
    await f?.close();
  });

  it('moves the workloads back and returns the shadow to standby, roles unchanged', async () => {
    // The shadow loses capacity after the pre-checks saw it whole: the second workload no longer fits there.
    await f.sim.control.degradeHost(f.shadow.hostId, { cpuCores: 6 });
    await f.client.workflow.getHandle(pairWorkflowId(f.pairId)).signal(forceSwapSignal, { reason: 'rollback drill' });
    const state = await f.waitForState((s) => s.lastAction?.kind === 'swap' && s.phase === 'steady', 'the swap ended');
    expect(state.lastAction).toMatchObject({ kind: 'swap', outcome: 'rolled-back' });
    expect(state.primary.hostId).toBe(f.primary.hostId);
    expect(state.shadow?.hostId).toBe(f.shadow.hostId);
    expect(state.counters.swaps).toBe(0);

    const fleet = await f.sim.provider.describeFleet();
    expect(fleet.hosts.find((h) => h.id === f.primary.hostId)).toMatchObject({ role: 'primary', status: 'active' });
    expect(fleet.hosts.find((h) => h.id === f.shadow.hostId)).toMatchObject({ role: 'shadow', status: 'inactive' });
    for (const id of f.workloadIds) expect(fleet.workloads.find((w) => w.id === id)?.hostId).toBe(f.primary.hostId);
    expect((await f.sim.provider.invariants()).violations).toEqual([]);
  });
});
