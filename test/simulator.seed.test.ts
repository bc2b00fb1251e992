import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finish, SIZE, startTestSimulator, uniqueKey, type TestSimulator } from './helpers/simulator.js';

// Benchmarks seed thousands of pairs at once: their shadows must be real shadows, inactive at their standby size,
// so a failover can activate them; a seed that mixes up roles is refused by field.
describe('simulator: seeding shadows', () => {
  let sim: TestSimulator;
  beforeAll(async () => {
    sim = await startTestSimulator();
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('seeds inactive shadows at their standby size, which a failover can activate', async () => {
    const { hostIds } = await sim.control.seed({
      prefix: 'seeded-shadow',
      count: 2,
      regions: ['eu-west'],
      capacity: SIZE,
      role: 'shadow',
      allocationFraction: 0.15,
    });
    const view = await sim.provider.describeFleet({ hostIds });
    expect(view.hosts.map((h) => [h.role, h.status, h.allocationFraction])).toEqual([
      ['shadow', 'inactive', 0.15],
      ['shadow', 'inactive', 0.15],
    ]);
    const activated = await finish(
      sim,
      await sim.provider.activateShadow({ hostId: hostIds[0]!, allocationFraction: 1, idempotencyKey: uniqueKey('a') }),
    );
    expect(activated.status).toBe('succeeded');
  });

  it('refuses a standby size for primaries and a workload on a shadow, naming the field', async () => {
    const base = { count: 1, regions: ['us-east'], capacity: SIZE };
    await expect(sim.control.seed({ ...base, prefix: 'bad-fraction', allocationFraction: 0.2 })).rejects.toThrow(
      'allocationFraction: allocationFraction applies to shadows only (role: shadow)',
    );
    await expect(
      sim.control.seed({
        ...base,
        prefix: 'bad-workload',
        role: 'shadow',
        workload: {
          requirements: { cpuCores: 1, memoryGiB: 1, storageIops: 10, networkMbps: 10 },
          demand: { kind: 'synthetic', base: 0.2 },
        },
      }),
    ).rejects.toThrow('workload: a shadow is seeded without a workload');
    expect((await sim.provider.describeFleet()).hosts.map((h) => h.id)).not.toContain('bad-fraction-0');
  });
});
