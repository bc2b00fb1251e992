// The fleet's drift correction copies the serving primary's configuration onto its standby. Its record of which host
// is which can predate an off-peak swap; the provider's roles decide, so a change made on the live primary is never
// overwritten with the standby's older configuration.
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { createOrchestrationActivities } from '../activities/orchestration.js';
import type { MetricsStore } from '../src/metrics/types.js';
import type { Forecaster } from '../src/forecast/types.js';
import type { FleetProvider, Host, SyncConfigurationRequest } from '../src/provider/types.js';

const host = (id: string, role: Host['role'], image: string): Host => ({
  id,
  region: 'eu-west',
  zone: 'eu-west-a',
  capacity: { cpuCores: 16, memoryGiB: 64, storageIops: 8_000, networkMbps: 10_000 },
  allocationFraction: role === 'primary' ? 1 : 0.15,
  role,
  status: role === 'primary' ? 'active' : 'inactive',
  workloadIds: [],
  dataVersion: 1,
  createdAt: '2026-11-28T00:00:00.000Z',
  updatedAt: '2026-11-28T00:00:00.000Z',
  appliedConfiguration: { values: { image }, hash: `hash-${image}`, appliedAt: '2026-11-28T00:00:00.000Z' },
});

function activitiesOver(hosts: Host[]) {
  const synced: SyncConfigurationRequest[] = [];
  const provider = {
    getHost: (id: string) => Promise.resolve(hosts.find((h) => h.id === id)!),
    syncConfiguration: (request: SyncConfigurationRequest) => {
      synced.push(request);
      const operation = { id: 'op-1', kind: 'syncConfiguration', status: 'succeeded', result: {} };
      return Promise.resolve(operation);
    },
    waitForOperation: (op: unknown) => Promise.resolve(op),
  } as unknown as FleetProvider;
  const activities = createOrchestrationActivities({
    provider,
    metrics: {} as MetricsStore,
    forecaster: {} as Forecaster,
  });
  // The sync runs as an activity (it heartbeats its operation): inside a mock activity context.
  const sync = (input: Parameters<typeof activities.syncShadowConfiguration>[0]) =>
    new MockActivityEnvironment().run((i: typeof input) => activities.syncShadowConfiguration(i), input);
  return { sync, synced };
}

describe('syncShadowConfiguration', () => {
  it("copies the recorded primary's configuration onto the recorded shadow when the roles are as recorded", async () => {
    const { sync, synced } = activitiesOver([host('a', 'primary', 'app:2'), host('b', 'shadow', 'app:1')]);
    const result = await sync({
      primaryHostId: 'a',
      shadowHostId: 'b',
      idempotencyKey: 'k',
    });
    expect(result).toEqual({ drifted: true, hash: 'hash-app:2' });
    expect(synced.map((r) => [r.hostId, r.desired])).toEqual([['b', { image: 'app:2' }]]);
  });

  it('copies from the host that serves when the record predates a swap', async () => {
    // Recorded: a primary, b shadow. Since then the pair swapped, and the operator changed the serving host b.
    const { sync, synced } = activitiesOver([host('a', 'shadow', 'app:1'), host('b', 'primary', 'app:2')]);
    const result = await sync({
      primaryHostId: 'a',
      shadowHostId: 'b',
      idempotencyKey: 'k',
    });
    expect(result).toEqual({ drifted: true, hash: 'hash-app:2' });
    expect(synced.map((r) => [r.hostId, r.desired])).toEqual([['a', { image: 'app:2' }]]);
  });

  it('changes nothing when both already run the same configuration', async () => {
    const { sync, synced } = activitiesOver([host('a', 'shadow', 'app:2'), host('b', 'primary', 'app:2')]);
    expect(await sync({ primaryHostId: 'a', shadowHostId: 'b', idempotencyKey: 'k' })).toEqual({
      drifted: false,
      hash: 'hash-app:2',
    });
    expect(synced).toEqual([]);
  });
});
