import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIZE, startTestSimulator, type TestSimulator } from './helpers/simulator.js';

// observePair asks for its own two hosts only: the filtered fleet view must hold exactly those hosts and the
// workloads on them, from a real simulator process over HTTP.
describe('simulator: the fleet view of some hosts', () => {
  let sim: TestSimulator;
  let hostIds: string[];
  beforeAll(async () => {
    sim = await startTestSimulator();
    ({ hostIds } = await sim.control.seed({
      prefix: 'filter',
      count: 5,
      regions: ['us-east', 'eu-west'],
      capacity: SIZE,
      workload: {
        requirements: { cpuCores: 2, memoryGiB: 4, storageIops: 100, networkMbps: 100 },
        demand: { kind: 'synthetic', base: 0.3, seed: 1 },
      },
    }));
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('returns only the hosts asked for and the workloads on them, leaving unknown ids out', async () => {
    const wanted = [hostIds[1]!, hostIds[3]!];
    const view = await sim.provider.describeFleet({ hostIds: [...wanted, 'no-such-host'] });
    expect(view.hosts.map((h) => h.id)).toEqual(wanted);
    expect(view.workloads.map((w) => w.hostId).sort()).toEqual([...wanted].sort());
    expect(Date.parse(view.now)).toBeGreaterThan(0);
  });

  it('returns the whole fleet without a filter', async () => {
    const view = await sim.provider.describeFleet();
    expect(view.hosts).toHaveLength(5);
    expect(view.workloads).toHaveLength(5);
  });
});
