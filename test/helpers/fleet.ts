/** A fleet of primaries on a real simulator, for `fleetWorkflow` tests: regions, hosts, workloads, a worker. */
import { randomUUID } from 'node:crypto';
import { threeRegionTopology as threeRegions } from '../../src/demo/topology.js';
import type { Topology } from '../../src/policy/types.js';
import { HOST_SIZE } from './pair.js';
import type { TestSimulator } from './simulator.js';

/**
 * `perRegion` primaries in each of three regions, ids unique to this test (`us-<tag>-1`…), and room for
 * `shadowHostsPerRegion` hosts' worth of shadows in each region (one more than the primaries unless told).
 */
export function threeRegionTopology(
  perRegion: number,
  tag = randomUUID().slice(0, 4),
  shadowHostsPerRegion = perRegion + 1,
): Topology {
  return threeRegions({
    perRegion,
    hostCapacity: HOST_SIZE,
    shadowHostsPerRegion,
    hostId: (region, n) => `${region.split('-')[0]}-${tag}-${n}`,
  });
}

/** Creates the topology's primaries in the simulator (active, configured) with one workload each. */
export async function createPrimaries(sim: TestSimulator, topology: Topology): Promise<void> {
  await Promise.all(
    topology.primaries.map(async (p) => {
      await sim.provider.waitForOperation(
        await sim.provider.provisionHost({
          hostId: p.hostId,
          region: p.region,
          zone: p.zone,
          capacity: p.capacity,
          role: 'primary',
          idempotencyKey: `create:${p.hostId}`,
        }),
      );
      await sim.provider.waitForOperation(
        await sim.provider.syncConfiguration({
          hostId: p.hostId,
          desired: { image: 'app:1.0' },
          idempotencyKey: `cfg:${p.hostId}`,
        }),
      );
      await sim.control.createWorkload({
        workloadId: `w-${p.hostId}`,
        hostId: p.hostId,
        requirements: { cpuCores: 4, memoryGiB: 8, storageIops: 1_000, networkMbps: 500 },
        demand: { kind: 'synthetic', base: 0.5, noise: 0.02, seed: 7 },
      });
    }),
  );
}
